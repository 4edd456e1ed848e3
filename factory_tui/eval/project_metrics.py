"""Project dimensions: user-defined metrics from `[eval.metrics.<name>]` in the config."""

from __future__ import annotations

import json
import re
import shlex
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory_tui.engine.config import MetricConfig
from factory_tui.engine.models import DimensionScore, RawValue
from factory_tui.engine.sandbox import Jail

from . import tools
from .hygiene import OnLine

NOISY_REPEATS = 3  # runs of a metric known to vary, when the config does not say


class MetricError(ValueError):
    """The metric command's output did not hold a value."""


def read_value(metric: MetricConfig, output: str, returncode: int) -> float:
    if metric.parse == "exit_code":
        return 1.0 if returncode == 0 else 0.0
    if returncode != 0:
        raise MetricError(f"the command exited with status {returncode}")
    if metric.parse == "regex":
        assert metric.pattern is not None
        match = re.search(metric.pattern, output, re.MULTILINE)
        if match is None:
            raise MetricError(f"pattern {metric.pattern!r} not found in the output")
        return float(match.group(1) if match.groups() else match.group(0))
    data = _last_json(output)
    value: object = data
    for part in metric.key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise MetricError(f"key {metric.key!r} not in the JSON output")
        value = value[part]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MetricError(f"{metric.key!r} is not a number: {value!r}")
    return float(value)


def _last_json(output: str) -> dict[str, Any]:
    """The whole output as JSON, else its last line that is a JSON object."""
    for candidate in (output, *reversed(output.strip().splitlines())):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise MetricError("no JSON object in the output")


def normalise(metric: MetricConfig, value: float) -> float:
    """The raw value mapped to 0..1 through the bounds, in the metric's direction."""
    low = metric.min if metric.min is not None else 0.0
    high = metric.max if metric.max is not None else 1.0
    share = (value - low) / (high - low) if high > low else 0.0
    if metric.direction == "lower":
        share = 1.0 - share
    return min(1.0, max(0.0, share))


@dataclass
class MetricRun:
    """One metric measured on one tree: its score, and when it failed, what the command
    said on the way out (for the user only: it may quote the ground truth)."""

    score: DimensionScore
    problem: str | None = None


async def _run_once(
    name: str, metric: MetricConfig, root: Path, on_line: OnLine, jail: Jail | None
) -> tuple[float | None, str, str | None]:
    """(value, stdout, problem) of one run of the command."""
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        if metric.show_output:
            on_line(f"{name}: {line}")

    try:
        argv = shlex.split(metric.command)
    except ValueError as error:
        return None, "", f"bad command: {error}"
    result = await tools.run_jailed(
        argv, root, keep, jail, timeout=metric.timeout, merge_stderr=False
    )
    output = "\n".join(lines)
    if result.timed_out:
        return None, output, f"timed out after {metric.timeout:.0f}s"
    try:
        return read_value(metric, output, result.returncode), output, None
    except MetricError as error:
        tail = [line for line in result.stderr.strip().splitlines() if line.strip()][-5:]
        said = ("; stderr: " + " | ".join(tail)) if tail else ""
        return None, output, f"{error}{said}"


def _varies(samples: list[float]) -> bool:
    return len(samples) > 1 and max(samples) - min(samples) > 1e-12 * max(1.0, abs(samples[0]))


async def measure(
    name: str,
    metric: MetricConfig,
    root: Path,
    on_line: OnLine,
    noisy: bool | None = None,
    jail: Jail | None = None,
) -> MetricRun:
    """The metric on `root`, repeated as its noise asks: `metric.repeats` times when set;
    else once when it is known not to vary, three times when it is known to, and when
    nothing is known yet twice, then a third time if the two differ."""
    if metric.repeats is not None:
        planned = metric.repeats
    elif noisy is None:
        planned = 2
    else:
        planned = NOISY_REPEATS if noisy else 1
    samples: list[float] = []
    output = ""
    while len(samples) < planned:
        value, output, problem = await _run_once(name, metric, root, on_line, jail)
        if value is None:
            assert problem is not None
            return MetricRun(_failed(name, metric, problem.split("; stderr:")[0]), problem)
        samples.append(value)
        if metric.repeats is None and noisy is None and len(samples) == 2 and _varies(samples):
            planned = NOISY_REPEATS
    mean = statistics.fmean(samples)
    spread = statistics.stdev(samples) if len(samples) > 1 else 0.0
    better = "higher" if metric.direction == "higher" else "lower"
    raw: dict[str, RawValue] = {"value": mean, "sd": spread}
    if metric.parse == "json":
        categories = failure_categories(_last_json(output).get("failures"))
        if categories:
            raw["failures"] = json.dumps(categories)
    repeated = f", mean of {len(samples)} runs, sd {spread:.3g}" if len(samples) > 1 else ""
    return MetricRun(
        DimensionScore(
            name=name,
            tier="project",
            score=normalise(metric, mean),
            weight=metric.weight,
            raw=raw,
            samples=samples,
            reason=f"{mean:g} ({better} is better{repeated})",
        )
    )


def _failed(name: str, metric: MetricConfig, reason: str) -> DimensionScore:
    return DimensionScore(
        name=name,
        tier="project",
        score=0.0,
        weight=metric.weight,
        raw={"failed": True},
        reason=f"failed: {reason}",
    )


def failure_categories(failures: object) -> dict[str, int]:
    """Failing cases counted by kind, never by content: a case's category when it names
    one, else its short expected and predicted labels; inputs and long values stay out, so
    the counts can go to an agent without leaking the ground truth."""
    if not isinstance(failures, list):
        return {}
    counts: dict[str, int] = {}
    for case in failures:
        if not isinstance(case, dict):
            continue
        if isinstance(case.get("category"), str):
            kind = case["category"][:40]
        else:
            expected, got = case.get("expected"), case.get("got")
            short = all(isinstance(v, str) and len(v) <= 20 for v in (expected, got))
            kind = f"expected {expected}, got {got}" if short else "mismatch"
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def metric_paths(metrics: dict[str, MetricConfig], root: Path) -> set[str]:
    """Files the metric commands name (their scripts): experiments may not change them."""
    paths = set()
    for metric in metrics.values():
        try:
            parts = shlex.split(metric.command)
        except ValueError:
            continue
        for part in parts:
            candidate = root / part
            if not part.startswith("-") and candidate.is_file():
                paths.add(Path(part).as_posix())
    return paths
