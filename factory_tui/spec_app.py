"""Interactive mode's first step: the spec editor on its own, before the project exists."""

from __future__ import annotations

from textual import on
from textual.app import App

from factory_tui import startup
from factory_tui.agents.base import Runtime
from factory_tui.engine.spec import SpecDraft
from factory_tui.screens.spec_editor import SpecEditor


class SpecApp(App[str | None]):
    """Returns the accepted spec's text, or None when the person left (the draft is kept)."""

    TITLE = "factory · spec"

    def __init__(self, draft: SpecDraft, runtime: Runtime, project: str) -> None:
        super().__init__()
        self.draft = draft
        self.runtime = runtime
        self.project = project

    def on_mount(self) -> None:
        self.call_after_refresh(startup.release)  # painted: start-up is over
        self.push_screen(
            SpecEditor(self.draft, self.runtime, self.project), lambda _: self.exit(None)
        )

    @on(SpecEditor.Accepted)
    def accepted(self, event: SpecEditor.Accepted) -> None:
        self.exit(event.text)
