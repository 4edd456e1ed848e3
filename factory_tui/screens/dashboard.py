"""The dashboard: run header, pipeline bar, one pane per agent, the board and the chart."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from factory_tui.engine.models import BacklogItem, Role
from factory_tui.run_view import PANE_ROLES, RunView
from factory_tui.widgets.agent_pane import AgentPane
from factory_tui.widgets.changing_static import ChangingStatic
from factory_tui.widgets.hypothesis_board import HypothesisBoard
from factory_tui.widgets.pipeline_bar import PipelineBar
from factory_tui.widgets.run_header import RunHeader
from factory_tui.widgets.score_chart import ScoreChart


class Dashboard(Screen):
    """Draws what the app's run view says; it holds no run state of its own."""

    CSS_PATH = "dashboard.tcss"

    def __init__(self, attached: bool = False) -> None:
        super().__init__(id="dashboard")
        self.attached = attached
        self.ready = False

    def on_mount(self) -> None:
        self.ready = True

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        yield PipelineBar(id="pipeline-bar")
        with Horizontal(id="main"):
            with Grid(id="panes"):
                for role in PANE_ROLES:
                    yield AgentPane(role)
            with Vertical(id="side"):
                yield HypothesisBoard(id="board")
                yield ScoreChart(id="chart")
        yield ChangingStatic("", id="notice")
        yield Footer()

    def pane(self, role: Role) -> AgentPane:
        return self.query_one(f"#pane-{role.value}", AgentPane)

    def write_output(self, output: dict[Role, tuple[str | None, list[str]]]) -> None:
        for role, (experiment, lines) in output.items():
            if role in PANE_ROLES:
                self.pane(role).write_lines(lines, experiment)

    def show(self, view: RunView, backlog: list[BacklogItem], now: float) -> None:
        """Redraw everything that depends on the view (cheap: each widget skips no-ops)."""
        self.query_one(RunHeader).show(view, self.attached)
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
        self.query_one(PipelineBar).show(view, now)
        for role in PANE_ROLES:
            self.pane(role).show_status(view.agents[role], now)

    def focused_pane(self) -> AgentPane | None:
        node = self.focused
        while node is not None and not isinstance(node, AgentPane):
            node = node.parent  # type: ignore[assignment]
        return node
