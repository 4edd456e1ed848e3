"""The CEO: the cycle state machine that turns research into kept or reverted experiments.

One cycle is Researcher -> Strategist -> Builder -> Reviewer -> Evaluator -> CEO -> Archivist.
The pipeline speaks only in events (see `events.py`); every front end renders them. It owns
the run's lifecycle too: the project lock, recovery of experiments a killed run left behind,
and clean-up on cancellation, so the user's branch, working tree and `.factory/` history
survive every fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TypeVar

from factory_tui.agents.base import AgentContext, AgentRequest, AgentRun, OutputKind, Runtime
from factory_tui.agents.contracts import (
    ArchivistOutput,
    BuilderOutput,
    FailureAnalystOutput,
    ResearcherOutput,
    ReviewerOutput,
    StrategistOutput,
)
from factory_tui.eval import tools
from factory_tui.eval.evaluator import EvalRequest, Evaluator
from factory_tui.eval.factory_scorecard import factory_scorecard
from factory_tui.eval.guards import GuardInput, guard_test_counts, needs_a_person, run_guards
from factory_tui.eval.leakage import GroundTruth, Risk, added_lines, assess, is_fixed
from factory_tui.eval.project_metrics import metric_paths
from factory_tui.eval.secrets import SecretFinding, scan_diff
from factory_tui.eval.similarity import Target, reverted_targets, similarity_check, standing
from factory_tui.eval.special_cases import special_cases, test_literals

from . import build, decide, stats
from .build import BuildPlan
from .config import FactoryConfig, MetricConfig
from .errors import FactoryError, UsageError
from .events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    ApprovalChanged,
    ApprovalRequested,
    CycleFinished,
    CycleStarted,
    Event,
    EventBus,
    ExperimentFinished,
    ExperimentStarted,
    FindingsReported,
    HypothesesProposed,
    Notice,
    OutOfReach,
    Reviewed,
    RunFinished,
    RunStarted,
    RunStateChanged,
    Scored,
    StageFinished,
    StageStarted,
)
from .models import (
    AgentUsage,
    BacklogItem,
    Check,
    Experiment,
    ExperimentStatus,
    Hypothesis,
    Review,
    Role,
    Scorecard,
    Stage,
    Verdict,
)
from .playbooks import PLAYBOOK_ROLES, Playbooks, ace
from .redact import redact
from .registry import Registry
from .sandbox import Jail, Sandbox, View
from .store import Store, write_atomic
from .text import money, plain
from .workspace import (
    EXPERIMENT_PREFIX,
    KEPT_PREFIX,
    REVERTED_PREFIX,
    BaseMoved,
    KeepRefused,
    Workspace,
)

T = TypeVar("T")
SLOT = "slot-1"
EVAL_SLOT = "eval-1"  # the checkout the eval measures; agents never see it
TESTS_SLOT = "tests-1"  # an experiment's code with the base's tests, where its tests run
RESEARCH_METRIC = "metric"
RECENT_NOTES = 5  # archive notes the Researcher and Strategist read
STAGE_NAMES = {stage.value for stage in Stage}


@dataclass
class RunOptions:
    mode: str = "improve"
    cycles: int | None = 1
    # None: the project's config decides.
    runtime: str | None = None
    approval: str | None = None
    # Stop the run cleanly once the agents have cost this much (USD).
    max_cost: float | None = None
    # Focus mode: one hypothesis and one experiment for the backlog item matching this text.
    focus: str | None = None
    # Unattended: cycle, wait `interval` seconds, repeat (up to `cycles`, if set); a failing
    # cycle is recorded and the loop goes on.
    loop: bool = False
    interval: float = 0.0
    # Build mode on a new project (its first commit empty): make the project first.
    build: BuildPlan | None = None


class BudgetSpent(FactoryError):
    """The run's cost limit is reached: it stops before the next agent starts."""


class StopRequested(FactoryError):
    """A stop was asked for (SIGTERM in a loop): the run ends after the current stage."""


class CycleFailed(FactoryError):
    """A cycle could not go on (an agent failed before any experiment began)."""


class Pipeline:
    """Runs cycles on one project. Create with `Pipeline.open`, then `await run()`."""

    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        config: FactoryConfig,
        runtime: Runtime,
        evaluator: Evaluator,
        gate: decide.ApprovalGate,
        options: RunOptions,
        bus: EventBus | None = None,
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.config = config
        self.runtime = runtime
        self.evaluator = evaluator
        self.gate = gate
        self.options = options
        self.bus = bus or EventBus(store.events_path)
        self.python = tools.project_python(workspace.project)
        self.sandbox = evaluator.sandbox or Sandbox("off")
        self.cost_usd = 0.0
        self.experiments_run = 0
        self.focus_item: BacklogItem | None = None
        self.playbooks = Playbooks(store.root)
        self.research = config.research if options.mode == "research" else None
        self.truth: GroundTruth | None = None
        self._resume = asyncio.Event()
        self._resume.set()
        self._wake = asyncio.Event()  # ends a loop's wait early: stop, or "next cycle now"
        self.stop_requested = False
        self.reverted_in_a_row = 0
        self.plateau: str | None = None  # why the run is at a plateau, once it is
        self.plateau_reason = ""
        self.plateau_inputs: tuple[str, str, str, str] | None = None
        self.nothing = ""  # why the Strategist had nothing to propose, when it said
        self.failure: str | None = None  # why the run cannot go on (a metric failing on the base)
        # Per experiment, the roles whose output held a secret (masked wherever it went).
        self.secrets_said: dict[str, set[str]] = {}
        self.out_of_reach: list[str] = []  # backlog items the runtime said it cannot do

    @classmethod
    def open(cls, project: Path, options: RunOptions, bus: EventBus | None = None) -> Pipeline:
        """Validate the project and build a pipeline for it; raises UsageError on bad input."""
        from factory_tui.agents import make_runtime

        workspace = Workspace.open(project)
        store = Store(workspace.project)
        config = store.config()
        sandbox = Sandbox(config.sandbox)
        runtime = make_runtime(options.runtime or config.runtime, config, sandbox)
        eval_config = config.eval
        if options.mode == "research":
            if config.research is None:
                raise UsageError(
                    f"{store.config_path}: research mode needs a [research] table "
                    "with the metric's command (and its fixed surfaces)"
                )
            metric = MetricConfig(**config.research.model_dump(exclude={"fixed"}))
            eval_config = config.eval.model_copy(
                update={"metrics": {**config.eval.metrics, RESEARCH_METRIC: metric}}
            )
        evaluator = Evaluator(
            eval_config, store.root, tools.project_python(workspace.project), sandbox
        )
        approval = options.approval or config.approval
        gate: decide.ApprovalGate = (
            decide.ManualApproval(store.experiments_dir)
            if approval == "manual"
            else decide.AutoApproval()
        )
        pipeline = cls(
            workspace,
            store,
            config,
            runtime,
            evaluator,
            gate,
            options,
            bus or EventBus(store.events_path),
        )
        if isinstance(gate, decide.ManualApproval):
            gate.on_ignored = pipeline._ignored_decision
        return pipeline

    # -- events ------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self.bus.emit(event)

    def notice(self, message: str, level: str = "info", experiment: str | None = None) -> None:
        self.emit(Notice(level=level, message=message, experiment=experiment))

    # -- run lifecycle -----------------------------------------------------------------------
    async def run(self) -> RunFinished:
        """Lock the project, recover, run the cycles, and always leave a clean repository."""
        lock = self.store.lock
        self.store.ensure()
        warning = lock.acquire(command=f"factory ceo ({self.options.mode})")
        try:
            await asyncio.to_thread(self.workspace.ensure_excluded)
            with contextlib.suppress(OSError):  # the registry is a convenience, never a blocker
                Registry().record_run(self.workspace.project)
            if warning:
                self.notice(warning, "warning")
            self.emit(
                RunStarted(
                    project=str(self.workspace.project),
                    mode=self.options.mode,
                    runtime=self.runtime.name,
                    approval=self.gate.mode,
                    base_branch=self.workspace.base_branch,
                    pid=os.getpid(),
                    cycles=self.options.cycles,
                    direction=self.research.direction if self.research else "higher",
                    # The offline runtime runs only the user's own tools: no sandbox needed.
                    sandboxed=self.sandbox.enabled or self.runtime.name == "offline",
                )
            )
            await self.recover()
            if self.workspace.tracked_changes():
                self.notice(
                    "the working tree has uncommitted changes to tracked files; "
                    "a keep will stop the run until they are committed",
                    "warning",
                )
            self.emit(RunStateChanged(state="running"))
            if self.options.build is not None:
                await build.make_project(self, self.options.build)
            finished = await self._cycles()
        except asyncio.CancelledError:
            finished = self._outcome("interrupted", "cancelled")
            self._finish(finished)
            raise
        except StopRequested as stopped:
            finished = self._outcome("interrupted", str(stopped))
            self._finish(finished)
            return finished
        except BudgetSpent as spent:
            finished = self._outcome("budget", str(spent))
            self._finish(finished)
            return finished
        except FactoryError as error:
            self._finish(self._outcome("failed", str(error)))
            raise
        else:
            self._finish(finished)
            return finished
        finally:
            lock.release()

    def _outcome(self, status: str, reason: str) -> RunFinished:
        return RunFinished(
            status=status, reason=reason, experiments=self.experiments_run, cost_usd=self.cost_usd
        )

    def _finish(self, finished: RunFinished) -> None:
        with contextlib.suppress(FactoryError, OSError):
            self.emit(RunStateChanged(state="failed" if finished.status == "failed" else "idle"))
            self.emit(finished)
        self.bus.close()

    def reload_config(self) -> None:
        """Take up a config the engine itself changed (build mode's spec metrics)."""
        self.config = self.store.config()
        if self.research is None:
            self.evaluator.config = self.config.eval

    def _say_out_of_reach(self) -> None:
        """Which open backlog items the runtime will not do (offline: no model), said when
        that changes, so no one waits for a feature the run cannot build."""
        requests = [item.title for item in self.store.backlog() if item.status == "open"]
        beyond = self.runtime.out_of_reach(requests)
        if beyond != self.out_of_reach:
            self.out_of_reach = beyond
            self.emit(OutOfReach(items=beyond, reason=self.runtime.limits))

    def request_stop(self) -> None:
        """Finish the current stage, then end the run cleanly (SIGTERM in a loop)."""
        self.stop_requested = True
        self._wake.set()
        self._resume.set()

    def wake(self) -> None:
        """Start the next cycle of a loop now instead of after its interval."""
        self._wake.set()

    async def _loop(self) -> RunFinished:
        number = 0
        while not self.stop_requested and (
            self.options.cycles is None or number < self.options.cycles
        ):
            number += 1
            try:
                if await self._unchanged_since_plateau():
                    self.notice(
                        f"still at the plateau ({self.plateau_reason}); nothing has changed "
                        "since: no cycle runs until the base, the backlog or a message does",
                        "info",
                    )
                else:
                    self.plateau = None
                    self.reverted_in_a_row = 0
                    await self.cycle(number)
                    if self.plateau is not None:
                        self.plateau_reason = self.plateau
                        self.plateau_inputs = await self._inputs()
                        self.notice(f"{self.plateau}; waiting for the next interval", "info")
            except (StopRequested, BudgetSpent, asyncio.CancelledError):
                raise
            except Exception as error:  # one cycle's crash must not end an unattended loop
                self.notice(f"cycle {number} failed and was recorded: {error}", "error")
            if self.failure is not None:
                return self._outcome("failed", self.failure)
            if self.options.cycles is not None and number >= self.options.cycles:
                break
            self._wake.clear()
            self.emit(RunStateChanged(state="idle"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.interval)
            if not self.stop_requested:
                self.emit(RunStateChanged(state="running"))
        return self._outcome(
            "interrupted" if self.stop_requested else "completed",
            "stopped on request" if self.stop_requested else f"{number} cycle(s) run",
        )

    async def _inputs(self) -> tuple[str, str, str, str]:
        """What a new cycle would start from: the base tree, the backlog, the unread
        messages and the config. A loop at a plateau waits until one of them changes."""
        tree = await asyncio.to_thread(self.workspace.tree_of, self.workspace.base_commit())
        backlog = json.dumps([i.model_dump(exclude={"created_at"}) for i in self.store.backlog()])
        messages = json.dumps([m.id for m in self.store.pending_messages()])
        return tree, backlog, messages, self.store.config().model_dump_json()

    async def _unchanged_since_plateau(self) -> bool:
        return self.plateau_inputs is not None and await self._inputs() == self.plateau_inputs

    async def _cycles(self) -> RunFinished:
        if self.options.focus is not None:
            return await self._focus(self.options.focus)
        if self.options.loop:
            return await self._loop()
        number = 0
        while self.options.cycles is None or number < self.options.cycles:
            number += 1
            await self.cycle(number)
            if self.plateau is not None:
                return self._outcome("plateau", self.plateau)
            if self.failure is not None:
                return self._outcome("failed", self.failure)
        return self._outcome("completed", f"{number} cycle(s) run")

    def _note_outcome(self, experiment: Experiment | None, nothing: str) -> None:
        """Track the run's plateau: nothing new to try, or K reverts in a row."""
        if experiment is None:
            self.plateau = nothing
        elif experiment.status == ExperimentStatus.KEPT:
            self.reverted_in_a_row = 0
        elif experiment.status == ExperimentStatus.REVERTED:
            self.reverted_in_a_row += 1
            limit = self.config.run.plateau
            if self.reverted_in_a_row >= limit:
                self.plateau = (
                    f"{limit} experiments in a row were reverted "
                    f"(set [run] plateau in .factory/config.toml to allow more)"
                )

    async def _focus(self, text: str) -> RunFinished:
        """One hypothesis and one experiment for the matching backlog item (made if none)."""
        self.focus_item = self.store.find_backlog_item(text) or self.store.add_backlog_item(text)
        self.notice(f"focus: {self.focus_item.title}")
        experiment = await self.cycle(1)
        if self.failure is not None:
            return self._outcome("failed", self.failure)
        if experiment is None:
            return self._outcome("failed", self.nothing or "no hypothesis for the focus item")
        if experiment.status == ExperimentStatus.KEPT:
            self.store.set_backlog_status(self.focus_item.id, "done")
        return self._outcome("completed", f"focus: {experiment.status.value}")

    async def recover(self) -> None:
        """Abort experiments a killed run left unfinished; their worktree is removed."""
        leftovers = self.store.unfinished_experiments()
        if leftovers or self.workspace.slot_path(SLOT).exists():
            await asyncio.to_thread(self.workspace.remove_slot, SLOT)
        for experiment in leftovers:
            if await self._reconcile_kept(experiment):
                self.notice(
                    f"{experiment.id} was kept (the branch is at its commit) but the run "
                    "ended before recording it: recorded as kept",
                    "warning",
                    experiment.id,
                )
                continue
            archived = await asyncio.to_thread(
                self.workspace.archive_branch, experiment.branch, REVERTED_PREFIX
            )
            experiment.status = ExperimentStatus.ABORTED
            experiment.verdict = Verdict(
                decision="revert",
                decided_by="engine",
                reason="interrupted: the run that started it ended before a verdict",
            )
            experiment.branch = archived or experiment.branch
            experiment.finished_at = time.time()
            self.store.save_experiment(experiment)
            self.notice(
                f"{experiment.id} was interrupted by an earlier run and is recorded "
                f"as aborted; its worktree was removed",
                "warning",
                experiment.id,
            )
        for folder in self.store.experiments_dir.iterdir():
            if folder.is_dir() and not (folder / "experiment.json").exists():
                self.store.release_experiment_id(folder.name)

    async def _reconcile_kept(self, experiment: Experiment) -> bool:
        """Git is the truth: an experiment whose commit the base branch contains was kept,
        whatever its record says. Records it as kept; False when it was not."""
        commit = experiment.commit
        if commit is None or not await asyncio.to_thread(
            self.workspace.is_ancestor, commit, self.workspace.base_commit()
        ):
            return False
        experiment.branch = (
            await asyncio.to_thread(self.workspace.archive_branch, experiment.branch, KEPT_PREFIX)
            or experiment.branch
        )
        experiment.status = ExperimentStatus.KEPT
        checks = experiment.verdict.checks if experiment.verdict else []
        experiment.verdict = Verdict(
            decision="keep",
            decided_by="engine",
            reason="kept: the branch moved to the experiment's commit before the run ended",
            checks=checks,
        )
        experiment.finished_at = time.time()
        self.store.save_experiment(experiment)
        return True

    # -- approval ----------------------------------------------------------------------------
    def set_approval(self, mode: str) -> None:
        """Switch between keeping automatically and asking a person, effective next decision."""
        if mode == self.gate.mode:
            return
        previous = self.gate
        self.gate = self._manual_gate() if mode == "manual" else decide.AutoApproval()
        self.emit(ApprovalChanged(approval=self.gate.mode))
        if isinstance(previous, decide.ManualApproval):
            # Only experiments whose every check passed wait for a person: keep them.
            previous.answer_all(decide.Decision(decision="keep", note="approval set to auto"))

    def _manual_gate(self) -> decide.ManualApproval:
        return decide.ManualApproval(self.store.experiments_dir, self._ignored_decision)

    def _ignored_decision(self, experiment_id: str, why: str) -> None:
        self.notice(
            f"{experiment_id}: {why} was ignored: only you decide", "warning", experiment_id
        )

    def answer(self, experiment_id: str, decision: decide.Decision) -> bool:
        """A person's keep/revert for an experiment awaiting approval in this process."""
        gate = self.gate
        return isinstance(gate, decide.ManualApproval) and gate.answer(experiment_id, decision)

    # -- pause -------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def pause(self) -> None:
        if not self.paused:
            self._resume.clear()
            self.emit(RunStateChanged(state="paused"))

    def resume(self) -> None:
        if self.paused:
            self._resume.set()
            self.emit(RunStateChanged(state="running"))

    async def _checkpoint(self) -> None:
        """Between stages: wait here while paused; stop here once the budget is spent."""
        await self._resume.wait()
        if self.stop_requested:
            raise StopRequested("stopped on request after the current stage")
        limit = self.options.max_cost
        if limit is not None and self.cost_usd >= limit:
            raise BudgetSpent(
                f"the run's cost limit of {money(limit)} is spent ({money(self.cost_usd)})"
            )

    # -- one cycle ---------------------------------------------------------------------------
    async def cycle(self, number: int) -> Experiment | None:
        """Run one cycle. Returns the experiment, or None when nothing is left to try."""
        self.emit(CycleStarted(cycle=number))
        self._say_out_of_reach()
        experiment_id = self.store.allocate_experiment_id()
        base = await asyncio.to_thread(self.workspace.base_commit)
        slot = await self._agent_slot(base)
        try:
            before = await self._score(
                Stage.BASELINE, experiment_id, base, "baseline", EvalRequest()
            )
            self.failure = self._metric_problems(experiment_id)
            hypothesis = None
            if self.failure is None:
                hypothesis, findings_summary = await self._plan(experiment_id, slot, before)
        except BaseException:
            self.store.release_experiment_id(experiment_id)
            raise
        if hypothesis is None:
            self.store.release_experiment_id(experiment_id)
            self.emit(CycleFinished(cycle=number, outcome="nothing to try"))
            if self.failure is None:
                self._note_outcome(None, self.nothing or "the Strategist has nothing new to try")
            return None
        experiment = Experiment(
            id=experiment_id,
            hypothesis=hypothesis,
            branch=f"{EXPERIMENT_PREFIX}{experiment_id}",
            base_commit=base,
            before=before,
        )
        self.store.save_experiment(experiment)
        self.experiments_run += 1
        try:
            await self._experiment(experiment, slot, findings_summary)
        except BaseException as error:
            await asyncio.shield(self._abort(experiment, slot, error))
            raise
        self.emit(
            CycleFinished(cycle=number, outcome=experiment.status.value, experiment=experiment.id)
        )
        self._note_outcome(experiment, "")
        if self.options.mode == "meta":
            self._curate_playbooks(experiment.id)
        return experiment

    def _metric_problems(self, experiment_id: str) -> str | None:
        """Tell the user why a metric failed on the base; research mode cannot go on without
        its metric. What the command said goes to the user only, never to an agent."""
        problems = self.evaluator.metric_problems
        for name, problem in problems.items():
            if name != RESEARCH_METRIC:
                self.notice(f"metric {name} failed on the base: {problem}", "warning")
        if self.research is not None and RESEARCH_METRIC in problems:
            return (
                f"the research metric failed on the base (`{self.research.command}`): "
                f"{problems[RESEARCH_METRIC]}"
            )
        return None

    async def _agent_slot(self, commit: str) -> Path:
        """The agents' checkout of `commit`; in research mode without the fixed surfaces."""
        slot = await asyncio.to_thread(self.workspace.prepare_slot, SLOT, commit)
        if self.research is not None and self.research.fixed:
            fixed = self.research.fixed
            await asyncio.to_thread(
                self.workspace.hide_paths, slot, lambda path: is_fixed(path, fixed)
            )
        return slot

    async def _eval_root(self, commit: str) -> Path:
        """Where `commit` is measured: a checkout of it that no agent works in (the agents'
        slot may hold more than the commit), in research mode with the fixed surfaces the
        metric needs, read once for the ground truth the guards look for."""
        root = await asyncio.to_thread(self.workspace.prepare_slot, EVAL_SLOT, commit)
        if self.research is not None and self.truth is None:
            self.truth = await asyncio.to_thread(GroundTruth.read, root, self.research.fixed)
        return root

    def _leakage(self, diff: str) -> Risk | None:
        """How much of the ground truth a diff's added lines carry (research mode only)."""
        if self.truth is None:
            return None
        return assess(added_lines(diff), self.truth)

    def _best_metric(self, before: Scorecard) -> float | None:
        """The best metric so far: the first baseline, every kept result, and the base now."""
        assert self.research is not None
        return stats.best_score(
            self.store.experiments(),
            before=lambda e: metric_value(e.before),
            after=lambda e: metric_value(e.after),
            direction=self.research.direction,
            also=[metric_value(before)],
        )

    def _curate_playbooks(self, experiment_id: str) -> None:
        """Meta mode: the playbooks learn from the experiment before the next cycle."""
        changes = ace(self.store, self.playbooks)
        if changes:
            summary = ", ".join(f"{role} {len(lines)}" for role, lines in changes.items())
            self.notice(f"playbooks curated ({summary} change(s))", experiment=experiment_id)
        else:
            self.notice("playbooks unchanged", experiment=experiment_id)

    async def _plan(
        self, experiment_id: str, slot: Path, before: Scorecard
    ) -> tuple[Hypothesis | None, str]:
        messages = self.store.pending_messages()
        context = self._context(
            notes=[message.text for message in messages],
            before=before,
            focus=self.focus_item.title if self.focus_item else "",
            mode=self.options.mode,
            evidence=self.evaluator.evidence.get(before.tree),
        )
        if self.research is not None:
            await self._analyse_failures(experiment_id, slot, context, before)
        research = await self._agent(Role.RESEARCHER, slot, context, experiment_id)
        if not research.ok:
            raise CycleFailed(f"the Researcher failed: {research.error}")
        assert isinstance(research.output, ResearcherOutput)
        self.emit(
            FindingsReported(
                experiment=experiment_id,
                summary=research.output.summary,
                findings=research.output.findings,
            )
        )
        context.findings = research.output.findings
        context.research_summary = research.output.summary
        strategy = await self._agent(Role.STRATEGIST, slot, context, experiment_id)
        if not strategy.ok:
            raise CycleFailed(f"the Strategist failed: {strategy.error}")
        if messages:
            self.store.mark_read([message.id for message in messages])
            self.notice(
                f"{len(messages)} message(s) to the CEO delivered to the Researcher and Strategist",
                experiment=experiment_id,
            )
        assert isinstance(strategy.output, StrategistOutput)
        self.nothing = strategy.output.note
        # The titles the Strategist was told were tried: never run one of those again.
        tried = {title.strip().lower(): status for title, status in context.tried.items()}
        fresh = [
            h
            for h in strategy.output.hypotheses
            if tried.get(h.title.strip().lower())
            not in (ExperimentStatus.KEPT, ExperimentStatus.REVERTED)
        ]
        if self.focus_item is not None:
            # Focus: exactly one hypothesis, for the item; asked for by name, so a title
            # tried before may be tried again.
            chosen = (fresh or strategy.output.hypotheses)[:1]
            fresh = [h.model_copy(update={"source": "focus"}) for h in chosen]
        if self.truth is not None:
            fresh = self._screen_hypotheses(fresh, experiment_id)
        self.emit(HypothesesProposed(experiment=experiment_id, hypotheses=fresh))
        return (fresh[0] if fresh else None), research.output.summary

    async def _analyse_failures(
        self, experiment_id: str, slot: Path, context: AgentContext, before: Scorecard
    ) -> None:
        """Research mode's first step: the Failure Analyst classifies the failing cases of
        the last metric run, from counts by kind only (never the cases themselves)."""
        metric = before.dimension(RESEARCH_METRIC)
        raw = metric.raw.get("failures") if metric else None
        context.research_failures = json.loads(raw) if isinstance(raw, str) else {}
        analysed = await self._agent(Role.FAILURE_ANALYST, slot, context, experiment_id)
        if analysed.ok:
            assert isinstance(analysed.output, FailureAnalystOutput)
            context.failures = analysed.output.summary

    def _screen_hypotheses(
        self, hypotheses: list[Hypothesis], experiment_id: str
    ) -> list[Hypothesis]:
        """Leakage gate 1: a hypothesis carrying the ground truth is redirected (skipped)."""
        assert self.truth is not None
        kept = []
        for hypothesis in hypotheses:
            risk = assess(f"{hypothesis.title}\n{hypothesis.rationale}", self.truth)
            if risk.blocks:
                self.notice(
                    f"hypothesis redirected, {risk.describe()}: {hypothesis.title}",
                    "warning",
                    experiment_id,
                )
                continue
            kept.append(hypothesis)
        return kept

    async def _experiment(self, experiment: Experiment, slot: Path, findings: str) -> None:
        workspace, store = self.workspace, self.store
        self.emit(
            ExperimentStarted(
                experiment=experiment.id,
                hypothesis=experiment.hypothesis,
                branch=experiment.branch,
                base_commit=experiment.base_commit,
            )
        )
        # Research ran in the slot: reset it so only the Builder's edits get committed.
        await self._agent_slot(experiment.base_commit)
        await asyncio.to_thread(workspace.start_branch, slot, experiment.branch)
        context = self._context(hypothesis=experiment.hypothesis, research_summary=findings)

        main_before = await asyncio.to_thread(workspace.main_tree_state)
        built = await self._agent(Role.BUILDER, slot, context, experiment.id, experiment)
        main_after = await asyncio.to_thread(workspace.main_tree_state)
        outside = sorted(
            path
            for path in main_before.keys() | main_after.keys()
            if main_before.get(path) != main_after.get(path)
        )
        secrets_found: list[SecretFinding] = []
        if built.ok:
            assert isinstance(built.output, BuilderOutput)
            experiment.builder_summary = built.output.summary
            message = redact(built.output.commit_message or experiment.hypothesis.title)
            # A secret never reaches a commit, not even one archived as reverted.
            staged = await asyncio.to_thread(workspace.stage_slot, slot)
            secrets_found = await asyncio.to_thread(scan_diff, staged)
            if secrets_found:
                await asyncio.to_thread(workspace.clean_slot, slot)
            else:
                experiment.commit = await asyncio.to_thread(
                    workspace.commit_slot,
                    slot,
                    f"{message}\n\nFactory-Experiment: {experiment.id}",
                )
        else:
            experiment.builder_summary = f"Builder failed: {built.error}"
        store.save_experiment(experiment)
        if secrets_found:
            where = ", ".join(str(found) for found in secrets_found[:5])
            check = Check(name="guard: no secrets added", ok=False, detail=f"at {where}")
            await self._conclude(
                experiment,
                slot,
                Verdict(
                    decision="revert",
                    reason=f"a secret was added at {where}: nothing was committed",
                    decided_by="engine",
                    checks=[check],
                ),
                context,
            )
            return
        if experiment.commit is None:
            reason = experiment.builder_summary if not built.ok else "the Builder changed nothing"
            await self._conclude(
                experiment,
                slot,
                Verdict(decision="revert", reason=reason, decided_by="engine"),
                context,
            )
            return

        diff = await asyncio.to_thread(workspace.diff, experiment.base_commit, experiment.commit)
        experiment.diffstat = await asyncio.to_thread(
            workspace.diffstat, experiment.base_commit, experiment.commit
        )
        experiment.files_changed = await asyncio.to_thread(
            workspace.changed_files, experiment.base_commit, experiment.commit
        )
        store.write_artifact(experiment.id, "diff.patch", diff)
        context.diff = diff
        context.builder_summary = experiment.builder_summary
        leak = self._leakage(diff)
        if leak is not None and leak.blocks:  # leakage gate 2: no measuring a leaked answer
            check = Check(name="no leakage", ok=False, detail=leak.describe())
            await self._conclude(
                experiment,
                slot,
                Verdict(
                    decision="revert",
                    reason=f"no leakage failed ({leak.describe()})",
                    decided_by="engine",
                    checks=[check],
                ),
                context,
            )
            return

        await self._checkpoint()
        # The Reviewer reads the commit that is measured, read-only, nothing the Builder left.
        await asyncio.to_thread(workspace.clean_slot, slot)
        reviewed = await self._agent(Role.REVIEWER, slot, context, experiment.id, experiment)
        if reviewed.ok:
            assert isinstance(reviewed.output, ReviewerOutput)
            experiment.review = Review.model_validate(reviewed.output.model_dump())
        else:
            experiment.review = Review(
                verdict="reject",
                concerns=[str(reviewed.error)],
                summary=f"Reviewer failed: {reviewed.error}",
            )
        self.emit(Reviewed(experiment=experiment.id, review=experiment.review))

        guard_input = GuardInput(
            diff=diff,
            worktree=slot,
            config=self.config.eval,
            read_base=lambda path: workspace.file_at(experiment.base_commit, path),
            protected=metric_paths(self.config.eval.metrics, slot)
            | set(self.research.fixed if self.research else []),
            outside_changes=outside,
            category=experiment.hypothesis.category,
        )
        guards = await asyncio.to_thread(run_guards, guard_input)
        person = await asyncio.to_thread(self._needs_a_person, guard_input, experiment)

        await self._checkpoint()
        history = store.experiments()
        experiment.after = await self._score(
            Stage.EVALUATOR,
            experiment.id,
            experiment.commit,
            "experiment",
            EvalRequest(guards=guards, baseline=experiment.before),
            tests_from=experiment.base_commit,
        )
        store.save_experiment(experiment)
        context.after, context.review = experiment.after, experiment.review
        if _tests_regressed(experiment.before, experiment.after):
            analysed = await self._agent(
                Role.FAILURE_ANALYST, slot, context, experiment.id, experiment
            )
            if analysed.ok:
                assert isinstance(analysed.output, FailureAnalystOutput)
                context.failures = analysed.output.summary

        await self._checkpoint()
        verdict = await self._decide(experiment, guards, slot, history, person)
        await self._conclude(experiment, slot, verdict, context)

    def _needs_a_person(self, guard: GuardInput, experiment: Experiment) -> str | None:
        """Why the experiment may not be kept automatically: it changes what the base's
        tests assert (a tests hypothesis may), or its code special-cases their values."""
        reason = needs_a_person(guard)
        if reason is not None:
            return reason
        base = experiment.base_commit
        tests = [
            path
            for path in self.workspace.repo.git.ls_tree("-r", "--name-only", base).splitlines()
            if path.endswith(".py") and tools.is_test_file(path)
        ]
        literals = test_literals(tests, lambda path: self.workspace.file_at(base, path))
        flagged = special_cases(
            guard.diff,
            lambda path: self.workspace.file_at(experiment.commit or base, path),
            literals,
        )
        if flagged:
            return "new code compares with values the tests use: " + "; ".join(flagged[:3])
        return None

    async def _decide(
        self,
        experiment: Experiment,
        guards: list[Check],
        slot: Path,
        history: list[Experiment],
        person: str | None = None,
    ) -> Verdict:
        assert experiment.before is not None and experiment.after is not None
        with self._stage(Stage.CEO, experiment.id):
            # The evaluator's settings: in research mode they hold the research metric too.
            settings = self.evaluator.config
            guards = [
                *guards,
                guard_test_counts(
                    experiment.before.dimension("tests"), experiment.after.dimension("tests")
                ),
            ]
            extra = [
                similarity_check(
                    Target.of_experiment(experiment),
                    reverted_targets(history, exclude=experiment.id),
                    settings.max_similarity,
                )
            ]
            said = sorted(self.secrets_said.get(experiment.id, set()) - {Role.EVALUATOR.title})
            extra.append(
                Check(
                    name="no secret in what the agents said",
                    ok=not said,
                    detail=f"a secret in the output of the {', '.join(said)} (masked in every "
                    "record)"
                    if said
                    else "no secret in any agent's output",
                )
            )
            if settings.smoke_command:
                extra.append(await self._smoke(settings.smoke_command, slot, experiment.id))
            if self.research is not None:
                leak = self._leakage(self.store.read_artifact(experiment.id, "diff.patch") or "")
                extra.append(
                    Check(
                        name="no leakage",
                        ok=leak is None or not leak.blocks,
                        detail=leak.describe() if leak else "no ground truth read",
                    )
                )
                checks = decide.research_precheck(
                    experiment.before,
                    experiment.after,
                    experiment.review,
                    settings,
                    self._best_metric(experiment.before),
                    self.research.direction,
                    RESEARCH_METRIC,
                    guards,
                    extra,
                )
            else:
                checks = decide.precheck(
                    experiment.before, experiment.after, experiment.review, settings, guards, extra
                )
            recommendation = decide.recommend(checks)
            if recommendation.decision == "revert":
                return recommendation
            experiment.status = ExperimentStatus.AWAITING_APPROVAL
            self.store.save_experiment(experiment)
            gate = self.gate
            if person is not None and gate.mode != "manual":
                # Every check passed, yet this is for a person to keep, not the engine.
                gate = self._manual_gate()
                self.notice(
                    f"{experiment.id} waits for a person: {person}", "warning", experiment.id
                )
            if gate.mode == "manual":
                assert isinstance(gate, decide.ManualApproval)
                self.emit(
                    ApprovalRequested(
                        experiment=experiment.id,
                        recommendation=recommendation,
                        diffstat=experiment.diffstat,
                        nonce=gate.nonce(experiment.id),
                    )
                )
                self.emit(RunStateChanged(state="awaiting_approval"))
            verdict = await gate.decide(experiment, recommendation)
            if gate.mode == "manual":
                self.emit(RunStateChanged(state="running"))
            return verdict

    async def _conclude(
        self, experiment: Experiment, slot: Path, verdict: Verdict, context: AgentContext
    ) -> None:
        """Apply the verdict to git, record it, and have the Archivist write the note."""
        workspace = self.workspace
        if verdict.decision == "keep":
            # The record says "keeping" before the branch moves: a run killed in between is
            # reconciled from git by the next one, never recorded as something it is not.
            experiment.status = ExperimentStatus.KEEPING
            self.store.save_experiment(experiment)
            try:
                await asyncio.to_thread(workspace.keep, experiment.branch, experiment.base_commit)
            except BaseMoved as moved:
                verdict = Verdict(
                    decision="revert", reason=str(moved), decided_by="engine", checks=verdict.checks
                )
        if verdict.decision == "keep":
            assert experiment.commit is not None
            await asyncio.to_thread(workspace.release_slot, slot, experiment.commit)
            experiment.branch = (
                await asyncio.to_thread(workspace.archive_branch, experiment.branch, KEPT_PREFIX)
                or experiment.branch
            )
            experiment.status = ExperimentStatus.KEPT
        else:
            await asyncio.to_thread(workspace.release_slot, slot, experiment.base_commit)
            experiment.branch = (
                await asyncio.to_thread(
                    workspace.archive_branch, experiment.branch, REVERTED_PREFIX
                )
                or experiment.branch
            )
            experiment.status = ExperimentStatus.REVERTED
        experiment.verdict = verdict
        experiment.finished_at = time.time()
        self.store.save_experiment(experiment)
        self.emit(
            ExperimentFinished(
                experiment=experiment.id,
                status=experiment.status.value,
                verdict=verdict,
                before=experiment.before.composite if experiment.before else None,
                after=experiment.after.composite if experiment.after else None,
                commit=experiment.commit,
                cost_usd=experiment.cost_usd,
            )
        )

        context.verdict = f"{experiment.status.value}: {verdict.reason}"
        context.before, context.after = experiment.before, experiment.after
        context.factory_report = "\n".join(
            f"- {m.name}: {'n/a' if m.score is None else f'{m.score:.2f}'} ({m.reason})"
            for m in factory_scorecard(self.store.experiments())
        )
        # The Archivist reads the worktree, never the user's tree; the engine writes its note.
        archived = await self._agent(Role.ARCHIVIST, slot, context, experiment.id, experiment)
        if archived.ok:
            assert isinstance(archived.output, ArchivistOutput)
            self.store.write_artifact(experiment.id, "note.md", archived.output.note)
        self.store.save_experiment(experiment)

    async def _abort(self, experiment: Experiment, slot: Path, error: BaseException) -> None:
        """An experiment cut short (Ctrl-C, a fault): drop its worktree, keep the record."""
        reason = (
            "interrupted"
            if isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
            else f"stopped: {error}"
            if isinstance(error, BudgetSpent | StopRequested)
            else f"failed: {error}"
        )
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.workspace.remove_slot, SLOT)
        # Cut short after the branch moved: it was kept, and the record says so.
        with contextlib.suppress(Exception):
            if await self._reconcile_kept(experiment):
                self.emit(
                    ExperimentFinished(
                        experiment=experiment.id,
                        status="kept",
                        verdict=experiment.verdict,
                        before=experiment.before.composite if experiment.before else None,
                        after=experiment.after.composite if experiment.after else None,
                        commit=experiment.commit,
                    )
                )
                return
        # A refused keep leaves its branch where it is, for the user to merge by hand.
        if not isinstance(error, KeepRefused):
            with contextlib.suppress(Exception):
                experiment.branch = (
                    await asyncio.to_thread(
                        self.workspace.archive_branch, experiment.branch, REVERTED_PREFIX
                    )
                    or experiment.branch
                )
        experiment.status = ExperimentStatus.ABORTED
        experiment.verdict = Verdict(decision="revert", reason=reason, decided_by="engine")
        experiment.finished_at = time.time()
        with contextlib.suppress(Exception):
            self.store.save_experiment(experiment)
            self.emit(
                ExperimentFinished(
                    experiment=experiment.id,
                    status="aborted",
                    verdict=experiment.verdict,
                    before=experiment.before.composite if experiment.before else None,
                )
            )

    # -- helpers -----------------------------------------------------------------------------
    def _context(self, **extra: object) -> AgentContext:
        store = self.store
        for note in store.take_set_aside():
            self.notice(note, "warning")
        spec = store.spec_path.read_text(encoding="utf-8") if store.spec_path.exists() else ""
        experiments = store.experiments()
        # Outcomes that still stand: a kept change touching an idea's files lets it be
        # tried again.
        still = standing(experiments)
        finished = [e for e in experiments if e.status.final][-RECENT_NOTES:]
        archive = [note for e in finished if (note := store.read_artifact(e.id, "note.md"))]
        reverted = [
            e.hypothesis.model_copy(
                update={"files": sorted({*e.hypothesis.files, *e.files_changed})}
            )
            for e in still
            if e.status == ExperimentStatus.REVERTED
        ]
        return AgentContext(
            project=str(self.workspace.project.name),
            spec=spec,
            backlog=store.backlog(),
            tried={e.hypothesis.title: e.status.value for e in still},
            reverted=reverted,
            archive=archive,
            python=self.python,
            lint=self.config.eval.lint,
            similarity_limit=self.config.eval.max_similarity,
            runtime=self.runtime.name,
            **extra,
        )

    def _config_bytes(self) -> bytes | None:
        try:
            return self.store.config_path.read_bytes()
        except OSError:
            return None

    def _restore_config(self, data: bytes | None) -> None:
        path = self.store.config_path
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, data.decode("utf-8", "replace"))

    def _view(self, role: Role, cwd: Path) -> View:
        """An agent's sandbox: its worktree (writable for the Builder alone) and that
        worktree's git metadata read-only; the rest of the user's project hidden."""
        project = self.workspace.project
        return View(
            writable=(cwd,) if role is Role.BUILDER else (),
            readable=(cwd, project / ".git"),
            hidden=(project,),
        )

    @contextlib.contextmanager
    def _stage(self, stage: Stage, experiment_id: str | None) -> Iterator[None]:
        started = time.monotonic()
        self.emit(StageStarted(stage=stage, experiment=experiment_id))
        ok = False
        try:
            yield
            ok = True
        finally:
            self.emit(
                StageFinished(
                    stage=stage, ok=ok, elapsed=time.monotonic() - started, experiment=experiment_id
                )
            )

    async def _smoke(self, command: str, slot: Path, experiment_id: str) -> Check:
        """The optional smoke command, run in the experiment's worktree; it must pass."""
        with self._agent_log(Role.EVALUATOR, experiment_id) as emit_line:
            emit_line(f"$ {command}", "tool")
            # It runs the experiment's code: sandboxed, without network, like the eval.
            view = replace(self._view(Role.BUILDER, slot), network=False)
            jail = Jail(self.sandbox, view) if self.sandbox.enabled else None
            try:
                result = await tools.run_jailed(
                    shlex.split(command),
                    slot,
                    lambda line: emit_line(line, "text"),
                    jail,
                    timeout=self.config.eval.timeout,
                )
            except (OSError, ValueError) as error:
                return Check(name="smoke command", ok=False, detail=f"{command}: {error}")
        if result.timed_out:
            return Check(name="smoke command", ok=False, detail=f"{command}: timed out")
        return Check(
            name="smoke command",
            ok=result.returncode == 0,
            detail=f"{command}: exit {result.returncode}",
        )

    async def _score(
        self,
        stage: Stage,
        experiment_id: str,
        commit: str,
        kind: str,
        request: EvalRequest,
        tests_from: str | None = None,
    ) -> Scorecard:
        """Score `commit` in a checkout no agent touched; with `tests_from`, its tests are
        that commit's (the base's tests are a fixed surface: an experiment cannot change
        what it is measured by), and the tests it adds run beside them."""
        with self._stage(stage, experiment_id):
            tree = await asyncio.to_thread(self.workspace.tree_of, commit)
            tests = None
            if tests_from is not None:
                tests = await asyncio.to_thread(
                    self.workspace.prepare_test_slot,
                    TESTS_SLOT,
                    commit,
                    tests_from,
                    tools.is_test_surface,
                )
            # A tree measured before needs no checkout (research mode reads its truth there).
            key = tree if tests is None else f"{tree}-tests-{tests[1]}"
            measured = self.evaluator.cached(key) is not None and self.research is None
            root = self.workspace.project if measured else await self._eval_root(commit)
            with self._agent_log(Role.EVALUATOR, experiment_id) as emit_line:
                self.emit(
                    AgentStarted(role=Role.EVALUATOR, runtime="tools", experiment=experiment_id)
                )
                started = time.monotonic()
                card = await self.evaluator.evaluate(
                    root, tree, lambda line: emit_line(line, "text"), request, tests
                )
                self.emit(
                    AgentFinished(
                        role=Role.EVALUATOR,
                        ok=True,
                        elapsed=time.monotonic() - started,
                        experiment=experiment_id,
                    )
                )
            self.emit(Scored(kind=kind, scorecard=card, experiment=experiment_id))
            return card

    @contextlib.contextmanager
    def _agent_log(
        self, role: Role, experiment_id: str | None
    ) -> Iterator[Callable[[str, OutputKind], None]]:
        """An `emit` for one agent: each line to the bus and to the agent's log on disk."""
        path = self.store.agent_log_path(experiment_id, role.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[str] = path.open("a", encoding="utf-8")

        def emit_line(line: str, kind: OutputKind = "text") -> None:
            text = plain(line)
            clean = redact(text)
            if clean != text and experiment_id is not None:
                self.secrets_said.setdefault(experiment_id, set()).add(role.title)
            handle.write(clean + "\n")
            self.emit(AgentOutput(role=role, line=clean, kind=kind, experiment=experiment_id))

        try:
            yield emit_line
        finally:
            handle.close()

    async def _agent(
        self,
        role: Role,
        cwd: Path,
        context: AgentContext,
        experiment_id: str | None,
        experiment: Experiment | None = None,
    ) -> AgentRun:
        await self._checkpoint()
        stage = Stage(role.value) if role.value in STAGE_NAMES else None
        if role in PLAYBOOK_ROLES:
            context.playbook = self.playbooks.prompt_text(role)
        limits = self.config.agents.for_role(role.value)
        request = AgentRequest(
            role=role,
            cwd=cwd,
            context=context,
            experiment=experiment_id,
            inactivity_timeout=limits.inactivity_timeout,
            wall_timeout=limits.wall_timeout,
            view=self._view(role, cwd),
        )
        with contextlib.ExitStack() as stack:
            if stage is not None:
                stack.enter_context(self._stage(stage, experiment_id))
            emit_line = stack.enter_context(self._agent_log(role, experiment_id))
            self.emit(AgentStarted(role=role, runtime=self.runtime.name, experiment=experiment_id))
            started = time.monotonic()
            guarded = self.runtime.name != "offline" and not self.sandbox.enabled
            before = await asyncio.to_thread(self.workspace.git_state) if guarded else None
            config = self._config_bytes() if guarded else None
            run = await self.runtime.run(request, emit_line)
            if before is not None:
                # Unsandboxed, an agent can reach .git and .factory: undo what it did to
                # either, and say so.
                for line in await asyncio.to_thread(self.workspace.restore_git_state, before):
                    self.notice(f"the {role.title} changed the repository: {line}", "warning")
                if self._config_bytes() != config:
                    self._restore_config(config)
                    self.notice(
                        f"the {role.title} changed {self.store.config_path}: put back; the "
                        "run goes on with the config it started with",
                        "warning",
                    )
            if run.error:
                run.error = redact(plain(run.error))
                emit_line(f"error: {run.error}", "error")
            self.emit(
                AgentFinished(
                    role=role,
                    ok=run.ok,
                    error=run.error,
                    usage=run.usage,
                    elapsed=time.monotonic() - started,
                    experiment=experiment_id,
                )
            )
        self.cost_usd += run.usage.cost_usd
        if experiment is not None:
            spent = experiment.usage.get(role.value, AgentUsage())
            experiment.usage[role.value] = spent + run.usage
        return run


def metric_value(card: Scorecard | None) -> float | None:
    """Research mode's metric in a scorecard, as the command reported it."""
    return card.value(RESEARCH_METRIC) if card else None


def _tests_regressed(before: Scorecard | None, after: Scorecard | None) -> bool:
    if before is None or after is None:
        return False
    old, new = before.dimension("tests"), after.dimension("tests")
    return bool(
        old and new and old.score is not None and new.score is not None and new.score < old.score
    )


async def run_headless(
    project: Path,
    options: RunOptions,
    subscribe: Callable[[EventBus], Awaitable[None] | None] | None = None,
) -> RunFinished:
    """Open and run a pipeline; `subscribe` attaches front ends to its bus first."""
    pipeline = Pipeline.open(project, options)
    if subscribe is not None:
        maybe = subscribe(pipeline.bus)
        if maybe is not None:
            await maybe
    return await pipeline.run()
