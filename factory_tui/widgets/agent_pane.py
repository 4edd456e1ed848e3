"""One agent's live output: a title with its status line, and a fast, bounded log.

Lines arrive in batches (the dashboard flushes them 20 times a second) and go to Textual's
`Log`, which keeps the last `max_lines`; the whole transcript stays on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log

from factory_tui.engine.models import Role
from factory_tui.engine.text import money
from factory_tui.run_view import AgentView

from .changing_static import ChangingStatic

PANE_MAX_LINES = 2_000
# More lines than this in one flush (20 a second) is a flood no one reads as it scrolls by:
# the pane shows a marker and the newest lines; the log on disk keeps every line.
FLUSH_CAP = 400
STATE_MARK = {"idle": "○", "running": "●", "done": "✓", "failed": "✗", "stopped": "■"}


def format_elapsed(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def status_line(agent: AgentView, now: float) -> str:
    parts = [f"{STATE_MARK.get(agent.state, '?')} {agent.state}"]
    if agent.started is not None:
        parts.append(format_elapsed(agent.elapsed(now)))
    if agent.usage.tokens:
        parts.append(f"{agent.usage.tokens:,} tok")
    if agent.usage.cost_usd:
        parts.append(money(agent.usage.cost_usd))
    if agent.experiment:
        parts.append(agent.experiment)
    return " · ".join(parts)


class PaneLog(Log):
    """Textual's `Log`, repainted once it is full. When `Log.write_lines` (Textual 8.2)
    drops the oldest lines it refreshes the rows the new lines had before the drop, past
    the end by then, and a log already scrolled to its end does not move: a full pane
    stopped showing new output until something else repainted it."""

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        super().write_lines(lines, scroll_end)
        if self.max_lines is not None and len(self.lines) >= self.max_lines:
            self.refresh()
        return self


class AgentPane(Vertical):
    """The pane of one role."""

    DEFAULT_CSS = """
    AgentPane {
        border: round $primary-darken-2;
        border-title-color: $text-muted;
        height: 1fr;
        min-height: 4;
    }

    AgentPane.-running {
        border: round $success;
        border-title-color: $success;
        border-title-style: bold;
    }

    AgentPane.-failed {
        border: round $error;
        border-title-color: $error;
    }

    AgentPane:focus-within {
        border: round $accent;
    }

    AgentPane > .pane-status {
        height: 1;
        color: $text-muted;
    }

    AgentPane > .pane-log {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
    }
    """

    ALLOW_MAXIMIZE = True

    def __init__(
        self, role: Role, max_lines: int = PANE_MAX_LINES, id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(id=id or f"pane-{role.value}", **kwargs)
        self.role = role
        self.max_lines = max_lines
        self.border_title = role.label
        self._experiment: str | None = None
        self._search: str = ""
        self._search_from = 0

    def copy_of(self, source: AgentPane) -> None:
        """Become a copy of `source`: its role, its look and the lines it holds."""
        self.role = source.role
        self.border_title = source.role.label
        self._experiment = source._experiment
        self._search, self._search_from = "", 0
        self.set_class(source.has_class("-running"), "-running")
        self.set_class(source.has_class("-failed"), "-failed")
        status = source.query_one(".pane-status", ChangingStatic)
        self.query_one(".pane-status", ChangingStatic).show_text(status.shown)
        log = self.log_view
        log.clear()
        log.auto_scroll = True
        log.write_lines(source.log_view.lines)

    def compose(self) -> ComposeResult:
        yield ChangingStatic("○ idle", classes="pane-status")
        yield PaneLog(max_lines=self.max_lines, auto_scroll=True, classes="pane-log")

    @property
    def log_view(self) -> Log:
        """The pane's lines (`log` is Textual's own logger on every widget)."""
        return self.query_one(Log)

    def write_lines(
        self, lines: list[str], experiment: str | None = None, tagged: bool = False
    ) -> None:
        """Add lines of `experiment`'s; `tagged` (several experiments at once), each line
        starts with the experiment's number, else a rule marks where a new one begins."""
        if tagged and experiment:
            tag = experiment.removeprefix("exp-")
            lines = [f"{tag}│ {line}" for line in lines]
        elif experiment and experiment != self._experiment:
            self._experiment = experiment
            lines = [f"── {experiment} ──", *lines]
        if len(lines) > FLUSH_CAP:
            skipped = len(lines) - FLUSH_CAP
            lines = [
                f"… {skipped:,} lines skipped here (all are in the agent's log)",
                *lines[-FLUSH_CAP:],
            ]
        if lines:
            self.log_view.write_lines(lines)

    def show_status(self, agent: AgentView, now: float) -> None:
        self.set_class(agent.state == "running", "-running")
        self.set_class(agent.state == "failed", "-failed")
        self.query_one(".pane-status", ChangingStatic).show_text(status_line(agent, now))

    def search(self, text: str, again: bool = False) -> int:
        """Scroll to the next line containing `text`; returns how many lines match."""
        needle = text.lower()
        lines = self.log_view.lines
        matches = [i for i, line in enumerate(lines) if needle in line.lower()]
        if not matches:
            return 0
        start = self._search_from + 1 if again and text == self._search else 0
        target = next((i for i in matches if i >= start), matches[0])
        self._search, self._search_from = text, target
        self.log_view.auto_scroll = False
        self.log_view.scroll_to(y=max(target - 1, 0), animate=False)
        return len(matches)

    @property
    def searching(self) -> str:
        """The text searched for, while the pane shows a match (until `follow`)."""
        return self._search

    def follow(self) -> None:
        """Back to following new output after a search."""
        self._search = ""
        self.log_view.auto_scroll = True
        self.log_view.scroll_end(animate=False)
