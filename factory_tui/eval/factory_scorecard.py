"""The factory's scorecard: how well the factory works on a project, read from its history.

Diversity (kinds of change tried), grounding (hypotheses argued from findings or asked for)
and effectiveness (keep rate and gain) describe the factory, not the project: they are shown
in the dashboard, `factory status` and the Archivist's notes, and never enter the project's
score or a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from factory_tui.engine.models import DimensionScore, ExperimentOutline, Hypothesis

RECENT = 10
GROUNDED_SOURCES = {"backlog", "user", "focus"}


class Outcome(NamedTuple):
    """What the scorecard needs of one experiment (a record, or a front end's view of it)."""

    hypothesis: Hypothesis
    status: str
    before: float | None
    after: float | None


def factory_scorecard(
    history: Iterable[ExperimentOutline] | list[Outcome],
) -> list[DimensionScore]:
    """Each measure over the last RECENT finished experiments; n/a before there are any."""
    items = [
        h if isinstance(h, Outcome) else Outcome(h.hypothesis, h.status.value, h.before, h.after)
        for h in history
    ]
    return [diversity(items), grounding(items), effectiveness(items)]


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
