"""The factory's scorecard: how well the factory works on a project, read from its history.

Diversity (kinds of change tried), grounding (hypotheses argued from findings or asked for),
effectiveness (keep rate and gain) and calibration (how often the Strategist's predicted
direction of each dimension's change came true) describe the factory, not the project: they
are shown in the dashboard, `factory status`, the Archivist's notes and the performance
reports, and never enter the project's score or a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from factory_tui.engine.models import DimensionScore, ExperimentOutline, Hypothesis

RECENT = 10
GROUNDED_SOURCES = {"backlog", "user", "focus"}
STILL = 1e-4  # a score change smaller than this is no change


class Outcome(NamedTuple):
    """What the scorecard needs of one experiment (a record, or a front end's view of it)."""

    hypothesis: Hypothesis
    status: str
    before: float | None
    after: float | None
    measured: dict[str, float] = {}  # each dimension's score change


# An experiment's prediction and outcome: the expected composite gain, the predicted change
# of each dimension, and each dimension's (and "composite") measured change.
Prediction = tuple[float, Mapping[str, float], Mapping[str, float]]


class Calibration(BaseModel):
    """The Strategist's predictions against what was measured, summed over experiments:
    for each predicted dimension (and the composite, its expected gain), whether the
    direction came true and how far off the size was."""

    model_config = ConfigDict(defer_build=True)  # built on first use: `status` starts faster

    experiments: int = 0
    predictions: int = 0
    direction_hits: int = 0
    abs_error: float = 0.0  # the sum of |predicted - measured|
    gain_predicted: float = 0.0  # the sums of the expected and the measured composite change
    gain_measured: float = 0.0

    @classmethod
    def of(cls, hypothesis: Hypothesis, measured: dict[str, float]) -> Calibration:
        """One experiment's; nothing when it predicted nothing or was not measured."""
        return cls.over([(hypothesis.expected_gain, hypothesis.predicted, measured)])

    @classmethod
    def over(cls, predictions: Iterable[Prediction]) -> Calibration:
        """Summed over experiments, each (expected gain, predicted change per dimension,
        measured change per dimension and "composite"), tallied in plain numbers: a report
        over ten thousand experiments builds one model, not one an experiment."""
        experiments = count = hits = 0
        error = gain_predicted = gain_measured = 0.0
        for gain, per_dimension, measured in predictions:
            if not per_dimension or not measured:
                continue
            predicted = {"composite": gain, **per_dimension}
            experiments += 1
            count += len(predicted)
            for name, change in predicted.items():
                happened = measured.get(name, 0.0)
                hits += _direction(change) == _direction(happened)
                error += abs(change - happened)
            gain_predicted += predicted["composite"]  # its own word on the composite, if any
            gain_measured += measured.get("composite", 0.0)
        return cls(
            experiments=experiments,
            predictions=count,
            direction_hits=hits,
            abs_error=error,
            gain_predicted=gain_predicted,
            gain_measured=gain_measured,
        )

    def __add__(self, other: Calibration) -> Calibration:
        return Calibration(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in Calibration.model_fields
            }
        )

    @property
    def hit_rate(self) -> float | None:
        return self.direction_hits / self.predictions if self.predictions else None

    @property
    def mean_abs_error(self) -> float | None:
        return self.abs_error / self.predictions if self.predictions else None

    def describe(self) -> str:
        if not self.predictions:
            return "no predictions compared yet"
        return (
            f"{self.direction_hits}/{self.predictions} predicted directions came true over "
            f"{self.experiments} experiment(s); mean error {self.mean_abs_error:.4f}; "
            f"composite predicted {self.gain_predicted:+.4f} in all, measured "
            f"{self.gain_measured:+.4f}"
        )


def _direction(change: float) -> int:
    return 0 if math.isclose(change, 0.0, abs_tol=STILL) else (1 if change > 0 else -1)


def factory_scorecard(
    history: Iterable[ExperimentOutline] | list[Outcome],
) -> list[DimensionScore]:
    """Each measure over the last RECENT finished experiments; n/a before there are any."""
    items = [
        h
        if isinstance(h, Outcome)
        else Outcome(h.hypothesis, h.status.value, h.before, h.after, h.measured)
        for h in history
    ]
    return [diversity(items), grounding(items), effectiveness(items), calibration(items)]


def _recent(history: list[Outcome]) -> list[Outcome]:
    return [e for e in history if e.status in ("kept", "reverted")][-RECENT:]


def _none_yet(name: str) -> DimensionScore:
    return DimensionScore(name=name, tier="factory", score=None, reason="no experiments yet")


def diversity(history: list[Outcome]) -> DimensionScore:
    categories = [e.hypothesis.category for e in _recent(history)]
    if not categories:
        return _none_yet("diversity")
    distinct = sorted(set(categories))
    return DimensionScore(
        name="diversity",
        tier="factory",
        score=min(1.0, len(distinct) / min(len(categories), 5)),
        raw={"distinct": len(distinct), "experiments": len(categories)},
        reason=f"{len(distinct)} kind(s) of change in the last {len(categories)} "
        f"experiment(s): {', '.join(distinct)}",
    )


def grounded(hypothesis: Hypothesis) -> bool:
    """Asked for by a person, or argued from recorded findings."""
    return hypothesis.source in GROUNDED_SOURCES or len(hypothesis.rationale.strip()) >= 20


def grounding(history: list[Outcome]) -> DimensionScore:
    hypotheses = [e.hypothesis for e in _recent(history)]
    if not hypotheses:
        return _none_yet("grounding")
    count = sum(grounded(h) for h in hypotheses)
    return DimensionScore(
        name="grounding",
        tier="factory",
        score=count / len(hypotheses),
        raw={"grounded": count, "experiments": len(hypotheses)},
        reason=f"{count}/{len(hypotheses)} recent hypotheses grounded in findings or requests",
    )


def effectiveness(history: list[Outcome]) -> DimensionScore:
    recent = _recent(history)
    if not recent:
        return _none_yet("effectiveness")
    kept = [e for e in recent if e.status == "kept"]
    keep_rate = len(kept) / len(recent)
    start = recent[0].before
    end = max((e.after for e in kept if e.after is not None), default=start)
    gain = (end - start) if start is not None and end is not None else 0.0
    trend = min(1.0, max(0.0, 0.5 + gain * 5))
    return DimensionScore(
        name="effectiveness",
        tier="factory",
        score=0.7 * keep_rate + 0.3 * trend,
        raw={"kept": len(kept), "finished": len(recent), "gain": round(gain, 4)},
        reason=f"kept {len(kept)}/{len(recent)} recent experiments; composite {gain:+.4f} "
        f"over them",
    )


def calibration(history: list[Outcome]) -> DimensionScore:
    recent = _recent(history)
    total = Calibration.over(
        (e.hypothesis.expected_gain, e.hypothesis.predicted, e.measured) for e in recent
    )
    if total.hit_rate is None:
        return DimensionScore(
            name="calibration",
            tier="factory",
            score=None,
            reason="no predictions compared yet" if recent else "no experiments yet",
        )
    return DimensionScore(
        name="calibration",
        tier="factory",
        score=total.hit_rate,
        raw={
            "hits": total.direction_hits,
            "predictions": total.predictions,
            "mean_error": round(total.mean_abs_error or 0.0, 4),
        },
        reason=total.describe(),
    )
