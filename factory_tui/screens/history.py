"""Every experiment of the project: sortable, filterable, and each one opens its detail.

The rows come from the state database a page at a time, filtered and sorted there, so a
month of experiments opens as fast as a day's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label

from factory_tui.engine.models import ExperimentRow
from factory_tui.widgets.key_footer import KeyFooter

STATUS_STYLE = {
    "kept": "green",
    "reverted": "yellow",
    "aborted": "red",
    "running": "bold green",
    "awaiting_approval": "magenta",
}
COLUMNS = ("id", "hypothesis", "status", "before", "after", "delta")
# Every column but the hypothesis has a fixed width, so adding rows measures nothing.
WIDTHS = {"id": 10, "status": 8, "before": 6, "after": 6, "delta": 7}
# Rows fetched at a time: two screens' worth, at least 50. The next page comes when the
# cursor or the scroll reaches the end. Each row added is measured and each shown is drawn,
# so a filter keystroke costs what a screen shows, not a fixed hundred rows.
PAGE_MIN = 50
# (filter text, sort column, descending, limit, offset) -> a page of rows, how many match
RowSource = Callable[[str, str, bool, int, int], tuple[list[ExperimentRow], int]]


class History(Screen[None]):
    CSS_PATH = "history.tcss"
    # The table has the focus from the first frame: focused later, every row drew twice.
    AUTO_FOCUS = "#history-table"
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

    def __init__(self, rows: RowSource) -> None:
        super().__init__()
        self.rows = rows
        self.shown = 0
        self.matching = 0
        self.sort_column = "id"
        self.descending = False
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Label("", id="history-title")
        yield Input(
            placeholder="filter: id, words of the hypothesis, or a status", id="history-filter"
        )
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self.watch(table, "scroll_y", self._scrolled, init=False)
        for column in COLUMNS:
            # The hypothesis takes what the other columns (and their padding and the
            # scrollbar) leave, so the deltas stay in view.
            rest = self.app.size.width - sum(WIDTHS.values()) - 2 * len(COLUMNS) - 2
            width = WIDTHS.get(column, max(24, rest))
            table.add_column(column, key=column, width=width)

    def on_screen_resume(self) -> None:
        """Each time it is shown (it is kept between openings): the rows as they are now."""
        table = self.query_one(DataTable)
        if table.size:
            self.refresh_table()
        else:  # the first time: after the first layout, whose resize would draw them again
            self.call_after_refresh(self.refresh_table)
        table.focus()

    def refresh_table(self) -> None:
        self.query_one(DataTable).clear()
        self.shown = 0
        self.load_page()

    def load_page(self) -> None:
        """The next page of the rows that match, in order."""
        table = self.query_one(DataTable)
        page, self.matching = self.rows(
            self.filter_text,
            self.sort_column,
            self.descending,
            max(PAGE_MIN, 2 * self.app.size.height),
            self.shown,
        )
        for row in page:
            delta = row.delta
            # Text, never str: a str cell is parsed as markup, slowly, and a hypothesis
            # with brackets in its title would lose them.
            table.add_row(
                Text(row.id),
                Text(row.title),
                Text(
                    row.status.replace("awaiting_approval", "waiting"),
                    style=STATUS_STYLE.get(row.status, ""),
                ),
                Text("-" if row.before is None else f"{row.before:.4f}"),
                Text("-" if row.after is None else f"{row.after:.4f}"),
                Text(
                    "-" if delta is None else f"{delta:+.4f}",
                    style="green" if (delta or 0) > 0 else "red" if (delta or 0) < 0 else "",
                ),
                key=row.id,
            )
        self.shown += len(page)
        order = "descending" if self.descending else "ascending"
        more = f", {self.shown} shown (more as you scroll)" if self.shown < self.matching else ""
        what = f"{self.matching} matching" if self.filter_text.strip() else f"{self.matching}"
        self.query_one("#history-title", Label).update(
            f"History: {what} experiment(s){more}, sorted by {self.sort_column} ({order})"
        )

    @on(DataTable.RowHighlighted)
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= self.shown - 1 and self.shown < self.matching:
            self.load_page()

    def _scrolled(self, scroll_y: float) -> None:
        """Scrolled (the wheel, the scrollbar) to the last rows: the next page."""
        table = self.query_one(DataTable)
        if scroll_y >= table.max_scroll_y - 1 and 0 < self.shown < self.matching:
            self.load_page()

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
