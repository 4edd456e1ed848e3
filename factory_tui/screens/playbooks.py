"""Each role's playbook: its bullets with their counters, and what the last curation changed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static, TabbedContent, TabPane

from factory_tui.ceo.playbooks import PLAYBOOK_ROLES, Playbooks
from factory_tui.widgets.key_footer import KeyFooter


class PlaybooksScreen(Screen[None]):
    CSS_PATH = "playbooks.tcss"
    BINDINGS = [
        Binding(
            "escape", "app.pop_screen", "Back", id="playbooks.back", tooltip="Back to the dashboard"
        ),
    ]

    def __init__(self, playbooks: Playbooks) -> None:
        super().__init__()
        self.playbooks = playbooks

    def compose(self) -> ComposeResult:
        state = self.playbooks.state()
        learned = len(state.processed)
        yield Label(f"Playbooks: learned from {learned} experiment(s)", id="playbooks-title")
        with TabbedContent():
            for role in PLAYBOOK_ROLES:
                playbook = self.playbooks.load(role)
                with TabPane(role.label, id=f"playbook-{role.value}"), VerticalScroll():
                    table: DataTable[str | Text] = DataTable(
                        cursor_type="row", zebra_stripes=True, id=f"bullets-{role.value}"
                    )
                    table.add_columns("id", "kind", "helpful", "harmful", "rule")
                    for bullet in sorted(playbook.bullets, key=lambda b: (b.kind, -b.score)):
                        style = "green" if bullet.kind == "do" else "yellow"
                        table.add_row(
                            bullet.id,
                            Text("DO" if bullet.kind == "do" else "DON'T", style=style),
                            str(bullet.helpful),
                            str(bullet.harmful),
                            bullet.rule,
                            key=bullet.id,
                        )
                    yield table
                    changes = state.last_changes.get(role.value, [])
                    yield Label("Last curation", classes="changes-title")
                    yield Static(
                        "\n".join(changes)
                        if changes
                        else Text("no change in the last curation", style="dim"),
                        classes="changes",
                    )
        yield KeyFooter()
