"""One way to count best scores and keep rates, for the CLI, the views and the chart; research
mode's lower-is-better metric turns "best" around everywhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual.app import App, ComposeResult

from factory_tui.engine import events as ev
from factory_tui.engine import stats
from factory_tui.engine.models import DimensionScore, Hypothesis, Scorecard
from factory_tui.run_view import ExperimentView, RunView
from factory_tui.widgets.score_chart import ScoreChart


@dataclass
class Done:
    status: str
    before: float | None
    after: float | None


def test_the_best_score_is_the_first_baseline_or_a_kept_result() -> None:
    history = [Done("reverted", 0.5, 0.9), Done("kept", 0.5, 0.6), Done("reverted", 0.6, 0.7)]
    best = stats.best_score(history, before=lambda e: e.before, after=lambda e: e.after)
    assert best == 0.6  # a reverted 0.9 never counts
    lower = stats.best_score(
        history, before=lambda e: e.before, after=lambda e: e.after, direction="lower"
    )
    assert lower == 0.5
    assert stats.best_score([], before=lambda e: e.before, after=lambda e: e.after) is None
    assert stats.keep_rate(history) == 1 / 3
    assert stats.keep_rate([Done("running", None, None)]) is None


def test_best_so_far_follows_the_metric_s_direction() -> None:
    outcomes = [(Done("kept", None, None), 0.4), (Done("reverted", None, None), 0.1)]
    outcomes += [(Done("kept", None, None), 0.3), (Done("kept", None, None), 0.35)]
    assert stats.best_so_far(outcomes, 0.5, "lower") == [0.4, 0.4, 0.3, 0.3]
    assert stats.best_so_far(outcomes, 0.5, "higher") == [0.5, 0.5, 0.5, 0.5]


def metric_card(value: float) -> Scorecard:
    metric = DimensionScore(name="metric", tier="project", score=1 - value, raw={"value": value})
    return Scorecard(tree="t", dimensions=[metric], composite=1 - value)


def test_the_chart_s_best_so_far_line_is_lower_for_a_lower_is_better_metric() -> None:
    view = RunView()
    view.apply(
        ev.RunStarted(
            project="p", mode="research", runtime="offline", approval="auto", base_branch="main",
            pid=1, direction="lower",
        )
    )  # fmt: skip
    view.baseline = metric_card(0.5)
    for number, (status, value) in enumerate([("kept", 0.4), ("reverted", 0.1), ("kept", 0.3)]):
        view.experiments[f"exp-{number + 1:04d}"] = ExperimentView(
            id=f"exp-{number + 1:04d}",
            hypothesis=Hypothesis(title="t", rationale="r", expected_gain=0.0),
            status=status,
            after=1 - value,
            after_card=metric_card(value),
        )

    class ChartApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ScoreChart()

    async def scenario() -> list[float]:
        app = ChartApp()
        async with app.run_test(size=(100, 30)) as pilot:
            chart = app.query_one(ScoreChart)
            chart.show(view)
            await pilot.pause()
            return chart.best_line

    assert view.direction == "lower"
    assert asyncio.run(scenario()) == [0.4, 0.4, 0.3]
