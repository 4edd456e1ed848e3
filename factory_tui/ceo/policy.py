"""What a mode changes in a cycle, in one place instead of branches through it.

Improve mode (and build, focus, loop) is the base policy: it changes nothing. Research mode
hides the fixed surfaces from the agents, reads the ground truth once, screens hypotheses and
diffs for leakage, and keeps only a metric at least the best so far. Meta mode curates the
playbooks after each experiment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from factory_tui.agents import contracts
from factory_tui.agents.base import AgentContext
from factory_tui.engine import stats
from factory_tui.engine.config import EvalConfig, ResearchConfig
from factory_tui.engine.events import RunMode
from factory_tui.engine.models import Check, Experiment, Hypothesis, Scorecard
from factory_tui.engine.paths import matches
from factory_tui.eval.diffs import added_text
from factory_tui.eval.leakage import GroundTruth, Risk, assess

from . import decide
from .playbooks import Playbooks, ace

if TYPE_CHECKING:
    from factory_tui.engine.store import Store

    from .agent_calls import AgentCalls
    from .run import Notify

RESEARCH_METRIC = "metric"


def metric_value(card: Scorecard | None) -> float | None:
    """Research mode's metric in a scorecard, as the command reported it."""
    return card.value(RESEARCH_METRIC) if card else None


class Policy:
    """Improve mode: every hook leaves the cycle as it is."""

    direction: stats.Direction = "higher"
    metric: str | None = None  # the metric the mode optimises, when it has its own
    hides_paths = False  # whether `hidden` keeps anything out of the agents' checkout
    # A tree measured before needs no checkout to be scored again.
    reuses_measured_trees = True

    def hidden(self, path: str) -> bool:
        """Paths kept out of the agents' checkout."""
        return False

    @property
    def protected(self) -> set[str]:
        """Paths an experiment may not change (the guards trip on them)."""
        return set()

    async def read_truth(self, eval_root: Path) -> None:
        """Called with each checkout the eval measures."""

    def failure_on_base(self, problems: dict[str, str]) -> str | None:
        """Why the run cannot go on, given the metrics that failed on the base."""
        return None

    async def before_research(
        self, agents: AgentCalls, experiment_id: str, slot: Path, context: AgentContext
    ) -> None:
        """A step before the Researcher, in the same context."""

    def screen(
        self, hypotheses: list[Hypothesis], notify: Notify, experiment_id: str
    ) -> list[Hypothesis]:
        return hypotheses

    def leak(self, diff: str) -> Risk | None:
        """How much of what the agents must not see a diff carries."""
        return None

    def precheck(
        self,
        experiment: Experiment,
        settings: EvalConfig,
        guards: list[Check],
        extra: list[Check],
        diff: str,
    ) -> list[Check]:
        assert experiment.before is not None and experiment.after is not None
        return decide.precheck(
            experiment.before, experiment.after, experiment.review, settings, guards, extra
        )

    def after_experiment(self, experiment: Experiment, notify: Notify) -> None:
        """Called once an experiment is concluded, before the next cycle."""


class ResearchPolicy(Policy):
    """Optimise one metric without the agents ever seeing what it is measured on."""

    reuses_measured_trees = False  # the ground truth is read from the eval's own checkout

    metric = RESEARCH_METRIC

    def __init__(
        self, research: ResearchConfig, best_so_far: Callable[[str, str], float | None]
    ) -> None:
        self.research = research
        # (metric, direction) -> the best the project reached, over its whole history.
        self.best_so_far = best_so_far
        self.direction = research.direction
        self.hides_paths = bool(research.fixed)
        self.truth: GroundTruth | None = None

    def hidden(self, path: str) -> bool:
        return matches(path, self.research.fixed)

    @property
    def protected(self) -> set[str]:
        return set(self.research.fixed)

    async def read_truth(self, eval_root: Path) -> None:
        if self.truth is None:
            self.truth = await asyncio.to_thread(GroundTruth.read, eval_root, self.research.fixed)

    def failure_on_base(self, problems: dict[str, str]) -> str | None:
        if RESEARCH_METRIC not in problems:
            return None
        return (
            f"the research metric failed on the base (`{self.research.command}`): "
            f"{problems[RESEARCH_METRIC]}"
        )

    async def before_research(
        self, agents: AgentCalls, experiment_id: str, slot: Path, context: AgentContext
    ) -> None:
        """The Failure Analyst classifies the failing cases of the last metric run, from
        counts by kind only (never the cases themselves)."""
        before = context.before
        metric = before.dimension(RESEARCH_METRIC) if before else None
        raw = metric.raw.get("failures") if metric else None
        context.research_failures = json.loads(raw) if isinstance(raw, str) else {}
        analysed = await agents.call(contracts.FAILURE_ANALYST, slot, context, experiment_id)
        if analysed.ok:
            context.failures = analysed.result.summary

    def screen(
        self, hypotheses: list[Hypothesis], notify: Notify, experiment_id: str
    ) -> list[Hypothesis]:
        """Leakage gate 1: a hypothesis carrying the ground truth is redirected (skipped)."""
        if self.truth is None:
            return hypotheses
        kept = []
        for hypothesis in hypotheses:
            risk = assess(f"{hypothesis.title}\n{hypothesis.rationale}", self.truth)
            if risk.blocks:
                notify(
                    f"hypothesis redirected, {risk.describe()}: {hypothesis.title}",
                    "warning",
                    experiment_id,
                )
                continue
            kept.append(hypothesis)
        return kept

    def leak(self, diff: str) -> Risk | None:
        """Leakage gate 2: the ground truth in a diff's added lines."""
        return None if self.truth is None else assess(added_text(diff), self.truth)

    def precheck(
        self,
        experiment: Experiment,
        settings: EvalConfig,
        guards: list[Check],
        extra: list[Check],
        diff: str,
    ) -> list[Check]:
        assert experiment.before is not None and experiment.after is not None
        leak = self.leak(diff)
        extra = [
            *extra,
            Check(
                name="no leakage",
                ok=leak is None or not leak.blocks,
                detail=leak.describe() if leak else "no ground truth read",
            ),
        ]
        # The first baseline and every kept result, asked of the database, and this base.
        best = stats.best_of(
            [self.best_so_far(RESEARCH_METRIC, self.direction), metric_value(experiment.before)],
            self.direction,
        )
        return decide.research_precheck(
            experiment.before,
            experiment.after,
            experiment.review,
            settings,
            best,
            self.direction,
            RESEARCH_METRIC,
            guards,
            extra,
        )


class MetaPolicy(Policy):
    """The playbooks learn from each experiment before the next cycle."""

    def __init__(self, curate: Callable[[], dict[str, list[str]]]) -> None:
        self.curate = curate

    def after_experiment(self, experiment: Experiment, notify: Notify) -> None:
        changes = self.curate()
        if changes:
            summary = ", ".join(f"{role} {len(lines)}" for role, lines in changes.items())
            notify(f"playbooks curated ({summary} change(s))", "info", experiment.id)
        else:
            notify("playbooks unchanged", "info", experiment.id)


def policy_for(
    mode: RunMode, research: ResearchConfig | None, store: Store, playbooks: Playbooks
) -> Policy:
    if mode == "research":
        assert research is not None
        return ResearchPolicy(research, store.best_value)
    if mode == "meta":
        return MetaPolicy(lambda: ace(store, playbooks))
    return Policy()
