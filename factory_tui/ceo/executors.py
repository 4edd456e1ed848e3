"""Where an experiment is built and measured: in this process (the default), or as a task on
any node of an existing Ray cluster. Its verdict is always taken here, one at a time, on the
user's repository (`cycle.py`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from factory_tui.engine.errors import UsageError

if TYPE_CHECKING:
    from factory_tui.engine.models import Experiment

    from .cycle import Built, Cycle, Slots


class Executor(Protocol):
    name: str

    async def build(
        self, cycle: Cycle, experiment: Experiment, slots: Slots, findings: str
    ) -> Built: ...


class LocalExecutor:
    """Each experiment in worktree slots of this machine, in this process."""

    name = "local"

    async def build(
        self, cycle: Cycle, experiment: Experiment, slots: Slots, findings: str
    ) -> Built:
        return await cycle.build(experiment, slots, findings)


def ray_address(configured: str | None) -> str | None:
    """The cluster to use: the config's, else `RAY_ADDRESS`, else None (Ray's own `auto`)."""
    return configured or os.environ.get("RAY_ADDRESS") or None


def make_executor(name: str, address: str | None, env: list[str] | None = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    try:
        import ray  # noqa: F401 - only whether it is there
    except ImportError:
        raise UsageError(
            "executor 'ray' needs Ray: pip install 'factory-tui[ray]' (on every node)"
        ) from None
    from .ray_executor import RayExecutor

    return RayExecutor(ray_address(address), env or [])
