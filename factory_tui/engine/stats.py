"""Figures over a run's history, computed one way for the CLI, the views and the chart.

The best score is the first baseline or any kept result: a reverted experiment never counts,
however well it scored. Research mode's metric may be lower-is-better, so every "best" takes
the direction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, Protocol, TypeVar

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
    return keep_rate_of(Counter(e.status for e in experiments))


def keep_rate_of(totals: Mapping[str, int]) -> float | None:
    """`keep_rate` from how many experiments ended each way (the database's totals)."""
    decided = totals.get("kept", 0) + totals.get("reverted", 0)
    return totals.get("kept", 0) / decided if decided else None
