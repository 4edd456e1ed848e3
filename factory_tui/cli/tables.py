"""The tables `factory status` prints, from the database's rows: nothing here loads a
record, the eval or the engine's events, so status starts fast."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rich.markup import escape
from rich.table import Table

from factory_tui.engine.models import DimensionScore, ExperimentRow
from factory_tui.engine.text import score_cell

STATUS_STYLE = {"kept": "bold green", "reverted": "bold yellow", "aborted": "bold red"}


def side_by_side(rows: Iterable[ExperimentRow]) -> bool:
    """Whether any of the rows ran beside others (then a column says where each ran)."""
    return any(row.runner not in ("", "slot-1") for row in rows)


def status_table(rows: Iterable[ExperimentRow], title: str = "experiments") -> Table:
    rows = list(rows)
    ran = side_by_side(rows)
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("id", style="bold")
    table.add_column("hypothesis", overflow="fold")
    table.add_column("verdict")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("delta", justify="right")
    if ran:
        table.add_column("ran (waited)")
    for row in rows:
        table.add_row(
            row.id,
            escape(row.title),
            f"[{STATUS_STYLE.get(row.status, 'bold')}]{row.status}[/]",
            score_cell(row.before),
            score_cell(row.after),
            score_cell(row.delta, "+"),
            *([row.ran] if ran else []),
        )
    return table


def status_lines(rows: Iterable[ExperimentRow]) -> Iterator[str]:
    """Every experiment, one plain line each, the hypothesis last: ten thousand rows print
    in a moment, where a table measures every cell first."""
    yield (
        f"{'id':<10} {'verdict':<17} {'before':>7} {'after':>7} {'delta':>8} {'ran':<12}  "
        "hypothesis"
    )
    for row in rows:
        yield (
            f"{row.id:<10} {row.status:<17} {score_cell(row.before):>7} {score_cell(row.after):>7} "
            f"{score_cell(row.delta, '+'):>8} {row.ran or '-':<12}  {row.title}"
        )


def factory_table(measures: list[DimensionScore]) -> Table:
    """The factory's own scorecard: how well it works on the project (not the project's
    score, and never part of a verdict)."""
    table = Table(title="the factory on this project", title_justify="left", expand=False)
    table.add_column("measure", style="bold")
    table.add_column("score", justify="right")
    table.add_column("reason", overflow="fold")
    for measure in measures:
        score = "[dim]n/a[/]" if measure.score is None else f"{measure.score:.3f}"
        table.add_row(measure.name, score, escape(measure.reason))
    return table
