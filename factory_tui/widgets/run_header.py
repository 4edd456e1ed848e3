"""The run at a glance: project, mode, runtime, cycle, best score, cost and run state."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from factory_tui.engine.text import money
from factory_tui.run_view import RunView

STATE_STYLE = {
    "running": ("● running", "bold green"),
    "paused": ("❚❚ paused", "bold yellow"),
    "awaiting_approval": ("? awaiting approval", "bold magenta"),
    "idle": ("○ idle", "bold"),
    "failed": ("✗ failed", "bold red"),
}


@dataclass(frozen=True)
class HeaderState:
    """What the header shows: equal states draw nothing new (the reactive compares them)."""

    project: str = ""
    state: str = "idle"
    finished: str | None = None
    sandboxed: bool = True
    cycle: int = 0
    best: float | None = None
    cost_usd: float = 0.0
    mode: str = ""
    runtime: str = ""
    approval: str = "auto"
    attached: bool = False

    @classmethod
    def of(cls, view: RunView, attached: bool = False) -> HeaderState:
        return cls(
            project=view.project,
            state=view.state,
            finished=view.finished_status,
            sandboxed=view.sandboxed,
            cycle=view.cycle,
            best=view.best,
            cost_usd=view.cost_usd,
            mode=view.mode,
            runtime=view.runtime,
            approval=view.approval,
            attached=attached,
        )


class RunHeader(Static):
    """A one-line header, bound to the dashboard's `header` state."""

    DEFAULT_CSS = """
    RunHeader {
        height: 1;
        background: $boost;
    }
    """

    state: reactive[HeaderState] = reactive(HeaderState())

    def render(self) -> Text:
        run = self.state
        label, style = STATE_STYLE.get(run.state, (run.state, "bold"))
        if run.state == "idle" and run.finished:  # the run is over: how it ended
            label = f"■ stopped ({run.finished})"
            style = "bold red" if run.finished in ("failed", "interrupted") else "bold"
        best = "–" if run.best is None else f"{run.best:.4f}"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" factory ", style="bold reverse")
        text.append(f" {run.project or '…'} ", style="bold")
        text.append(label, style=style)
        text.append(" ")
        if not run.sandboxed:
            text.append(" UNSANDBOXED ", style="bold white on red")
            text.append(" ")
        # What a glance needs first (it survives a narrow terminal): cycle, best, cost.
        text.append("· ", style="dim")
        text.append(f"cycle {run.cycle} ")
        text.append("· best ", style="dim")
        text.append(best, style="bold cyan")
        text.append(" · cost ", style="dim")
        text.append(f"{money(run.cost_usd)} ")
        for part in (run.mode or "–", run.runtime or "–", f"approval {run.approval}"):
            text.append("· ", style="dim")
            text.append(f"{part} ")
        if run.attached:
            text.append("  (attached)", style="dim italic")
        return text
