"""One backlog item picked on the board: mark it done, remove it, or leave it."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from factory_tui.engine.models import BacklogItem

Choice = Literal["done", "remove"] | None
# The dialog's buttons, by id.
BUTTON_CHOICES: dict[str | None, Choice] = {"done": "done", "remove": "remove", "back": None}


class BacklogItemModal(ModalScreen[Choice]):
    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("d", "choose('done')", "Done", id="backlog.done", tooltip="Mark the item done"),
        Binding(
            "x",
            "choose('remove')",
            "Remove",
            id="backlog.remove",
            tooltip="Remove the item from the backlog",
        ),
        Binding("escape", "choose(None)", "Back", id="backlog.back", tooltip="Leave it as is"),
    ]

    def __init__(self, item: BacklogItem) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Backlog item {self.item.id}", classes="dialog-title")
            yield Static(self.item.title)
            if self.item.detail:
                yield Static(self.item.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Done (d)", variant="success", id="done")
                yield Button("Remove (x)", variant="error", id="remove")
                yield Button("Back (esc)", id="back")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(BUTTON_CHOICES[event.button.id])

    def action_choose(self, choice: Choice) -> None:
        self.dismiss(choice)
