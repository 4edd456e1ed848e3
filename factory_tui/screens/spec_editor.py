"""The spec, editable: `.factory/spec.md` in a text area, saved with ctrl+s."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Label, TextArea

from factory_tui.engine.store import Store, write_atomic


class SpecEditor(Screen):
    CSS_PATH = "spec_editor.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="spec.save", tooltip="Write .factory/spec.md"),
        Binding(
            "escape",
            "app.pop_screen",
            "Back",
            id="spec.back",
            tooltip="Back (unsaved edits stay in the editor until you leave it)",
        ),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        path = self.store.spec_path
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        yield Label(f"Spec: {path}", id="spec-title")
        yield TextArea(text, id="spec-text", soft_wrap=True, show_line_numbers=True)
        yield Footer()

    def action_save(self) -> None:
        write_atomic(self.store.spec_path, self.query_one(TextArea).text)
        self.notify(f"Saved {self.store.spec_path.name}")
