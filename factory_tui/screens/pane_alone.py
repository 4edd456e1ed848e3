"""One agent's pane on the whole screen (z), over the dashboard, which stays as it was.

A screen of its own rather than the dashboard's other parts hidden: going back is then a
repaint of a layout that never changed, not a new layout of every pane, the board and the
chart, which is what kept `z` slow while eight agents stream. The app makes the screen once
and shows it again; it copies the lines the dashboard's pane holds (at most `PANE_MAX_LINES`)
and is fed the same output while it is shown.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from factory_tui.engine.models import Role
from factory_tui.run_view import AgentView, Output
from factory_tui.widgets.agent_pane import AgentPane
from factory_tui.widgets.key_footer import KeyFooter


class PaneAlone(Screen[None]):
    CSS_PATH = "pane_alone.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Restore", id="pane_alone.restore", show=False),
        Binding(
            "left_square_bracket",
            "app.switch_pane(-1)",
            "Prev agent",
            id="pane_alone.prev_pane",
            show=False,
        ),
        Binding(
            "right_square_bracket",
            "app.switch_pane(1)",
            "Next agent",
            id="pane_alone.next_pane",
            show=False,
        ),
    ]

    def __init__(self, source: AgentPane) -> None:
        super().__init__(id="pane-alone")
        self.source = source
        self._copied = False  # whether the pane shows `source` (not when just opened)

    def compose(self) -> ComposeResult:
        yield AgentPane(self.source.role, id="alone")
        yield KeyFooter()

    def open(self, source: AgentPane) -> None:
        """To be shown next with a copy of the dashboard's pane `source`."""
        self.source, self._copied = source, False

    def on_screen_resume(self) -> None:
        # Back from a prompt or a dialog over it, the pane is as it was (a search stays).
        if not self._copied:
            self.show(self.source)

    def show(self, source: AgentPane) -> None:
        """Show a copy of the dashboard's pane `source`, fed its output from now on."""
        self.source, self._copied = source, True
        self.pane.copy_of(source)
        self.pane.log_view.focus()

    @property
    def pane(self) -> AgentPane:
        return self.query_one("#alone", AgentPane)

    @property
    def role(self) -> Role:
        return self.pane.role

    def write_output(self, output: Output, tagged: bool = False) -> None:
        pane = self.pane
        for experiment, lines in output.get(pane.role, []):
            pane.write_lines(lines, experiment, tagged)

    def show_status(self, agent: AgentView, now: float) -> None:
        self.pane.show_status(agent, now)
