"""The history's table: one line per experiment, drawn with Textual's line API.

DataTable renders each cell through rich (about a quarter of a millisecond a cell), so every
filter keystroke spent most of its time drawing forty rows again. Here a row is a handful of
segments cut to fixed widths: the table draws what the screen shows in a millisecond or two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from factory_tui.engine.models import ExperimentRow
from factory_tui.engine.text import score_cell

COLUMNS = ("id", "hypothesis", "status", "before", "after", "delta")
# Shown once an experiment ran beside others: its slot (or node) and how long it waited.
RAN = "ran"
# Every column but the hypothesis has a fixed width; the hypothesis takes the rest.
WIDTHS = {"id": 10, "status": 8, "before": 7, "after": 7, "delta": 8, RAN: 12}
MIN_HYPOTHESIS = 8  # narrower than this, the scores would be cut off the right edge
PADDING = 1  # a space each side of a cell
STATUS_STYLE = {
    "kept": Style(color="green"),
    "reverted": Style(color="yellow"),
    "aborted": Style(color="red"),
    "running": Style(color="green", bold=True),
    "awaiting_approval": Style(color="magenta"),
}
GAIN, LOSS = Style(color="green"), Style(color="red")


class ExperimentTable(ScrollView, can_focus=True):
    """Rows of the history under a header that stays; a cursor row, moved by keys or a
    click. Enter or a click on a row posts `Selected`; a click on the header posts
    `HeaderClicked`; each move of the cursor posts `Highlighted`."""

    COMPONENT_CLASSES = {
        "experiment-table--header",
        "experiment-table--cursor",
        "experiment-table--even-row",
    }
    DEFAULT_CSS = """
    ExperimentTable {
        background: $surface;
        color: $foreground;
        & > .experiment-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .experiment-table--even-row {
            background: $surface-lighten-1;
        }
        & > .experiment-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .experiment-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    BINDINGS = [
        Binding("enter", "select", "Open", show=False),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,ctrl+home", "move(-1000000000)", "First", show=False),
        Binding("end,ctrl+end", "move(1000000000)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=False, repaint=False)

    @dataclass
    class Selected(Message):
        experiment_id: str

    @dataclass
    class HeaderClicked(Message):
        column: str

    @dataclass
    class Highlighted(Message):
        index: int

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[ExperimentRow] = []

    # -- the rows ------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows)

    def clear(self) -> None:
        self.rows = []
        self.set_reactive(ExperimentTable.cursor, 0)
        self.scroll_to(y=0, animate=False, immediate=True)
        self._rows_changed()

    def add_rows(self, rows: Sequence[ExperimentRow]) -> None:
        self.rows.extend(rows)
        self._rows_changed()

    @property
    def columns(self) -> tuple[str, ...]:
        side_by_side = any(row.runner not in ("", "slot-1") for row in self.rows)
        return (*COLUMNS, RAN) if side_by_side else COLUMNS

    def _rows_changed(self) -> None:
        # No width of its own: the rows are cut to the widget's, so there is never a
        # horizontal scrollbar, whatever the terminal is resized to.
        self.virtual_size = Size(0, len(self.rows) + 1)  # + the header
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------
    def widths(self) -> dict[str, int]:
        columns = self.columns
        fixed = sum(WIDTHS[name] for name in columns if name in WIDTHS)
        rest = self.scrollable_content_region.width - fixed - 2 * PADDING * len(columns)
        return {name: WIDTHS.get(name, max(MIN_HYPOTHESIS, rest)) for name in columns}

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:  # the header stays while the rows scroll under it
            style = self.get_component_rich_style("experiment-table--header")
            return self._strip([(name, None) for name in self.columns], style, width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        if index == self.cursor:
            style = self.get_component_rich_style("experiment-table--cursor")
        elif index % 2:
            style = self.get_component_rich_style("experiment-table--even-row")
        else:
            style = self.rich_style
        delta = row.delta
        gain = GAIN if (delta or 0) > 0 else LOSS if (delta or 0) < 0 else None
        cells = [
            (row.id, None),
            (row.title, None),
            (row.status.replace("awaiting_approval", "waiting"), STATUS_STYLE.get(row.status)),
            (score_cell(row.before), None),
            (score_cell(row.after), None),
            (score_cell(delta, "+"), gain),
            (row.ran, None),
        ]
        return self._strip(cells[: len(self.columns)], style, width)

    def _strip(self, cells: list[tuple[str, Style | None]], base: Style, width: int) -> Strip:
        segments = []
        pad = " " * PADDING
        for (name, cell_width), (text, style) in zip(self.widths().items(), cells, strict=True):
            # One line each: a tab or a newline in a title (an agent's, a note's) would
            # reach the terminal as it is and draw the rest of the row on the next line.
            text = " ".join(text.split())
            if cell_len(text) > cell_width:
                text = set_cell_size(text, cell_width - 1) + "…"
            right = name in ("before", "after", "delta")
            text = text.rjust(cell_width) if right else set_cell_size(text, cell_width)
            segments.append(Segment(pad + text + pad, base + style if style else base))
        return Strip(segments).adjust_cell_length(width, base)

    # -- the cursor ----------------------------------------------------------------------------
    def watch_cursor(self, before: int, now: int) -> None:
        top = self.scroll_offset.y
        shown = max(1, self.scrollable_content_region.height - 1)  # rows under the header
        if now < top:
            self.scroll_to(y=now, animate=False, immediate=True)
        elif now >= top + shown:
            self.scroll_to(y=now - shown + 1, animate=False, immediate=True)
        for index in (before, now):
            self.refresh_line(index + 1)  # below the header
        self.post_message(self.Highlighted(now))

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self.rows) - 1))

    def action_move(self, step: int) -> None:
        self.cursor += step

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_select(self) -> None:
        if self.rows:
            self.post_message(self.Selected(self.rows[self.cursor].id))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x
            for name, cell_width in self.widths().items():
                x -= cell_width + 2 * PADDING
                if x < 0:
                    self.post_message(self.HeaderClicked(name))
                    return
            return
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self.rows):
            self.cursor = index
            self.post_message(self.Selected(self.rows[index].id))
