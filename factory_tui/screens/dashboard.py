"""The dashboard: run header, pipeline bar, one pane per agent, the board and the chart."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.dom import DOMNode
from textual.reactive import reactive
from textual.screen import Screen

from factory_tui.engine.models import BacklogItem, Role
from factory_tui.run_view import PANE_ROLES, Output, RunView
from factory_tui.widgets.agent_pane import AgentPane
from factory_tui.widgets.changing_static import ChangingStatic
from factory_tui.widgets.hypothesis_board import HypothesisBoard
from factory_tui.widgets.key_footer import KeyFooter
from factory_tui.widgets.pipeline_bar import PipelineBar, StagesState
from factory_tui.widgets.run_header import HeaderState, RunHeader
from factory_tui.widgets.score_chart import ScoreChart

# Short enough for all eight in 80 columns.
TAB_NAMES = {
    Role.RESEARCHER: "Research",
    Role.STRATEGIST: "Strategy",
    Role.BUILDER: "Build",
    Role.REVIEWER: "Review",
    Role.EVALUATOR: "Eval",
    Role.FAILURE_ANALYST: "Failures",
    Role.ARCHIVIST: "Archive",
    Role.DISTILLER: "Distill",
}


class Dashboard(Screen[None]):
    """Draws what the app's run view says; it holds no run state of its own.

    Below 100 columns or 30 rows it is compact: the agent panes become tabs (the active
    agent's pane full width, following whichever agent runs unless one was picked with
    [ and ]), and the score panel keeps its sparklines without the plot.
    """

    CSS_PATH = "dashboard.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [
        # Not in the footer (the tab row says them): a narrow footer keeps the run's keys.
        Binding(
            "left_square_bracket",
            "switch_pane(-1)",
            "Prev agent",
            id="dashboard.prev_pane",
            tooltip="Show the previous agent's pane",
            show=False,
        ),
        Binding(
            "right_square_bracket",
            "switch_pane(1)",
            "Next agent",
            id="dashboard.next_pane",
            tooltip="Show the next agent's pane",
            show=False,
        ),
    ]

    # The run's scalar state: the header and the pipeline bar are bound to these, and draw
    # only when a value really changes.
    header: reactive[HeaderState] = reactive(HeaderState())
    stages: reactive[StagesState] = reactive(StagesState())

    def __init__(self, attached: bool = False) -> None:
        super().__init__(id="dashboard")
        self.attached = attached
        self.active_role: Role = PANE_ROLES[0]
        self.picked = False  # a pane chosen by hand stays until another is chosen

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header").data_bind(state=Dashboard.header)
        yield PipelineBar(id="pipeline-bar").data_bind(Dashboard.stages)
        yield ChangingStatic("", id="agent-tabs")  # compact layout only
        with Horizontal(id="main"):
            with Grid(id="panes"):
                for role in PANE_ROLES:
                    yield AgentPane(role)
            with Vertical(id="side"):
                yield HypothesisBoard(id="board")
                yield ScoreChart(id="chart")
        yield ChangingStatic("", id="notice")
        yield KeyFooter()

    def pane(self, role: Role) -> AgentPane:
        return self.query_one(f"#pane-{role.value}", AgentPane)

    def write_output(self, output: Output, tagged: bool = False) -> None:
        for role, runs in output.items():
            if role in PANE_ROLES:
                pane = self.pane(role)
                for experiment, lines in runs:
                    pane.write_lines(lines, experiment, tagged)

    def show(self, view: RunView, backlog: list[BacklogItem], now: float) -> None:
        """Redraw everything that depends on the view (cheap: each widget skips no-ops)."""
        self.header = HeaderState.of(view, self.attached)
        self.tick(view, now)
        self.query_one(HypothesisBoard).show(view, backlog)
        self.query_one(ScoreChart).show(view)
        notice = view.last_notice
        self.query_one("#notice", ChangingStatic).show_text(
            "" if notice is None else f"{notice.level}: {notice.message}"
        )
        self.set_class(notice is not None and notice.level != "info", "-warning")

    def tick(self, view: RunView, now: float) -> None:
        """The parts that move with the clock: elapsed times."""
        self.stages = StagesState.of(view, now)
        for role in PANE_ROLES:
            self.pane(role).show_status(view.agents[role], now)
        running = [role for role in PANE_ROLES if view.agents[role].state == "running"]
        if running and not self.picked:
            self.active_role = running[0]
        self.show_active(view)

    def show_active(self, view: RunView | None = None) -> None:
        """The compact layout's tab row, and which pane it shows."""
        for role in PANE_ROLES:
            self.pane(role).set_class(role is self.active_role, "-active")
        tabs = Text(no_wrap=True, overflow="ellipsis")
        for role in PANE_ROLES:
            running = view is not None and view.agents[role].state == "running"
            label = f" {'●' if running else ''}{TAB_NAMES[role]} "
            tabs.append(label, style="bold reverse" if role is self.active_role else "dim")
        tabs.append(" [ ] switch", style="dim italic")
        self.query_one("#agent-tabs", ChangingStatic).show_text(tabs)

    def action_switch_pane(self, step: int) -> None:
        index = PANE_ROLES.index(self.active_role)
        self.active_role = PANE_ROLES[(index + step) % len(PANE_ROLES)]
        self.picked = True
        self.show_active()
        self.pane(self.active_role).log_view.focus()

    def focused_pane(self) -> AgentPane | None:
        node: DOMNode | None = self.focused
        while node is not None:
            if isinstance(node, AgentPane):
                return node
            node = node.parent
        return None
