"""Figures over a run's history, computed one way for the CLI, the views and the chart.

The best score is the first baseline or any kept result: a reverted experiment never counts,
however well it scored. Research mode's metric may be lower-is-better, so every "best" takes
the direction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from .models import Experiment

Direction = Literal["higher", "lower"]


class Outcome(Protocol):
    """What the figures need of an experiment: engine records and views both have it."""

    @property
    def status(self) -> str: ...


Item = TypeVar("Item", bound=Outcome)


def is_better(value: float, than: float, direction: Direction = "higher") -> bool:
    return value > than if direction == "higher" else value < than


def best_of(values: Iterable[float | None], direction: Direction = "higher") -> float | None:
    """The best of the values present, in the direction; None when there are none."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return max(present) if direction == "higher" else min(present)


def best_score(
    experiments: Sequence[Item],
    before: Callable[[Item], float | None],
    after: Callable[[Item], float | None],
    direction: Direction = "higher",
    also: Iterable[float | None] = (),
) -> float | None:
    """The best the project has reached: the first experiment's baseline, every kept result,
    and `also` (the base as measured now, when known)."""
    values = [before(e) for e in experiments[:1]]
    values += [after(e) for e in experiments if e.status == "kept"]
    return best_of([*values, *also], direction)


def best_so_far(
    outcomes: Iterable[tuple[Item, float]], start: float | None, direction: Direction = "higher"
) -> list[float]:
    """The best kept value at each experiment, from the baseline on: one point per outcome."""
    best, line = start, []
    for experiment, value in outcomes:
        if experiment.status == "kept" and (best is None or is_better(value, best, direction)):
            best = value
        line.append(best if best is not None else value)
    return line


def keep_rate(experiments: Iterable[Outcome]) -> float | None:
    """Kept over decided (kept or reverted); None before anything is decided."""
    decided = [e.status for e in experiments if e.status in ("kept", "reverted")]
    return decided.count("kept") / len(decided) if decided else None


def composite_best(experiments: Sequence[Experiment]) -> float | None:
    """The best composite in a stored history (what `status` and `projects` print)."""
    return best_score(
        experiments,
        before=lambda e: e.before.composite if e.before else None,
        after=lambda e: e.after.composite if e.after else None,
    )
