"""Every experiment of the project: sortable, filterable, and each one opens its detail.

The rows come from the state database a page at a time, filtered and sorted there, so a
month of experiments opens as fast as a day's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label

from factory_tui.engine.models import ExperimentRow
from factory_tui.widgets.experiment_table import ExperimentTable
from factory_tui.widgets.key_footer import KeyFooter

# Rows fetched at a time: two screens' worth, at least 50, so a tall terminal is filled.
# The next page comes when the cursor or the scroll reaches the end.
PAGE_MIN = 50
# (filter text, sort column, descending, limit, offset) -> a page of rows, how many match
RowSource = Callable[[str, str, bool, int, int], tuple[list[ExperimentRow], int]]


class History(Screen[None]):
    CSS_PATH = "history.tcss"
    # The table, not the filter, has the focus from the first frame.
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
        yield ExperimentTable(id="history-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(ExperimentTable)
        self.watch(table, "scroll_y", self._scrolled, init=False)

    def on_screen_resume(self) -> None:
        """Each time it is shown (it is kept between openings): the rows as they are now."""
        self.refresh_table()
        self.query_one(ExperimentTable).focus()

    def refresh_table(self) -> None:
        self.query_one(ExperimentTable).clear()
        self.shown = 0
        self.load_page()

    def load_page(self) -> None:
        """The next page of the rows that match, in order."""
        table = self.query_one(ExperimentTable)
        page, self.matching = self.rows(
            self.filter_text,
            self.sort_column,
            self.descending,
            max(PAGE_MIN, 2 * self.app.size.height),
            self.shown,
        )
        table.add_rows(page)
        self.shown += len(page)
        order = "descending" if self.descending else "ascending"
        more = f", {self.shown} shown (more as you scroll)" if self.shown < self.matching else ""
        what = f"{self.matching} matching" if self.filter_text.strip() else f"{self.matching}"
        self.query_one("#history-title", Label).update(
            f"History: {what} experiment(s){more}, sorted by {self.sort_column} ({order})"
        )

    @on(ExperimentTable.Highlighted)
    def row_highlighted(self, event: ExperimentTable.Highlighted) -> None:
        if event.index >= self.shown - 1 and self.shown < self.matching:
            self.load_page()

    def _scrolled(self, scroll_y: float) -> None:
        """Scrolled (the wheel, the scrollbar) to the last rows: the next page."""
        table = self.query_one(ExperimentTable)
        if scroll_y >= table.max_scroll_y - 1 and 0 < self.shown < self.matching:
            self.load_page()

    @on(Input.Changed, "#history-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_table()

    @on(Input.Submitted, "#history-filter")
    def filter_done(self) -> None:
        self.query_one(ExperimentTable).focus()

    @on(ExperimentTable.HeaderClicked)
    def header_selected(self, event: ExperimentTable.HeaderClicked) -> None:
        column = event.column
        if column == self.sort_column:
            self.descending = not self.descending
        self.sort_column = column
        self.refresh_table()

    @on(ExperimentTable.Selected)
    def row_selected(self, event: ExperimentTable.Selected) -> None:
        self.post_message(self.Open(event.experiment_id))

    def action_cycle_sort(self) -> None:
        columns = self.query_one(ExperimentTable).columns
        index = columns.index(self.sort_column) if self.sort_column in columns else -1
        self.sort_column = columns[(index + 1) % len(columns)]
        self.refresh_table()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.refresh_table()

    def action_focus_filter(self) -> None:
        self.query_one("#history-filter", Input).focus()
