"""The composite per experiment (kept and reverted marked), baseline (and threshold) lines,
and a sparkline per dimension."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline
from textual_plotext import PlotextPlot

from factory_tui.engine.models import Scorecard
from factory_tui.engine.stats import Direction, best_so_far
from factory_tui.run_view import ExperimentView, RunView

SPARK_DIMENSIONS = ("tests", "lint", "coverage", "types")
MIN_HEIGHT_FOR_LINE = 18  # rows the chart needs before the factory line may take one


def metric_of(card: Scorecard | None, _experiment: ExperimentView | None = None) -> float | None:
    """Research mode's metric value in a scorecard."""
    return card.value("metric") if card else None


class ScoreChart(Vertical):
    """Redrawn only when a score changes: plotext draws the whole chart each time."""

    DEFAULT_CSS = """
    ScoreChart {
        border: round $primary-darken-1;
    }

    ScoreChart > .chart {
        height: 1fr;
    }

    ScoreChart > .spark-row {
        height: 1;
    }

    ScoreChart .spark-label {
        width: 10;
        color: $text-muted;
    }

    ScoreChart .spark {
        width: 1fr;
    }

    ScoreChart .spark-value {
        width: 6;
        text-align: right;
    }

    ScoreChart > .factory-line {
        height: 1;
        color: $text-muted;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Score"
        self._signature: tuple[object, ...] = ()
        self._factory_line = ""
        self.best_line: list[float] = []  # research mode's best-so-far, as last drawn

    def compose(self) -> ComposeResult:
        yield PlotextPlot(classes="chart")
        for name in SPARK_DIMENSIONS:
            with Horizontal(classes="spark-row", id=f"spark-row-{name}"):
                yield Label(f"{name:<9}", classes="spark-label")
                yield Sparkline([], id=f"spark-{name}", classes="spark")
                yield Label("", id=f"spark-value-{name}", classes="spark-value")
        # The factory's own scorecard: how it works on the project, apart from the score.
        yield Label("", id="factory-line", classes="factory-line")

    def show(self, view: RunView) -> None:
        research = view.mode == "research"
        value: Callable[[Scorecard | None, ExperimentView], float | None] = (
            metric_of if research else (lambda card, e: e.after)
        )
        values = [
            (e, value(e.after_card, e)) for e in view.experiments.values() if e.after is not None
        ]
        scored = [(e, v) for e, v in values if v is not None]
        baseline = (
            metric_of(view.baseline, None)
            if research
            else view.baseline.composite
            if view.baseline
            else None
        )
        statuses = tuple((e.id, e.status) for e in view.experiments.values())
        signature = (
            research,
            view.direction,
            tuple((e.id, v, e.status) for e, v in scored),
            baseline,
            statuses,
        )
        if signature == self._signature:
            return
        self._signature = signature
        self._draw(scored, baseline, view.min_delta, research, view.direction)
        self._sparklines([e for e, _ in scored], view)
        self._factory_line = view.factory_line
        self._place_factory_line()

    def on_resize(self) -> None:
        self._place_factory_line()

    def _place_factory_line(self) -> None:
        """The factory line only where it leaves the plot room (not in a 24-row terminal)."""
        line = self.query_one("#factory-line", Label)
        line.update(self._factory_line)
        line.display = bool(self._factory_line) and self.size.height >= MIN_HEIGHT_FOR_LINE

    def _draw(
        self,
        scored: list[tuple[ExperimentView, float]],
        baseline: float | None,
        delta: float,
        research: bool,
        direction: Direction,
    ) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("experiment")
        numbers = [int(e.id.rsplit("-", 1)[-1]) for e, _ in scored]
        values = [v for _, v in scored]
        if scored:
            plt.plot(numbers, values, color="blue", marker="braille")
            for status, colour, marker in (("kept", "green", "●"), ("reverted", "red", "x")):
                points = [
                    (n, v) for n, (e, v) in zip(numbers, scored, strict=True) if e.status == status
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    plt.scatter(list(xs), list(ys), color=colour, marker=marker, label=status)
        if research:
            self.best_line = best_so_far(scored, baseline, direction)
            if self.best_line:
                plt.plot(numbers, self.best_line, color="yellow", marker="braille")
            plt.title(f"metric, {direction} is better  (yellow best so far)")
        else:
            if baseline is not None:
                plt.hline(baseline, "cyan")
                if delta > 0:  # the composite rise a keep needs, when one is asked for
                    plt.hline(baseline + delta, "magenta")
            legend = ", magenta threshold" if delta > 0 else ""
            plt.title(f"composite  (cyan baseline{legend})")
        plot.refresh()

    def _sparklines(self, scored: list[ExperimentView], view: RunView) -> None:
        # From the first measurement of the base, so a run with no experiment yet shows it.
        first = next(iter(view.experiments.values()), None)
        start = first.before_card if first is not None else view.baseline
        measured = [(start, True), *((e.after_card, e.status == "kept") for e in scored)]
        for name in SPARK_DIMENSIONS:
            values, now = [], None  # every measurement; the base's score as it stands
            for card, on_base in measured:
                dimension = card.dimension(name) if card else None
                if dimension is not None and dimension.score is not None:
                    values.append(dimension.score)
                    now = dimension.score if on_base else now
            row = self.query_one(f"#spark-row-{name}")
            row.display = bool(values)
            self.query_one(f"#spark-{name}", Sparkline).data = values
            self.query_one(f"#spark-value-{name}", Label).update(
                "" if now is None else f"{now:.3f}"
            )
