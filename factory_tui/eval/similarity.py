"""How alike two hypotheses are, by what they change: their kind, the lint rules they fix,
the files they target and the files their diff touched.

Not by the words of their titles: "fix RUF100 in a.py" and "fix F401 in a.py" share their
phrasing but not their substance. Titles only count when neither side names a rule (a
model's free-text ideas), and then as one factor beside the files. A reverted idea may be
tried again once a kept change has touched the same files: the ground it failed on moved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from factory_tui.engine.models import (
    Check,
    Experiment,
    ExperimentOutline,
    ExperimentStatus,
    Hypothesis,
)
from factory_tui.engine.text import words

# Lint rule ids as ruff (and flake8 plugins) name them: F401, E712, UP031, RUF100, PERF402.
RULE_ID = re.compile(r"\b[A-Z]{1,4}[0-9]{3,4}\b")
GENERIC_CATEGORIES = {"general", "request", "backlog", "focus"}


def jaccard(first: Iterable[str], second: Iterable[str]) -> float:
    a, b = set(first), set(second)
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True)
class Target:
    """What a hypothesis changes."""

    title: str
    category: str
    rules: frozenset[str]
    files: frozenset[str]

    @classmethod
    def of(cls, hypothesis: Hypothesis, touched: Iterable[str] = ()) -> Target:
        return cls(
            title=hypothesis.title,
            category=hypothesis.category,
            rules=frozenset(RULE_ID.findall(hypothesis.title)),
            files=frozenset([*hypothesis.files, *touched]),
        )

    @classmethod
    def of_experiment(cls, experiment: Experiment | ExperimentOutline) -> Target:
        return cls.of(experiment.hypothesis, experiment.files_changed)


def similarity(first: Target, second: Target) -> float:
    """0 (unrelated) to 1 (the same change): the product of the parts both can be compared
    on, so a different rule or a different set of files makes a different idea."""
    if (
        first.category != second.category
        and first.category not in GENERIC_CATEGORIES
        and second.category not in GENERIC_CATEGORIES
    ):
        return 0.0
    parts = []
    if first.rules or second.rules:
        parts.append(jaccard(first.rules, second.rules))
    else:
        parts.append(jaccard(words(first.title), words(second.title)))
    if first.files and second.files:
        parts.append(jaccard(first.files, second.files))
    return math.prod(parts)


def most_similar(target: Target, others: list[Target]) -> tuple[Target, float] | None:
    scored = [(other, similarity(target, other)) for other in others]
    return max(scored, key=lambda pair: pair[1], default=None)


def similarity_check(target: Target, reverted: list[Target], limit: float) -> Check:
    """The precheck rule: not more similar than `limit` to a hypothesis still reverted."""
    closest = most_similar(target, reverted)
    if closest is None:
        return Check(name="not a reverted idea", ok=True, detail="nothing reverted yet")
    other, score = closest
    return Check(
        name="not a reverted idea",
        ok=score <= limit,
        detail=f"{score:.0%} like reverted '{other.title}' (limit {limit:.0%})",
    )


def standing(history: Sequence[ExperimentOutline]) -> list[ExperimentOutline]:
    """Kept and reverted experiments whose outcome still stands: one is superseded once a
    later kept experiment has touched any of the files it targeted or touched."""
    outcomes = [
        (e.number, e.status.value, {*e.hypothesis.files, *e.files_changed}, set(e.files_changed))
        for e in history
        if e.status in (ExperimentStatus.KEPT, ExperimentStatus.REVERTED)
    ]
    still = standing_numbers(outcomes)
    return [e for e in history if e.number in still]


def standing_numbers(outcomes: Iterable[tuple[int, str, set[str], set[str]]]) -> set[int]:
    """`standing` over (number, status, files targeted or touched, files touched) of each
    kept or reverted experiment: one pass from the newest back, with the files every later
    kept experiment touched, however long the history."""
    touched_later: set[str] = set()
    still = set()
    for number, status, files, changed in sorted(outcomes, key=lambda o: o[0], reverse=True):
        if not files & touched_later:
            still.add(number)
        if status == "kept":
            touched_later.update(changed)
    return still


def reverted_targets(
    history: Sequence[ExperimentOutline], exclude: str | None = None
) -> list[Target]:
    """The targets of the reverted experiments that still stand."""
    return [
        Target.of_experiment(e)
        for e in standing(history)
        if e.status == ExperimentStatus.REVERTED and e.id != exclude
    ]
