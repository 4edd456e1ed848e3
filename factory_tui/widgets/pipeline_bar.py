"""The cycle's stages in a row, the current one highlighted with its elapsed time."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from factory_tui.engine.models import Stage
from factory_tui.run_view import PIPELINE_STAGES, RunView

from .agent_pane import format_elapsed


@dataclass(frozen=True)
class StagesState:
    """The stage running (None between cycles) and how long it has run, as shown."""

    current: Stage | None = None
    elapsed: str = ""
    # Several experiments at once: each one running and the stage it is in.
    side_by_side: tuple[tuple[str, Stage], ...] = ()

    @classmethod
    def of(cls, view: RunView, now: float) -> StagesState:
        if view.state not in ("running", "awaiting_approval", "paused") or view.stage is None:
            return cls()
        running = tuple(sorted(view.stage_of.items())) if len(view.stage_of) > 1 else ()
        return cls(view.stage, format_elapsed(view.stage_elapsed(now)), running)


class PipelineBar(Static):
    """Researcher › Strategist › Builder › Reviewer › Evaluator › CEO › Archivist, bound
    to the dashboard's `stages` state."""

    DEFAULT_CSS = """
    PipelineBar {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    stages: reactive[StagesState] = reactive(StagesState())

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        current = self.stages.current
        passed = current is not None
        for index, stage in enumerate(PIPELINE_STAGES):
            if index:
                text.append(" › ", style="dim")
            if stage is current:
                text.append(f" {stage.label} {self.stages.elapsed} ", style="bold reverse")
                passed = False
            else:
                text.append(stage.label, style="" if passed else "dim")
        for experiment, stage in self.stages.side_by_side:
            text.append("  ")
            text.append(experiment.removeprefix("exp-"), style="bold")
            text.append(f" {stage.label}", style="italic")
        return text
