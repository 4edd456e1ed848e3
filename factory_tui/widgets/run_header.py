"""The run at a glance: project, mode, runtime, cycle, best score, cost and run state."""

from __future__ import annotations

from rich.text import Text

from factory_tui.engine.text import money
from factory_tui.run_view import RunView

from .changing_static import ChangingStatic

STATE_STYLE = {
    "running": ("● running", "bold green"),
    "paused": ("❚❚ paused", "bold yellow"),
    "awaiting_approval": ("? awaiting approval", "bold magenta"),
    "idle": ("○ idle", "bold"),
    "failed": ("✗ failed", "bold red"),
}


class RunHeader(ChangingStatic):
    """A one-line header rendered from the run view."""

    DEFAULT_CSS = """
    RunHeader {
        height: 1;
        background: $boost;
    }
    """

    def show(self, view: RunView, attached: bool = False) -> None:
        label, style = STATE_STYLE.get(view.state, (view.state, "bold"))
        if view.state == "idle" and view.finished_status:  # the run is over: how it ended
            ended = view.finished_status
            label = f"■ stopped ({ended})"
            style = "bold red" if ended in ("failed", "interrupted") else "bold"
        best = "–" if view.best is None else f"{view.best:.4f}"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" factory ", style="bold reverse")
        text.append(f" {view.project or '…'} ", style="bold")
        text.append(label, style=style)
        text.append(" ")
        if not view.sandboxed:
            text.append(" UNSANDBOXED ", style="bold white on red")
            text.append(" ")
        # What a glance needs first (it survives a narrow terminal): cycle, best, cost.
        text.append("· ", style="dim")
        text.append(f"cycle {view.cycle} ")
        text.append("· best ", style="dim")
        text.append(best, style="bold cyan")
        text.append(" · cost ", style="dim")
        text.append(f"{money(view.cost_usd)} ")
        for part in (view.mode or "–", view.runtime or "–", f"approval {view.approval}"):
            text.append("· ", style="dim")
            text.append(f"{part} ")
        if attached:
            text.append("  (attached)", style="dim italic")
        self.show_text(text)
