"""Every experiment of the project: sortable, filterable, and each one opens its detail."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label

from factory_tui.run_view import ExperimentView

STATUS_STYLE = {
    "kept": "green",
    "reverted": "yellow",
    "aborted": "red",
    "running": "bold green",
    "awaiting_approval": "magenta",
}
COLUMNS = ("id", "hypothesis", "status", "before", "after", "delta")
SORT_KEYS = {
    "id": lambda e: e.id,
    "hypothesis": lambda e: e.hypothesis.title.lower(),
    "status": lambda e: e.status,
    "before": lambda e: e.before if e.before is not None else -1.0,
    "after": lambda e: e.after if e.after is not None else -1.0,
    "delta": lambda e: e.delta if e.delta is not None else -9.0,
}


class History(Screen[None]):
    CSS_PATH = "history.tcss"
    BINDINGS = [
        Binding(
            "escape", "app.pop_screen", "Back", id="history.back", tooltip="Back to the dashboard"
        ),
        Binding(
            "s",
            "cycle_sort",
            "Sort",
            id="history.sort",
            tooltip="Sort by the next column (press again to change)",
        ),
        Binding("r", "reverse", "Reverse", id="history.reverse", tooltip="Reverse the order"),
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            id="history.filter",
            tooltip="Filter by id, hypothesis or status",
        ),
    ]

    @dataclass
    class Open(Message):
        experiment_id: str

    def __init__(self, experiments: list[ExperimentView]) -> None:
        super().__init__()
        self.experiments = experiments
        self.sort_column = "id"
        self.descending = False
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Label("", id="history-title")
        yield Input(
            placeholder="filter: id, words of the hypothesis, or a status", id="history-filter"
        )
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            # The hypothesis takes what the other columns leave, so the deltas stay in view.
            width = max(24, self.app.size.width - 62) if column == "hypothesis" else None
            table.add_column(column, key=column, width=width)
        self.refresh_table()
        table.focus()

    def visible_rows(self) -> list[ExperimentView]:
        needle = self.filter_text.lower()
        rows = [
            e
            for e in self.experiments
            if not needle or needle in f"{e.id} {e.hypothesis.title} {e.status}".lower()
        ]
        return sorted(rows, key=SORT_KEYS[self.sort_column], reverse=self.descending)

    def refresh_table(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = self.visible_rows()
        for e in rows:
            delta = e.delta
            table.add_row(
                e.id,
                e.hypothesis.title,
                Text(e.status, style=STATUS_STYLE.get(e.status, "")),
                "-" if e.before is None else f"{e.before:.4f}",
                "-" if e.after is None else f"{e.after:.4f}",
                Text(
                    "-" if delta is None else f"{delta:+.4f}",
                    style="green" if (delta or 0) > 0 else "red" if (delta or 0) < 0 else "",
                ),
                key=e.id,
            )
        order = "descending" if self.descending else "ascending"
        self.query_one("#history-title", Label).update(
            f"History: {len(rows)} of {len(self.experiments)} experiment(s), sorted by "
            f"{self.sort_column} ({order})"
        )

    @on(Input.Changed, "#history-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_table()

    @on(Input.Submitted, "#history-filter")
    def filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.HeaderSelected)
    def header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column == self.sort_column:
            self.descending = not self.descending
        self.sort_column = column
        self.refresh_table()

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.post_message(self.Open(str(event.row_key.value)))

    def action_cycle_sort(self) -> None:
        index = COLUMNS.index(self.sort_column)
        self.sort_column = COLUMNS[(index + 1) % len(COLUMNS)]
        self.refresh_table()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.refresh_table()

    def action_focus_filter(self) -> None:
        self.query_one("#history-filter", Input).focus()
