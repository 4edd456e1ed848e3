"""The cycle's stages in a row, the current one highlighted with its elapsed time."""

from __future__ import annotations

from rich.text import Text

from factory_tui.run_view import PIPELINE_STAGES, RunView

from .agent_pane import format_elapsed
from .changing_static import ChangingStatic


class PipelineBar(ChangingStatic):
    """Researcher › Strategist › Builder › Reviewer › Evaluator › CEO › Archivist."""

    DEFAULT_CSS = """
    PipelineBar {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def show(self, view: RunView, now: float) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        current = view.stage if view.state in ("running", "awaiting_approval", "paused") else None
        passed = current is not None
        for index, stage in enumerate(PIPELINE_STAGES):
            if index:
                text.append(" › ", style="dim")
            if stage is current:
                label = f" {stage.label} {format_elapsed(view.stage_elapsed(now))} "
                text.append(label, style="bold reverse")
                passed = False
            else:
                text.append(stage.label, style="" if passed else "dim")
        self.show_text(text)
