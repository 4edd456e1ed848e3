"""The Evaluator: scores one checkout of the project, dimension by dimension.

The project's score is a function of its tree (and its own configuration) alone: the same
tree scores the same before and after any number of experiments. The dimensions run
concurrently, each a real tool under its own time limit, and their results are cached by the
git tree hash plus a hash of the settings that change what the tools measure: scoring an
unchanged tree again runs no tool at all. Guards and weights are applied on top, every time.
What the factory's own work looks like (diversity, grounding, effectiveness) is reported
apart, by `factory_scorecard`, and never enters the project's score or a verdict.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from factory_tui.engine.config import EvalConfig, MetricConfig
from factory_tui.engine.models import Check, DimensionScore, Scorecard, Tier, TreeEvidence
from factory_tui.engine.registry import factory_home
from factory_tui.engine.sandbox import Jail, Sandbox, View
from factory_tui.engine.store import write_atomic

from . import growth, hygiene, project_metrics, tools
from .code_scan import CodeScan, scan_code
from .composite import combine
from .detect import detect
from .hygiene import Checkout

OnLine = Callable[[str], None]
CACHE_VERSION = "4"


def measurement_key(tree: str, tests_tree: str | None = None) -> str:
    """What a measurement is cached under: the tree, and the tree its tests ran in when
    that differs (an experiment's code under the base's tests). An experiment that left the
    base's tests alone ran them in its own tree: the same measurement as a baseline of that
    tree, which the next cycle (or the next experiment's replay) then finds measured."""
    return tree if tests_tree is None or tests_tree == tree else f"{tree}-tests-{tests_tree}"


def lint_score(problems: int, lines: int) -> float:
    """The lint dimension's mapping, for estimates made outside the eval."""
    return hygiene.per_kloc_score(problems, lines)


@dataclass
class EvalRequest:
    """What an evaluation is told beyond the checkout: an experiment's guards, and the
    base's scorecard for the test-count guard. Neither changes the measured dimensions."""

    guards: list[Check] = field(default_factory=list)
    baseline: Scorecard | None = None


class TreeMeasurement(BaseModel):
    """What the tools said about one tree: the cached part of a scorecard."""

    dimensions: list[DimensionScore]
    capability: dict[str, int]
    evidence: TreeEvidence = Field(default_factory=TreeEvidence)
    elapsed: float


class SignedEntry(BaseModel):
    """A cache entry as stored: the measurement and the engine's signature of it."""

    mac: str
    measurement: str


@functools.cache
def _cache_key() -> bytes:
    """The key the engine signs its cache with, kept in the user's factory home (outside
    every project, and out of every sandbox), made on first use."""
    path = factory_home() / "cache.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        key = secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key.hex())
        return key


def _mac(name: str, payload: str) -> str:
    """Bound to the entry's name (tree and settings): it cannot be copied to another."""
    return hmac.new(_cache_key(), f"{name}\n{payload}".encode(), hashlib.sha256).hexdigest()


class NoiseBook:
    """Whether each measured metric varies between runs of the same tree, learnt from the
    base's repeats and kept in `.factory/noise.json` (per metric and command)."""

    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / "noise.json" if state_dir is not None else None
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path is not None:
            try:
                self.entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.entries = {}

    def noisy(self, name: str, metric: MetricConfig) -> bool | None:
        entry = self.entries.get(name)
        if not isinstance(entry, dict) or entry.get("command") != metric.command:
            return None
        return bool(entry.get("noisy"))

    def learn(self, name: str, metric: MetricConfig, samples: list[float]) -> None:
        if len(samples) < 2 or self.noisy(name, metric) is not None:
            return
        spread = max(samples) - min(samples)
        self.entries[name] = {
            "command": metric.command,
            "noisy": spread > 1e-12 * max(1.0, abs(samples[0])),
            "samples": samples,
        }
        if self.path is not None:
            write_atomic(self.path, json.dumps(self.entries, indent=2))


class Evaluator:
    """Scores checkouts; one per run, sharing its cache across experiments and runs."""

    def __init__(
        self,
        config: EvalConfig,
        state_dir: Path | None,
        python: str,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.python = python
        self.sandbox = sandbox
        self.noise = NoiseBook(state_dir)
        # What the last measurement of each tree found, for the offline Researcher.
        self.evidence: dict[str, TreeEvidence] = {}
        # Why a metric failed on the last tree measured, told to the user only.
        self.metric_problems: dict[str, str] = {}

    # -- cache -------------------------------------------------------------------------------
    @property
    def config_hash(self) -> str:
        """Only the settings that change what the tools measure: weights are applied later."""
        measured = self.config.model_dump(
            include={"test_command", "timeout", "metrics", "lint", "test_env"}
        )
        payload = CACHE_VERSION + json.dumps(measured, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _cache_path(self, tree: str) -> Path | None:
        if self.state_dir is None:
            return None
        return self.state_dir / "cache" / "eval" / f"{tree}-{self.config_hash}.json"

    def cached(self, tree: str) -> TreeMeasurement | None:
        """The measurement the engine stored for `tree` under these settings; an entry it
        did not sign (written by anything else) is no measurement."""
        path = self._cache_path(tree)
        if path is None or not path.exists():
            return None
        try:
            entry = SignedEntry.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None
        if not hmac.compare_digest(entry.mac, _mac(path.name, entry.measurement)):
            return None
        try:
            return TreeMeasurement.model_validate_json(entry.measurement)
        except ValidationError:
            return None

    def _store(self, tree: str, measurement: TreeMeasurement) -> None:
        path = self._cache_path(tree)
        if path is None:
            return
        payload = measurement.model_dump_json()
        entry = SignedEntry(mac=_mac(path.name, payload), measurement=payload)
        write_atomic(path, entry.model_dump_json())

    # -- evaluating --------------------------------------------------------------------------
    async def evaluate(
        self,
        root: Path,
        tree: str,
        on_line: OnLine = tools.quiet,
        request: EvalRequest | None = None,
        tests: tuple[Path, str] | None = None,
    ) -> Scorecard:
        """Score the checkout `root` of `tree`. `tests` is (a checkout, its tree) to run the
        tests in instead: an experiment's code with the base's tests over it."""
        request = request or EvalRequest()
        started = time.monotonic()
        key = measurement_key(tree, tests[1] if tests else None)
        measurement = self.cached(key)
        cached = measurement is not None
        problems: dict[str, str] = {}  # this evaluation's own: several may run at once
        if measurement is None:
            measurement = await self.measure(root, on_line, tests[0] if tests else None, problems)
            # A failed metric is measured again next time: the failure may pass.
            if not problems:
                self._store(key, measurement)
        else:
            on_line(f"tree {tree[:10]} was measured before: no tool runs")
        self.metric_problems = problems
        self.evidence[tree] = measurement.evidence
        card = self.assemble(tree, measurement, request)
        card.cached, card.elapsed = cached, time.monotonic() - started
        for dimension in card.dimensions:
            score = "n/a" if dimension.score is None else f"{dimension.score:.3f}"
            on_line(f"{dimension.name:<13} {score:>5}  {dimension.reason}")
        on_line(
            "tiers: "
            + ", ".join(f"{t} {s:.4f}" for t, s in card.tiers.items())
            + f"; composite {card.composite:.4f}"
        )
        return card

    async def measure(
        self,
        root: Path,
        on_line: OnLine = tools.quiet,
        tests_root: Path | None = None,
        problems: dict[str, str] | None = None,
    ) -> TreeMeasurement:
        """Run every tree dimension concurrently, each under its own time limit; the tests
        (and coverage) in `tests_root` when given. A metric that fails says why in
        `problems`."""
        problems = {} if problems is None else problems
        started = time.monotonic()
        config = self.config
        checkout = Checkout(
            root=root,
            python=self.python,
            kind=detect(root, config.test_command),
            config=config,
            on_line=on_line,
            state_dir=self.state_dir,
            jail=self._jail(root),
        )
        testing = (
            replace(checkout, root=tests_root, jail=self._jail(tests_root))
            if tests_root is not None
            else checkout
        )
        on_line(f"project: {checkout.kind.language} ({checkout.kind.reason})")
        scan = asyncio.create_task(asyncio.to_thread(scan_code, root))
        jobs: list[
            tuple[list[str], Tier, float, Awaitable[DimensionScore | list[DimensionScore]]]
        ] = [
            (
                ["tests", "coverage"],
                "hygiene",
                config.timeout,
                hygiene.tests_and_coverage(testing),
            ),
            (["lint"], "hygiene", config.timeout, hygiene.lint(checkout, scan)),
            (
                ["types"],
                "hygiene",
                config.timeout,
                _after(scan, functools.partial(hygiene.types, checkout)),
            ),
            (
                ["config"],
                "hygiene",
                config.timeout,
                asyncio.to_thread(hygiene.config_files, checkout),
            ),
            (["observability"], "growth", config.timeout, _after(scan, growth.observability)),
        ]
        for name, metric in config.metrics.items():
            repeats = metric.repeats or project_metrics.NOISY_REPEATS
            jobs.append(
                (
                    [name],
                    "project",
                    metric.timeout * repeats,
                    self._metric(name, metric, root, on_line, problems),
                )
            )
        results = await asyncio.gather(*(_limited(*job) for job in jobs))
        counts = (await scan).capability
        dimensions = [d for result in results for d in result]
        return TreeMeasurement(
            dimensions=dimensions,
            capability=counts,
            evidence=checkout.evidence,
            elapsed=time.monotonic() - started,
        )

    def _jail(self, root: Path) -> Jail | None:
        """The sandbox the project's code runs in while measured: no network, the checkout
        writable, the user's project hidden but for its git metadata (a version from git
        tags) and the interpreter's environment."""
        if self.sandbox is None or not self.sandbox.enabled:
            return None
        project = self.state_dir.parent if self.state_dir is not None else root
        python_env = Path(self.python).parent.parent
        view = View(
            writable=(root,),
            readable=(project / ".git", python_env),
            hidden=(project,),
            network=False,
        )
        return Jail(self.sandbox, view)

    async def _metric(
        self, name: str, metric: MetricConfig, root: Path, on_line: OnLine, problems: dict[str, str]
    ) -> DimensionScore:
        run = await project_metrics.measure(
            name, metric, root, on_line, self.noise.noisy(name, metric), self._jail(root)
        )
        if run.problem is not None:
            problems[name] = run.problem
        else:
            self.noise.learn(name, metric, run.score.samples)
        return run.score

    def assemble(self, tree: str, measurement: TreeMeasurement, request: EvalRequest) -> Scorecard:
        """The scorecard: measured dimensions plus guards, growth history and weights."""
        config = self.config
        measured = {d.name: d for d in measurement.dimensions}
        before_tests = request.baseline.dimension("tests") if request.baseline else None
        guards = [*request.guards]
        if request.baseline is not None:
            from .guards import guard_test_counts  # only when an experiment is compared

            guards.append(guard_test_counts(before_tests, measured.get("tests")))
        dimensions = [
            measured["tests"],
            measured["lint"],
            measured["types"],
            measured["coverage"],
            hygiene.guards_dimension(guards),
            measured["config"],
            growth.capability(measurement.capability, self._capability_baseline(measurement)),
            measured["observability"],
            *(measured[name] for name in config.metrics),
        ]
        dimensions = [d.model_copy(update={"weight": config.weight(d.name)}) for d in dimensions]
        tiers, shares, composite = combine(dimensions, config)
        return Scorecard(
            tree=tree,
            dimensions=dimensions,
            tiers=tiers,
            tier_weights=shares,
            composite=composite,
            elapsed=measurement.elapsed,
        )

    def _capability_baseline(self, measurement: TreeMeasurement) -> dict[str, int]:
        """The project's first measured capability, recorded once, so growth is relative."""
        if self.state_dir is None:
            return measurement.capability
        path = self.state_dir / "capability-baseline.json"
        try:
            baseline: dict[str, int] = json.loads(path.read_text())
            return baseline
        except (OSError, ValueError):
            write_atomic(path, json.dumps(measurement.capability))
            return measurement.capability


async def _after(
    scan: asyncio.Task[CodeScan],
    measure: Callable[[CodeScan], DimensionScore | Coroutine[Any, Any, DimensionScore]],
) -> DimensionScore:
    """`measure(scan)` once the shared code scan is done (sync or async)."""
    result = measure(await scan)
    return await result if asyncio.iscoroutine(result) else result


async def _limited(
    names: list[str],
    tier: Tier,
    timeout: float,
    job: Awaitable[DimensionScore | list[DimensionScore]],
) -> list[DimensionScore]:
    """A dimension under its time limit; a timeout scores 0 and says so, a missing tool
    makes the dimension not applicable."""
    try:
        result = await asyncio.wait_for(job, timeout)
    except TimeoutError:
        return [
            DimensionScore(
                name=name, tier=tier, score=0.0, reason=f"timed out after {timeout:.0f}s"
            )
            for name in names
        ]
    except FileNotFoundError as error:
        missing = Path(error.filename).name if error.filename else str(error)
        return [hygiene.not_applicable(name, tier, f"{missing} is not installed") for name in names]
    except Exception as error:  # a broken tool fails its dimension, not the evaluation
        return [
            hygiene.not_applicable(name, tier, f"not measured: {type(error).__name__}: {error}")
            for name in names
        ]
    return result if isinstance(result, list) else [result]
