"""The composite per experiment (kept and reverted marked), baseline and threshold lines,
and a sparkline per dimension."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline
from textual_plotext import PlotextPlot

from factory_tui.run_view import ExperimentView, RunView

SPARK_DIMENSIONS = ("tests", "lint", "coverage", "types")


class ScoreChart(Vertical):
    """Redrawn only when a score changes: plotext draws the whole chart each time."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Score"
        self._signature: tuple = ()

    def compose(self) -> ComposeResult:
        yield PlotextPlot(classes="chart")
        for name in SPARK_DIMENSIONS:
            with Horizontal(classes="spark-row", id=f"spark-row-{name}"):
                yield Label(f"{name:<9}", classes="spark-label")
                yield Sparkline([], id=f"spark-{name}", classes="spark")
                yield Label("", id=f"spark-value-{name}", classes="spark-value")

    def show(self, view: RunView) -> None:
        scored = [e for e in view.experiments.values() if e.after is not None]
        baseline = view.baseline.composite if view.baseline else None
        signature = (tuple((e.id, e.after, e.status) for e in scored), baseline)
        if signature == self._signature:
            return
        self._signature = signature
        self._draw(scored, baseline, view.min_delta)
        self._sparklines(scored, view)

    def _draw(self, scored: list[ExperimentView], baseline: float | None, delta: float) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("experiment")
        numbers = [int(e.id.rsplit("-", 1)[-1]) for e in scored]
        if scored:
            plt.plot(numbers, [e.after for e in scored], color="blue", marker="braille")
            for status, colour, marker in (("kept", "green", "●"), ("reverted", "red", "x")):
                points = [
                    (n, e.after) for n, e in zip(numbers, scored, strict=True) if e.status == status
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    plt.scatter(list(xs), list(ys), color=colour, marker=marker, label=status)
        if baseline is not None:
            plt.hline(baseline, "cyan")
            plt.hline(baseline + delta, "magenta")
        plt.title("composite  (cyan baseline, magenta threshold)")
        plot.refresh()

    def _sparklines(self, scored: list[ExperimentView], view: RunView) -> None:
        for name in SPARK_DIMENSIONS:
            values = []
            for experiment in scored:
                card = experiment.after_card
                dimension = card.dimension(name) if card else None
                if dimension is not None and dimension.score is not None:
                    values.append(dimension.score)
            row = self.query_one(f"#spark-row-{name}")
            row.display = bool(values)
            self.query_one(f"#spark-{name}", Sparkline).data = values
            self.query_one(f"#spark-value-{name}", Label).update(
                f"{values[-1]:.3f}" if values else ""
            )
