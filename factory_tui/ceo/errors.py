"""How a run ends early: each is caught by the run's lifecycle and said in its outcome."""

from __future__ import annotations

from factory_tui.engine.errors import FactoryError


class BudgetSpent(FactoryError):
    """The run's cost limit is reached: it stops before the next agent starts."""


class StopRequested(FactoryError):
    """A stop was asked for (SIGTERM in a loop): the run ends after the current stage."""


class CycleFailed(FactoryError):
    """A cycle could not go on (an agent failed before any experiment began)."""
