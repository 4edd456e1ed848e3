"""The heart of a verdict: is the experiment's tree better than its base, dimension by
dimension, beyond each dimension's noise?

Counts are compared, never per-line ratios, so deleting or padding lines moves nothing.
Deterministic measures (violations, failing tests, type errors, covered statements, hygiene
files) have no noise: one fewer violation is a real improvement. A measured metric is
repeated; a change must beat the base by more than `z` standard errors and by the metric's
own `min_delta`, and is worse only when it falls beyond its noise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Literal

from factory_tui.engine.config import MetricConfig
from factory_tui.engine.models import DimensionScore, Scorecard

Change = Literal["better", "same", "worse"]


@dataclass(frozen=True)
class Comparison:
    """One dimension, base against experiment: which way it moved, and the numbers."""

    dimension: str
    change: Change
    detail: str


def _count(dimension: DimensionScore, key: str) -> int:
    value = dimension.raw.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _counts(name: str, measures: list[tuple[str, int, int]]) -> Comparison:
    """Lower is better for every measure: worse if any rose, better if one fell."""
    moved = [f"{label} {old} -> {new}" for label, old, new in measures if old != new]
    detail = "; ".join(moved) or "; ".join(f"{label} {old}" for label, old, _ in measures)
    if any(new > old for _, old, new in measures):
        return Comparison(name, "worse", detail)
    if any(new < old for _, old, new in measures):
        return Comparison(name, "better", detail)
    return Comparison(name, "same", detail)


def tests(before: DimensionScore, after: DimensionScore) -> Comparison:
    """Worse when any test fails that did not (by name: one fixed and another broken is
    not a wash), or fewer pass; better when a failing test passes."""
    if after.raw.get("timed_out") and not before.raw.get("timed_out"):
        return Comparison("tests", "worse", f"timed out ({after.reason})")
    old_failing = _count(before, "failed") + _count(before, "errors")
    new_failing = _count(after, "failed") + _count(after, "errors")
    old_passed, new_passed = _count(before, "passed"), _count(after, "passed")
    detail = f"failing {old_failing} -> {new_failing}, passing {old_passed} -> {new_passed}"
    broken = sorted(set(after.failing) - set(before.failing))
    fixed = sorted(set(before.failing) - set(after.failing))
    if broken:
        detail += "; now failing: " + ", ".join(broken[:3]) + (" ..." if len(broken) > 3 else "")
    if broken or new_failing > old_failing or new_passed < old_passed:
        return Comparison("tests", "worse", detail)
    if fixed:
        detail += "; fixed: " + ", ".join(fixed[:3]) + (" ..." if len(fixed) > 3 else "")
    if new_failing < old_failing:
        return Comparison("tests", "better", detail)
    return Comparison("tests", "same", detail)


def lint(before: DimensionScore, after: DimensionScore) -> Comparison:
    measures = [("violations", _count(before, "violations"), _count(after, "violations"))]
    # Formatting counts where the base uses a formatter: a change cannot opt out of it.
    if before.raw.get("formatter"):
        old, new = _count(before, "unformatted"), _count(after, "unformatted")
        measures.append(("unformatted files", old, new))
    return _counts("lint", measures)


def types(before: DimensionScore, after: DimensionScore) -> Comparison:
    return _counts("types", [("mypy errors", _count(before, "errors"), _count(after, "errors"))])


def coverage(before: DimensionScore, after: DimensionScore) -> Comparison:
    """Better when more statements run under the tests and none is newly left uncovered;
    worse when statements are left uncovered that were not. Deleting uncovered code or a
    covered import moves neither: the share would, the counts do not."""
    old_covered, new_covered = _count(before, "covered"), _count(after, "covered")
    old_missed, new_missed = _count(before, "missed"), _count(after, "missed")
    detail = (
        f"covered statements {old_covered} -> {new_covered}, uncovered {old_missed} -> {new_missed}"
    )
    if new_missed > old_missed:
        return Comparison("coverage", "worse", detail)
    if new_covered > old_covered:
        return Comparison("coverage", "better", detail)
    return Comparison("coverage", "same", detail)


def config(before: DimensionScore, after: DimensionScore) -> Comparison:
    old = sum(1 for value in before.raw.values() if value is True)
    new = sum(1 for value in after.raw.values() if value is True)
    missing = [label for label, value in after.raw.items() if value is False]
    detail = f"{old} -> {new} hygiene files present" if old != new else f"{new} present"
    if missing and new <= old:
        detail += f" (missing: {', '.join(missing)})"
    change: Change = "worse" if new < old else "better" if new > old else "same"
    return Comparison("config", change, detail)


def _samples(dimension: DimensionScore) -> list[float]:
    if dimension.samples:
        return list(dimension.samples)
    value = dimension.raw.get("value")
    return [float(value)] if isinstance(value, int | float) else []


def noise_floor(before: DimensionScore, after: DimensionScore, z: float) -> float:
    """`z` standard errors of the difference of two means, the spread taken from whichever
    side's repeats vary more (a change may make a metric noisier)."""
    old, new = _samples(before), _samples(after)
    if not old or not new:
        return 0.0
    spread = max(
        statistics.stdev(old) if len(old) > 1 else 0.0,
        statistics.stdev(new) if len(new) > 1 else 0.0,
    )
    return z * spread * math.sqrt(1 / len(old) + 1 / len(new))


def metric(
    name: str, before: DimensionScore, after: DimensionScore, config: MetricConfig, z: float
) -> Comparison:
    old_failed, new_failed = bool(before.raw.get("failed")), bool(after.raw.get("failed"))
    if old_failed or new_failed:
        if new_failed and not old_failed:
            return Comparison(name, "worse", f"the metric failed ({after.reason})")
        if old_failed and not new_failed:
            return Comparison(name, "better", "the metric runs again")
        return Comparison(name, "same", "the metric fails on both")
    old, new = statistics.fmean(_samples(before)), statistics.fmean(_samples(after))
    sign = 1.0 if config.direction == "higher" else -1.0
    gain = (new - old) * sign
    floor = noise_floor(before, after, z)
    needed = max(floor, config.min_delta)
    detail = f"{old:.6g} -> {new:.6g} ({config.direction} is better"
    detail += f"; noise floor {floor:.3g})" if floor else "; no noise)"
    if gain < -floor - 1e-12 * max(1.0, abs(old)):
        return Comparison(name, "worse", detail)
    if gain > needed and gain > 1e-12 * max(1.0, abs(old)):
        return Comparison(name, "better", detail)
    if gain > 0:
        detail += f"; a gain of {gain:.3g} needs more than {needed:.3g}"
    return Comparison(name, "same", detail)


RULES = {"tests": tests, "lint": lint, "types": types, "coverage": coverage, "config": config}


def compare(
    before: Scorecard, after: Scorecard, metrics: dict[str, MetricConfig], z: float
) -> list[Comparison]:
    """Every dimension a verdict weighs. A dimension measured on the base and not on the
    experiment is worse; one measured only on the experiment has nothing to compare with.
    Capability, observability and the guards do not weigh: the guards are checks of their
    own, and more code or more logging is not by itself a better project."""
    comparisons = []
    for name in (*RULES, *metrics):
        old, new = before.dimension(name), after.dimension(name)
        if old is None or new is None or old.score is None:
            continue
        if new.score is None:
            comparisons.append(Comparison(name, "worse", f"not measured: {new.reason}"))
        elif name in metrics:
            comparisons.append(metric(name, old, new, metrics[name], z))
        else:
            comparisons.append(RULES[name](old, new))
    return comparisons
