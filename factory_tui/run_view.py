"""What a front end shows about a run, folded from the event stream.

`RunView.apply(event)` is the only way state changes, so the TUI attached to a live run and
the TUI following `.factory/events.jsonl` from another terminal show exactly the same thing.
No Textual here: the view is plain data, tested without a screen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from factory_tui.engine import events as ev
from factory_tui.engine import stats
from factory_tui.engine.models import (
    AgentUsage,
    Experiment,
    Hypothesis,
    Review,
    Role,
    Scorecard,
    Stage,
    Verdict,
    score_changes,
)
from factory_tui.eval.factory_scorecard import Outcome, factory_scorecard
from factory_tui.event_text import out_of_reach_text

PIPELINE_STAGES = (
    Stage.RESEARCHER,
    Stage.STRATEGIST,
    Stage.BUILDER,
    Stage.REVIEWER,
    Stage.EVALUATOR,
    Stage.CEO,
    Stage.ARCHIVIST,
)
PANE_ROLES = (
    Role.RESEARCHER,
    Role.STRATEGIST,
    Role.BUILDER,
    Role.REVIEWER,
    Role.EVALUATOR,
    Role.FAILURE_ANALYST,
    Role.ARCHIVIST,
    Role.DISTILLER,
)


@dataclass
class AgentView:
    role: Role
    state: str = "idle"  # idle | running | done | failed
    experiment: str | None = None
    started: float | None = None
    finished: float | None = None
    usage: AgentUsage = field(default_factory=AgentUsage)
    error: str | None = None
    # The experiments this role runs for right now (several side by side with parallel).
    running_for: list[str] = field(default_factory=list)

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or now) - self.started


@dataclass
class ExperimentView:
    id: str
    hypothesis: Hypothesis
    branch: str = ""
    status: str = "running"  # running | awaiting_approval | kept | reverted | aborted
    before: float | None = None
    after: float | None = None
    before_card: Scorecard | None = None
    after_card: Scorecard | None = None
    verdict: Verdict | None = None
    review: Review | None = None
    started: float = 0.0

    @classmethod
    def of(cls, record: Experiment) -> ExperimentView:
        """A recorded experiment as the views show it."""
        return cls(
            id=record.id,
            hypothesis=record.hypothesis,
            branch=record.branch,
            status=record.status.value,
            before=record.before.composite if record.before else None,
            after=record.after.composite if record.after else None,
            before_card=record.before,
            after_card=record.after,
            verdict=record.verdict,
            review=record.review,
            started=record.started_at,
        )

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass
class ApprovalView:
    experiment: str
    recommendation: Verdict
    diffstat: str


@dataclass
class RunView:
    project: str = ""
    mode: str = ""
    direction: stats.Direction = "higher"  # research mode's metric: which way is better
    runtime: str = ""
    approval: str = "auto"
    sandboxed: bool = True
    base_branch: str = ""
    state: str = "idle"
    cycle: int = 0
    cost_usd: float = 0.0
    stage: Stage | None = None
    stage_started: float | None = None
    parallel: int = 1
    # With several experiments at once: the stage each running one is in.
    stage_of: dict[str, Stage] = field(default_factory=dict)
    finished_status: str | None = None
    agents: dict[Role, AgentView] = field(
        default_factory=lambda: {role: AgentView(role) for role in PANE_ROLES}
    )
    experiments: dict[str, ExperimentView] = field(default_factory=dict)
    proposed: list[Hypothesis] = field(default_factory=list)
    baseline: Scorecard | None = None
    # Experiments waiting for a person, in the order they asked: one decision each.
    waiting: dict[str, ApprovalView] = field(default_factory=dict)
    nonces: dict[str, str] = field(default_factory=dict)  # experiment -> its decision nonce
    last_notice: ev.Notice | None = None
    min_delta: float = 0.0
    # Backlog items the runtime said it will not build (offline: no model), and why.
    out_of_reach: list[str] = field(default_factory=list)
    limits: str = ""
    # The best of the whole history, which the seeded experiments may not reach back to.
    earlier_best: float | None = None

    # -- derived -----------------------------------------------------------------------------
    @property
    def best(self) -> float | None:
        """The best composite: the first baseline, every kept result and the base now."""
        return stats.best_score(
            list(self.experiments.values()),
            before=lambda e: e.before,
            after=lambda e: e.after,
            also=[self.baseline.composite if self.baseline else None, self.earlier_best],
        )

    @property
    def factory_line(self) -> str:
        """The factory's own scorecard in one line: keep rate, kinds of change, grounding."""
        outcomes = [
            Outcome(
                e.hypothesis,
                e.status,
                e.before,
                e.after,
                score_changes(e.before_card, e.after_card),
            )
            for e in self.experiments.values()
        ]
        diversity, grounding, effectiveness, calibration = factory_scorecard(outcomes)
        if effectiveness.score is None:
            return ""
        kept, finished = effectiveness.raw["kept"], effectiveness.raw["finished"]
        line = (
            f"factory: kept {kept}/{finished} recent · {diversity.raw['distinct']} kind(s) "
            f"of change · {grounding.raw['grounded']}/{grounding.raw['experiments']} grounded"
        )
        if calibration.score is not None:
            hits, predictions = calibration.raw["hits"], calibration.raw["predictions"]
            line += f" · predictions {hits}/{predictions} right"
        return line

    @property
    def pending(self) -> ApprovalView | None:
        """The first experiment waiting for a decision, if one is."""
        return next(iter(self.waiting.values()), None)

    def stop(self, now: float, status: str = "interrupted") -> None:
        """The run is over (it said so, or its lock is gone): nothing runs or waits now."""
        for agent in self.agents.values():
            if agent.state == "running":
                agent.state, agent.finished = "stopped", now
        self.waiting.clear()
        self.stage, self.stage_started = None, None
        if self.finished_status is None:
            self.finished_status = status
        if self.state != "failed":
            self.state = "idle"

    @property
    def running_experiment(self) -> ExperimentView | None:
        return next(
            (
                e
                for e in reversed(self.experiments.values())
                if e.status in ("running", "awaiting_approval")
            ),
            None,
        )

    def stage_elapsed(self, now: float) -> float:
        return 0.0 if self.stage_started is None else now - self.stage_started

    # -- seeding and folding -----------------------------------------------------------------
    def seed(self, experiments: Iterable[Experiment], earlier_best: float | None = None) -> None:
        """Start from the project's recorded experiments (earlier runs included): the last
        few hundred, and the best of all of them (`earlier_best`), so a month of history
        costs the dashboard no more than a day's."""
        for record in experiments:
            self.experiments[record.id] = ExperimentView.of(record)
        self.earlier_best = earlier_best

    # -- folding -----------------------------------------------------------------------------
    def apply_all(self, events: Iterable[ev.Event]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: ev.Event) -> None:
        handler = getattr(self, f"_on_{getattr(event, 'type', '')}", None)
        if handler is not None:
            handler(event)

    def _on_run_started(self, event: ev.RunStarted) -> None:
        self.project = event.project.rstrip("/").rsplit("/", 1)[-1]
        self.mode, self.runtime, self.approval = event.mode, event.runtime, event.approval
        self.direction = event.direction
        self.sandboxed = event.sandboxed
        self.base_branch = event.base_branch
        self.parallel = event.parallel
        self.stage_of.clear()
        self.state, self.finished_status = "running", None

    def _on_run_state(self, event: ev.RunStateChanged) -> None:
        self.state = event.state

    def _on_approval_changed(self, event: ev.ApprovalChanged) -> None:
        self.approval = event.approval

    def _on_reviewed(self, event: ev.Reviewed) -> None:
        experiment = self.experiments.get(event.experiment or "")
        if experiment is not None:
            experiment.review = event.review

    def _on_run_finished(self, event: ev.RunFinished) -> None:
        self.finished_status = event.status
        self.state = "failed" if event.status == "failed" else "idle"
        self.stop(event.ts, event.status)

    def _on_log_continued(self, event: ev.LogContinued) -> None:
        self.apply_all(event.events())

    def _on_cycle_started(self, event: ev.CycleStarted) -> None:
        self.cycle = max(self.cycle + 1, event.cycle)

    def _on_stage_started(self, event: ev.StageStarted) -> None:
        # The baseline is the Evaluator's work too; the bar shows it there.
        self.stage = Stage.EVALUATOR if event.stage is Stage.BASELINE else event.stage
        self.stage_started = event.ts
        if event.experiment is not None and self.parallel > 1:
            self.stage_of[event.experiment] = self.stage

    def _on_stage_finished(self, event: ev.StageFinished) -> None:
        self.stage_started = None

    def _on_agent_started(self, event: ev.AgentStarted) -> None:
        earlier = self.agents.get(event.role)
        running = [*(earlier.running_for if earlier else []), event.experiment or ""]
        self.agents[event.role] = AgentView(
            role=event.role,
            state="running",
            experiment=event.experiment,
            started=event.ts,
            running_for=running,
        )

    def _on_agent_finished(self, event: ev.AgentFinished) -> None:
        agent = self.agents.setdefault(event.role, AgentView(event.role))
        with contextlib.suppress(ValueError):
            agent.running_for.remove(event.experiment or "")
        if agent.running_for:  # the same role still runs for another experiment
            agent.usage = agent.usage + event.usage
            self.cost_usd += event.usage.cost_usd
            return
        agent.state = "done" if event.ok else "failed"
        agent.finished = event.ts
        if agent.started is None:
            agent.started = event.ts - event.elapsed
        agent.usage, agent.error = event.usage, event.error
        self.cost_usd += event.usage.cost_usd

    def _on_hypotheses(self, event: ev.HypothesesProposed) -> None:
        self.proposed = list(event.hypotheses)

    def _on_experiment_started(self, event: ev.ExperimentStarted) -> None:
        assert event.experiment is not None
        before = self.baseline.composite if self.baseline else None
        self.experiments[event.experiment] = ExperimentView(
            id=event.experiment,
            hypothesis=event.hypothesis,
            branch=event.branch,
            before=before,
            before_card=self.baseline,
            started=event.ts,
        )
        self.proposed = [h for h in self.proposed if h.title != event.hypothesis.title]

    def _on_scored(self, event: ev.Scored) -> None:
        if event.kind == "baseline":
            self.baseline = event.scorecard
            return
        experiment = self.experiments.get(event.experiment or "")
        if experiment is not None:
            experiment.after = event.scorecard.composite
            experiment.after_card = event.scorecard

    def _on_approval_requested(self, event: ev.ApprovalRequested) -> None:
        assert event.experiment is not None
        self.waiting[event.experiment] = ApprovalView(
            event.experiment, event.recommendation, event.diffstat
        )
        self.nonces[event.experiment] = event.nonce
        if event.experiment in self.experiments:
            self.experiments[event.experiment].status = "awaiting_approval"

    def _on_experiment_finished(self, event: ev.ExperimentFinished) -> None:
        self.stage_of.pop(event.experiment or "", None)
        experiment = self.experiments.get(event.experiment or "")
        if experiment is None:
            return
        experiment.status, experiment.verdict = event.status, event.verdict
        if event.before is not None:
            experiment.before = event.before
        if event.after is not None:
            experiment.after = event.after
        self.waiting.pop(experiment.id, None)

    def _on_notice(self, event: ev.Notice) -> None:
        self.last_notice = event

    def _on_out_of_reach(self, event: ev.OutOfReach) -> None:
        self.out_of_reach, self.limits = event.items, event.reason
        if event.items:
            text = out_of_reach_text(event)
            self.last_notice = ev.Notice(ts=event.ts, level="warning", message=text)


# One flush of agent output: per role, its lines in runs of the same experiment, in order.
Output = dict[Role, list[tuple[str | None, list[str]]]]
