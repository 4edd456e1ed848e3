"""The agents: role contracts, and the runtimes that run them (offline, claude, command)."""

from __future__ import annotations

from factory_tui.engine.config import FactoryConfig
from factory_tui.engine.errors import UsageError
from factory_tui.engine.sandbox import Sandbox

from .base import Runtime

RUNTIMES = ("offline", "claude", "command")


def make_runtime(name: str, config: FactoryConfig, sandbox: Sandbox | None = None) -> Runtime:
    """The runtime called `name`, imported only when chosen. The claude and command
    runtimes run agents that write code: they refuse to start without a sandbox unless the
    config turns it off (UsageError, one line that says how to install bubblewrap)."""
    if name == "offline":
        from .offline import OfflineRuntime

        return OfflineRuntime()
    if name not in ("claude", "command"):
        raise UsageError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    sandbox = sandbox or Sandbox(config.sandbox)
    sandbox.require(f"the {name} runtime's agents must")
    if name == "claude":
        from .claude import ClaudeRuntime, require_cli

        require_cli(config.agents.claude)
        return ClaudeRuntime(config.agents, sandbox)
    from .command import CommandRuntime

    return CommandRuntime(config.agents, sandbox)
