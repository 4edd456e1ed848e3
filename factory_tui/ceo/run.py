"""The CEO's run: the lifecycle around the cycles.

It owns the project lock, recovery of experiments a killed run left behind, the loop (focus,
cycles, unattended), pause, stop and the cost limit, the approval gate, and clean-up on
cancellation, so the user's branch, working tree and `.factory/` history survive every fault.
One cycle's steps are `cycle.py`; what a mode changes is `policy.py`; how an agent is called
is `agent_calls.py`. The run speaks only in events (`engine/events.py`); every front end
renders them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from factory_tui.agents.base import Runtime
from factory_tui.engine.build import BuildPlan
from factory_tui.engine.config import FactoryConfig, MetricConfig
from factory_tui.engine.errors import FactoryError, UsageError
from factory_tui.engine.events import (
    ApprovalChanged,
    ApprovalMode,
    Event,
    EventBus,
    Notice,
    NoticeLevel,
    OutOfReach,
    RunFinished,
    RunMode,
    RunStarted,
    RunStateChanged,
    RunStatus,
)
from factory_tui.engine.models import (
    BacklogItem,
    Experiment,
    ExperimentOutline,
    ExperimentStatus,
    Verdict,
)
from factory_tui.engine.registry import Registry, factory_home
from factory_tui.engine.sandbox import Sandbox
from factory_tui.engine.store import Store
from factory_tui.engine.text import money
from factory_tui.engine.workspace import KEPT_PREFIX, REVERTED_PREFIX, Workspace
from factory_tui.eval import tools
from factory_tui.eval.evaluator import Evaluator
from factory_tui.eval.factory_scorecard import RECENT
from factory_tui.eval.performance import project_kind, write_reports
from factory_tui.eval.similarity import standing_numbers

from . import build, decide
from .agent_calls import AgentCalls
from .cycle import FIRST, Cycle
from .errors import BudgetSpent, StopRequested
from .executors import make_executor
from .playbooks import Playbooks
from .policy import RESEARCH_METRIC, policy_for

# Finished experiments a cycle reads besides those whose outcome stands: more than the
# archive notes the agents read (RECENT_NOTES).
HISTORY_RECENT = 20


class Notify(Protocol):
    """A notice to the user: the run's `notice`, handed to the policies."""

    def __call__(
        self, message: str, level: NoticeLevel = "info", experiment: str | None = None
    ) -> None: ...


@dataclass
class RunOptions:
    mode: RunMode = "improve"
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
    # Experiments side by side in a cycle; None: the project's `[run] parallel`.
    parallel: int | None = None
    # Where experiments are built: "local" or "ray"; None: the project's `[run] executor`.
    executor: str | None = None


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
        self.bus = bus or event_bus(store, config)
        self.python = tools.project_python(workspace.project)
        self.sandbox = evaluator.sandbox or Sandbox("off")
        self.cost_usd = 0.0
        self.experiments_run = 0
        self.focus_item: BacklogItem | None = None
        self.last_experiment: Experiment | None = None  # this run's latest, once there is one
        self.playbooks = Playbooks(store.root)
        research = config.research if options.mode == "research" else None
        self.policy = policy_for(options.mode, research, store, self.playbooks)
        self.agents = AgentCalls(self)
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
        self.out_of_reach: list[str] = []  # backlog items the runtime said it cannot do
        self.parallel = options.parallel or config.run.parallel
        self.executor = make_executor(
            options.executor or config.run.executor, config.run.ray_address, config.run.ray_env
        )
        # Verdicts are taken one at a time (asyncio's lock wakes waiters in turn), and each
        # base a keep of this run made says which experiment made it.
        self.verdicts = asyncio.Lock()
        self.kept_bases: dict[str, str] = {}

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
            bus or event_bus(store, config),
        )
        if isinstance(gate, decide.ManualApproval):
            gate.on_ignored = pipeline._ignored_decision
        return pipeline

    # -- events ------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self.bus.emit(event)

    def notice(
        self, message: str, level: NoticeLevel = "info", experiment: str | None = None
    ) -> None:
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
                    direction=self.policy.direction,
                    # The offline runtime runs only the user's own tools: no sandbox needed.
                    sandboxed=self.sandbox.enabled or self.runtime.name == "offline",
                    parallel=self.parallel,
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

    def _outcome(self, status: RunStatus, reason: str) -> RunFinished:
        return RunFinished(
            status=status, reason=reason, experiments=self.experiments_run, cost_usd=self.cost_usd
        )

    def _finish(self, finished: RunFinished) -> None:
        with contextlib.suppress(FactoryError, OSError):
            self.emit(RunStateChanged(state="failed" if finished.status == "failed" else "idle"))
            self.report_performance()
            self.emit(finished)
        self.bus.close()

    def report_performance(self) -> None:
        """The Archivist's reports, regenerated from the records: this project's and the one
        across projects, which the next run's Researcher and Strategist read. A report
        that cannot be written is said, and never fails the run."""
        if self.experiments_run == 0:
            return
        try:
            files = self.workspace.repo.git.ls_files().splitlines()
            _, cross = write_reports(self.store, self.workspace.project.name, project_kind(files))
        except Exception as error:  # a report is never worth a run
            self.notice(f"the performance report was not written: {error}", "warning")
            return
        self.notice(
            f"performance reports regenerated: {self.store.root / 'performance.md'}, and "
            f"across {len(cross.projects)} project(s) in {factory_home() / 'performance.md'}"
        )

    def reload_config(self) -> None:
        """Take up a config the engine itself changed (build mode's spec metrics)."""
        self.config = self.store.config()
        if self.policy.metric is None:  # a mode's own metric stays in the eval's settings
            self.evaluator.config = self.config.eval

    def say_out_of_reach(self) -> None:
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

    def history(self) -> list[ExperimentOutline]:
        """What a cycle reads of the project's history, in outline, oldest first: every
        experiment whose outcome still stands and the last HISTORY_RECENT finished. Whatever
        looks at the history sees the same as over all of it: any experiment after one of
        the last finished is among them too, so `standing` holds on this part alone."""
        numbers = standing_numbers(self.store.outcomes())
        numbers.update(self.store.last_finished(HISTORY_RECENT))
        numbers.update(self.store.last_finished(RECENT, ("kept", "reverted")))  # the scorecard's
        return self.store.outlines_of(numbers)

    async def recover(self) -> None:
        """Abort experiments a killed run left unfinished; their worktree is removed."""
        leftovers = self.store.unfinished_experiments()
        for name in await asyncio.to_thread(self.workspace.slot_names):
            await asyncio.to_thread(self.workspace.remove_slot, name)
        for experiment in leftovers:
            if await self.reconcile_kept(experiment):
                self.notice(
                    f"{experiment.id} was kept (the branch is at its commit) but the run "
                    "ended before recording it: recorded as kept",
                    "warning",
                    experiment.id,
                )
                continue
            archived_as = await asyncio.to_thread(
                self.workspace.archive_branch, experiment.branch, REVERTED_PREFIX
            )
            experiment.status = ExperimentStatus.ABORTED
            experiment.verdict = Verdict(
                decision="revert",
                decided_by="engine",
                reason="interrupted: the run that started it ended before a verdict",
            )
            experiment.branch = archived_as or experiment.branch
            experiment.finished_at = time.time()
            self.store.save_experiment(experiment)
            self.notice(
                f"{experiment.id} was interrupted by an earlier run and is recorded "
                f"as aborted; its worktree was removed",
                "warning",
                experiment.id,
            )
        self.store.release_reserved()

    async def reconcile_kept(self, experiment: Experiment) -> bool:
        """Git is the truth: an experiment whose commit the base branch contains was kept,
        whatever its record says. Records it as kept; False when it was not."""
        commit = experiment.commit
        if commit is None or not await asyncio.to_thread(
            self.workspace.is_ancestor, commit, self.workspace.base_commit()
        ):
            return False
        archived_as = await asyncio.to_thread(
            self.workspace.archive_branch, experiment.branch, KEPT_PREFIX
        )
        experiment.branch = archived_as or experiment.branch
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
    def set_approval(self, mode: ApprovalMode) -> None:
        """Switch between keeping automatically and asking a person, effective next decision."""
        if mode == self.gate.mode:
            return
        previous = self.gate
        self.gate = self.manual_gate() if mode == "manual" else decide.AutoApproval()
        self.emit(ApprovalChanged(approval=self.gate.mode))
        if isinstance(previous, decide.ManualApproval):
            # Only experiments whose every check passed wait for a person: keep them.
            previous.answer_all(decide.Decision(decision="keep", note="approval set to auto"))

    def manual_gate(self) -> decide.ManualApproval:
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

    async def checkpoint(self) -> None:
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
        """Run one cycle. Returns its last experiment (by number), or None when nothing is
        left to try."""
        experiments = await Cycle(self, number).run()
        if not experiments:
            if self.failure is None:
                self._note_outcome(None, self.nothing or "the Strategist has nothing new to try")
            return None
        for experiment in sorted(experiments, key=lambda e: e.finished_at or 0.0):
            self._note_outcome(experiment, "")
            self.policy.after_experiment(experiment, self.notice)
        self.last_experiment = experiments[-1]
        return experiments[-1]

    async def agent_slot(self, commit: str, name: str = FIRST.agent) -> Path:
        """The agents' checkout of `commit`, without what the policy hides from them."""
        slot = await asyncio.to_thread(self.workspace.prepare_slot, name, commit)
        if self.policy.hides_paths:
            await asyncio.to_thread(self.workspace.hide_paths, slot, self.policy.hidden)
        return slot


def event_bus(store: Store, config: FactoryConfig) -> EventBus:
    """The run's bus: its log rotates at the configured size and indexes each run's start."""
    return EventBus(store.events_path, store, int(config.run.event_log_mib * 2**20))
