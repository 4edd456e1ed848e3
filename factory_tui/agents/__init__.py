"""The agents: role contracts, and the runtimes that run them (offline, claude, command)."""

from __future__ import annotations

from factory_tui.engine.config import FactoryConfig
from factory_tui.engine.errors import UsageError

from .base import Runtime

RUNTIMES = ("offline", "claude", "command")


def make_runtime(name: str, config: FactoryConfig) -> Runtime:
    """The runtime called `name`, imported only when chosen."""
    if name == "offline":
        from .offline import OfflineRuntime

        return OfflineRuntime()
    if name == "claude":
        from .claude import ClaudeRuntime

        return ClaudeRuntime(config.agents)
    if name == "command":
        from .command import CommandRuntime

        return CommandRuntime(config.agents)
    raise UsageError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
