"""One cycle as plain steps: baseline, plan, build, review, score, decide, conclude.

Researcher -> Strategist -> Builder -> Reviewer -> Evaluator -> CEO -> Archivist. The
history is read once, when the cycle starts: during a cycle only its own experiment changes.
What a mode changes is the run's policy (`policy.py`), never a branch here.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from factory_tui.agents import contracts
from factory_tui.agents.base import AgentContext
from factory_tui.engine.events import (
    AgentFinished,
    AgentStarted,
    ApprovalRequested,
    CycleFinished,
    CycleStarted,
    ExperimentFinished,
    ExperimentStarted,
    FindingsReported,
    HypothesesProposed,
    Reviewed,
    RunStateChanged,
    Scored,
    ScoreKind,
)
from factory_tui.engine.models import (
    Check,
    Experiment,
    ExperimentOutline,
    ExperimentStatus,
    Hypothesis,
    Review,
    Role,
    Scorecard,
    Stage,
    Verdict,
)
from factory_tui.engine.redact import redact
from factory_tui.engine.sandbox import Jail
from factory_tui.engine.workspace import (
    EXPERIMENT_PREFIX,
    KEPT_PREFIX,
    REVERTED_PREFIX,
    BaseMoved,
    KeepRefused,
)
from factory_tui.eval import tools
from factory_tui.eval.evaluator import EvalRequest, measurement_key
from factory_tui.eval.factory_scorecard import factory_scorecard
from factory_tui.eval.guards import GuardInput, guard_test_counts, needs_a_person, run_guards
from factory_tui.eval.project_metrics import metric_paths
from factory_tui.eval.secrets import SecretFinding, scan_diff
from factory_tui.eval.similarity import Target, reverted_targets, similarity, similarity_check
from factory_tui.eval.special_cases import special_cases, test_literals

from . import decide
from .errors import BudgetSpent, CycleFailed, StopRequested

if TYPE_CHECKING:
    from .run import Pipeline


@dataclass(frozen=True)
class Slots:
    """The worktrees one experiment uses, under `.factory/worktrees/`."""

    agent: str  # the agents' checkout
    eval: str  # the checkout the eval measures; agents never see it
    tests: str  # the experiment's code with the base's tests, where its tests run

    @classmethod
    def numbered(cls, number: int) -> Slots:
        return cls(f"slot-{number}", f"eval-{number}", f"tests-{number}")


FIRST = Slots.numbered(1)  # a cycle's research and strategy, and its first experiment


@dataclass
class Measured:
    """What the verdict weighs besides the scores: the diff, the guards, and why a person
    must decide (when one must)."""

    diff: str
    guards: list[Check]
    person: str | None


@dataclass
class Built:
    """An experiment built and measured, its verdict still to take: what the agents were
    told (the Archivist reads it next), what changed in the user's tree meanwhile, and the
    measurement, or the revert it came to before any (`early`)."""

    context: AgentContext
    outside: list[str]
    early: Verdict | None = None
    measured: Measured | None = None


class Cycle:
    """One cycle of a run; `await Cycle(pipeline, number).run()` returns its experiments
    (several with `[run] parallel`), none when nothing was left to try."""

    def __init__(self, pipeline: Pipeline, number: int) -> None:
        self.pipeline = pipeline
        self.number = number
        self.workspace, self.store = pipeline.workspace, pipeline.store
        self.evaluator, self.policy = pipeline.evaluator, pipeline.policy
        self.agents = pipeline.agents
        self.emit, self.notice = pipeline.emit, pipeline.notice
        self.history = pipeline.history()

    async def run(self) -> list[Experiment]:
        pipeline, store = self.pipeline, self.store
        self.emit(CycleStarted(cycle=self.number))
        pipeline.say_out_of_reach()
        experiment_id = store.allocate_experiment_id()
        reserved = [experiment_id]
        base = await asyncio.to_thread(self.workspace.base_commit)
        slot = await pipeline.agent_slot(base, FIRST.agent)
        try:
            before = await self.score(
                Stage.BASELINE, experiment_id, base, "baseline", EvalRequest(), FIRST
            )
            pipeline.failure = self.metric_problems()
            chosen: list[Hypothesis] = []
            if pipeline.failure is None:
                hypotheses, findings_summary = await self.plan(experiment_id, slot, before)
                chosen = self.choose(hypotheses)
            reserved += [store.allocate_experiment_id() for _ in chosen[1:]]
        except BaseException:
            for reservation in reserved:
                store.release_experiment_id(reservation)
            raise
        if not chosen:
            store.release_experiment_id(experiment_id)
            self.emit(CycleFinished(cycle=self.number, outcome="nothing to try"))
            return []
        versions = pipeline.playbooks.versions()
        experiments = [
            Experiment(
                id=number,
                hypothesis=hypothesis,
                branch=f"{EXPERIMENT_PREFIX}{number}",
                base_commit=base,
                before=before,
                runner=Slots.numbered(index).agent,
                playbooks=versions,
            )
            for index, (number, hypothesis) in enumerate(zip(reserved, chosen, strict=True), 1)
        ]
        for experiment in experiments:
            store.save_experiment(experiment)
        pipeline.experiments_run += len(experiments)
        if len(experiments) == 1:
            await self.one(experiments[0], FIRST, findings_summary)
        else:
            await self.side_by_side(experiments, findings_summary)
        outcome = ", ".join(f"{e.id} {e.status.value}" for e in experiments)
        self.emit(
            CycleFinished(
                cycle=self.number,
                outcome=experiments[0].status.value if len(experiments) == 1 else outcome,
                experiment=experiments[-1].id,
            )
        )
        return experiments

    def choose(self, hypotheses: list[Hypothesis]) -> list[Hypothesis]:
        """The hypotheses this cycle tries, in the Strategist's order: the first, and with
        `[run] parallel` the next ones that change something else (no file in common with
        one chosen, and less alike than the similarity limit)."""
        wanted = 1 if self.pipeline.focus_item is not None else self.pipeline.parallel
        limit = self.pipeline.config.eval.max_similarity
        chosen: list[Hypothesis] = []
        for hypothesis in hypotheses:
            if len(chosen) == wanted:
                break
            target = Target.of(hypothesis)
            if all(
                not (target.files & other.files) and similarity(target, other) < limit
                for other in map(Target.of, chosen)
            ):
                chosen.append(hypothesis)
        return chosen

    async def one(self, experiment: Experiment, slots: Slots, findings: str) -> None:
        """One experiment from build to verdict; cut short, it is aborted and recorded."""
        try:
            await self.experiment(experiment, slots, findings)
        except BaseException as error:
            await asyncio.shield(self.abort(experiment, error, slots))
            raise

    async def side_by_side(self, experiments: list[Experiment], findings: str) -> None:
        """Several experiments at once, each in its own slots. The first to fail for a
        reason of the run (stop, budget, Ctrl-C) ends them all, each aborted and recorded;
        one failing on its own is aborted alone, said, and the others go on (the cycle
        fails only when every one did)."""
        failed: list[Exception] = []

        async def one(experiment: Experiment, slots: Slots) -> None:
            try:
                await self.one(experiment, slots, findings)
            except (StopRequested, BudgetSpent):
                raise
            except Exception as error:
                failed.append(error)
                self.notice(
                    f"{experiment.id} failed and was aborted; the others go on: {error}",
                    "error",
                    experiment.id,
                )

        pipeline = self.pipeline
        for index in range(2, len(experiments) + 1):
            await pipeline.agent_slot(experiments[0].base_commit, Slots.numbered(index).agent)
        try:
            async with asyncio.TaskGroup() as group:
                for index, experiment in enumerate(experiments, 1):
                    group.create_task(one(experiment, Slots.numbered(index)))
        except BaseExceptionGroup as errors:  # the run's own reason, as one experiment's
            raise errors.exceptions[0] from None
        if len(failed) == len(experiments):
            raise failed[0]

    def metric_problems(self) -> str | None:
        """Tell the user why a metric failed on the base; the policy says whether the run
        can go on. What the command said goes to the user only, never to an agent."""
        problems = self.evaluator.metric_problems
        failure = self.policy.failure_on_base(problems)
        for name, problem in problems.items():
            if name != self.policy.metric:  # the policy's own metric is said in the failure
                self.notice(f"metric {name} failed on the base: {problem}", "warning")
        return failure

    # -- plan ----------------------------------------------------------------------------------
    async def plan(
        self, experiment_id: str, slot: Path, before: Scorecard
    ) -> tuple[list[Hypothesis], str]:
        """Research and strategy: the hypotheses to try, best first, and the research
        summary."""
        pipeline, store = self.pipeline, self.store
        messages = store.pending_messages()
        context = self.agents.context(
            self.history,
            notes=[message.text for message in messages],
            before=before,
            focus=pipeline.focus_item.title if pipeline.focus_item else "",
            mode=pipeline.options.mode,
            evidence=self.evaluator.evidence.get(before.tree),
        )
        await self.policy.before_research(self.agents, experiment_id, slot, context)
        research = await self.agents.call(contracts.RESEARCHER, slot, context, experiment_id)
        if not research.ok:
            raise CycleFailed(f"the Researcher failed: {research.error}")
        self.emit(
            FindingsReported(
                experiment=experiment_id,
                summary=research.result.summary,
                findings=research.result.findings,
            )
        )
        context.findings = research.result.findings
        context.research_summary = research.result.summary
        strategy = await self.agents.call(contracts.STRATEGIST, slot, context, experiment_id)
        if not strategy.ok:
            raise CycleFailed(f"the Strategist failed: {strategy.error}")
        if messages:
            store.mark_read([message.id for message in messages])
            self.notice(
                f"{len(messages)} message(s) to the CEO delivered to the Researcher and Strategist",
                experiment=experiment_id,
            )
        pipeline.nothing = strategy.result.note
        # The titles the Strategist was told were tried: never run one of those again.
        tried = {title.strip().lower(): status for title, status in context.tried.items()}
        fresh = [
            h
            for h in strategy.result.hypotheses
            if tried.get(h.title.strip().lower())
            not in (ExperimentStatus.KEPT, ExperimentStatus.REVERTED)
        ]
        if pipeline.focus_item is not None:
            # Focus: exactly one hypothesis, for the item; asked for by name, so a title
            # tried before may be tried again.
            chosen = (fresh or strategy.result.hypotheses)[:1]
            fresh = [h.model_copy(update={"source": "focus"}) for h in chosen]
        fresh = self.policy.screen(fresh, self.notice, experiment_id)
        self.emit(HypothesesProposed(experiment=experiment_id, hypotheses=fresh))
        return fresh, research.result.summary

    # -- build, review, score, decide ----------------------------------------------------------
    async def experiment(self, experiment: Experiment, slots: Slots, findings: str) -> None:
        """Build and measure (where the run's executor says), then the verdict, here."""
        pipeline = self.pipeline
        self.emit(
            ExperimentStarted(
                experiment=experiment.id,
                hypothesis=experiment.hypothesis,
                branch=experiment.branch,
                base_commit=experiment.base_commit,
            )
        )
        built = await pipeline.executor.build(self, experiment, slots, findings)
        slot = self.workspace.slot_path(slots.agent)
        if built.early is not None:
            await self.conclude(experiment, slot, built.early, built.context)
            return
        assert built.measured is not None
        measured = built.measured
        await pipeline.checkpoint()
        # Verdicts one at a time, in the order experiments get here: a keep moves the base,
        # and whoever comes next is replayed onto it and measured again before its verdict.
        waiting = time.monotonic()
        async with pipeline.verdicts:
            experiment.waited = round(time.monotonic() - waiting, 3)
            moved = await self.catch_up(experiment, slots, built.outside)
            if isinstance(moved, Verdict):
                verdict = moved
            else:
                measured = moved or measured
                verdict = await self.decide(
                    experiment, measured.guards, slot, measured.diff, measured.person
                )
            await self.settle(experiment, slot, verdict)
        await self.write_note(experiment, slot, built.context)

    async def build(self, experiment: Experiment, slots: Slots, findings: str) -> Built:
        """Builder, commit, Reviewer, guards and score, in this machine's slots: all of an
        experiment but its verdict. An experiment reverted before any score says why in
        `early`."""
        workspace, store, pipeline = self.workspace, self.store, self.pipeline
        # Research ran in the slot: reset it so only the Builder's edits get committed.
        slot = await pipeline.agent_slot(experiment.base_commit, slots.agent)
        await asyncio.to_thread(workspace.start_branch, slot, experiment.branch)
        context = self.agents.context(
            self.history, hypothesis=experiment.hypothesis, research_summary=findings
        )
        context.fixed = await asyncio.to_thread(self.agents.fixed_surfaces, experiment.base_commit)

        main_before = await asyncio.to_thread(workspace.main_tree_state)
        built = await self.agents.call(contracts.BUILDER, slot, context, experiment.id, experiment)
        main_after = await asyncio.to_thread(workspace.main_tree_state)
        outside = sorted(
            path
            for path in main_before.keys() | main_after.keys()
            if main_before.get(path) != main_after.get(path)
        )
        if "HEAD" in outside and await self.head_is_a_keep():
            outside.remove("HEAD")  # another experiment of this cycle was kept meanwhile
        secrets_found: list[SecretFinding] = []
        if built.ok:
            experiment.builder_summary = built.result.summary
            message = redact(built.result.commit_message or experiment.hypothesis.title)
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
            reason = f"a secret was added at {where}: nothing was committed"
            return Built(context, outside, early=engine_revert(reason, check))
        if experiment.commit is None:
            reason = experiment.builder_summary if not built.ok else "the Builder changed nothing"
            return Built(context, outside, early=engine_revert(reason))

        diff = await self.record_diff(experiment)
        context.diff = diff
        context.builder_summary = experiment.builder_summary
        leak = self.policy.leak(diff)
        if leak is not None and leak.blocks:  # leakage gate 2: no measuring a leaked answer
            check = Check(name="no leakage", ok=False, detail=leak.describe())
            reason = f"no leakage failed ({leak.describe()})"
            return Built(context, outside, early=engine_revert(reason, check))

        await pipeline.checkpoint()
        # The Reviewer reads the commit that is measured, read-only, nothing the Builder left.
        await asyncio.to_thread(workspace.clean_slot, slot)
        reviewed = await self.agents.call(
            contracts.REVIEWER, slot, context, experiment.id, experiment
        )
        if reviewed.ok:
            experiment.review = Review.model_validate(reviewed.result.model_dump())
        else:
            experiment.review = Review(
                verdict="reject",
                concerns=[str(reviewed.error)],
                summary=f"Reviewer failed: {reviewed.error}",
            )
        self.emit(Reviewed(experiment=experiment.id, review=experiment.review))

        measured = await self.measure(experiment, slots, diff, outside)
        context.after, context.review = experiment.after, experiment.review
        if tests_regressed(experiment.before, experiment.after):
            analysed = await self.agents.call(
                contracts.FAILURE_ANALYST, slot, context, experiment.id, experiment
            )
            if analysed.ok:
                context.failures = analysed.result.summary
        return Built(context, outside, measured=measured)

    async def head_is_a_keep(self) -> bool:
        """Whether the user's HEAD is at a commit a keep of this run moved it to."""
        head = await asyncio.to_thread(self.workspace.repo.git.rev_parse, "HEAD")
        return str(head) in self.pipeline.kept_bases

    async def record_diff(self, experiment: Experiment) -> str:
        """The experiment's diff on its base, kept as a file; its stat and files recorded."""
        workspace = self.workspace
        assert experiment.commit is not None
        base, commit = experiment.base_commit, experiment.commit
        diff = await asyncio.to_thread(workspace.diff, base, commit)
        experiment.diffstat = await asyncio.to_thread(workspace.diffstat, base, commit)
        experiment.files_changed = await asyncio.to_thread(workspace.changed_files, base, commit)
        self.store.write_artifact(experiment.id, "diff.patch", diff)
        return diff

    async def measure(
        self, experiment: Experiment, slots: Slots, diff: str, outside: list[str]
    ) -> Measured:
        """The guards on the diff, and the commit scored with the base's tests."""
        workspace, config = self.workspace, self.pipeline.config
        assert experiment.commit is not None
        slot = workspace.slot_path(slots.agent)
        guard_input = GuardInput(
            diff=diff,
            worktree=slot,
            config=config.eval,
            read_base=lambda path: workspace.file_at(experiment.base_commit, path),
            protected=metric_paths(config.eval.metrics, slot) | self.policy.protected,
            outside_changes=outside,
            category=experiment.hypothesis.category,
        )
        guards = await asyncio.to_thread(run_guards, guard_input)
        person = await asyncio.to_thread(self.needs_a_person, guard_input, experiment)

        await self.pipeline.checkpoint()
        experiment.after = await self.score(
            Stage.EVALUATOR,
            experiment.id,
            experiment.commit,
            "experiment",
            EvalRequest(guards=guards, baseline=experiment.before),
            slots,
            tests_from=experiment.base_commit,
        )
        self.store.save_experiment(experiment)
        return Measured(diff, guards, person)

    async def catch_up(
        self, experiment: Experiment, slots: Slots, outside: list[str]
    ) -> Measured | Verdict | None:
        """An experiment whose base a keep of this run moved is replayed onto the new base
        and measured again there (base and experiment): nothing is kept against a base it
        was not measured on. Returns the new measurement, a revert when the change no
        longer applies, or None when the base is where the experiment began."""
        workspace, pipeline = self.workspace, self.pipeline
        base = await asyncio.to_thread(workspace.base_commit)
        kept_by = pipeline.kept_bases.get(base)
        if base == experiment.base_commit or kept_by is None or experiment.commit is None:
            return None  # moved by someone else: the keep refuses, as it always has
        slot = workspace.slot_path(slots.agent)
        replayed = await asyncio.to_thread(workspace.replay, slot, experiment.commit, base)
        if replayed.conflict or replayed.commit is None:
            reason = f"conflicts with {kept_by}: its change no longer applies to the base"
            check = Check(name="applies to the new base", ok=False, detail=reason)
            return engine_revert(reason, check)
        if replayed.empty:
            reason = f"{kept_by} made the same change: nothing is left to add"
            return engine_revert(reason, Check(name="adds a change", ok=False, detail=reason))
        self.notice(
            f"{experiment.id}: {kept_by} was kept first; replayed onto it and measured again",
            experiment=experiment.id,
        )
        experiment.base_commit, experiment.commit = base, replayed.commit
        experiment.before = await self.score(
            Stage.BASELINE, experiment.id, base, "baseline", EvalRequest(), slots
        )
        diff = await self.record_diff(experiment)
        return await self.measure(experiment, slots, diff, outside)

    def needs_a_person(self, guard: GuardInput, experiment: Experiment) -> str | None:
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

    async def decide(
        self,
        experiment: Experiment,
        guards: list[Check],
        slot: Path,
        diff: str,
        person: str | None = None,
    ) -> Verdict:
        """The checks, the recommendation, and (when it is a keep) the approval gate's word."""
        assert experiment.before is not None and experiment.after is not None
        pipeline = self.pipeline
        with self.agents.stage(Stage.CEO, experiment.id):
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
                    reverted_targets(self.history, exclude=experiment.id),
                    settings.max_similarity,
                )
            ]
            said = sorted(
                self.agents.secrets_said.get(experiment.id, set()) - {Role.EVALUATOR.label}
            )
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
                extra.append(await self.smoke(settings.smoke_command, slot, experiment.id))
            checks = self.policy.precheck(experiment, settings, guards, extra, diff)
            recommendation = decide.recommend(checks)
            if recommendation.decision == "revert":
                return recommendation
            experiment.status = ExperimentStatus.AWAITING_APPROVAL
            self.store.save_experiment(experiment)
            gate = pipeline.gate
            if person is not None and gate.mode != "manual":
                # Every check passed, yet this is for a person to keep, not the engine.
                gate = pipeline.manual_gate()
                self.notice(
                    f"{experiment.id} waits for a person: {person}", "warning", experiment.id
                )
            if isinstance(gate, decide.ManualApproval):
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

    # -- conclude ------------------------------------------------------------------------------
    async def conclude(
        self, experiment: Experiment, slot: Path, verdict: Verdict, context: AgentContext
    ) -> None:
        """Apply the verdict, and have the Archivist write the note."""
        await self.settle(experiment, slot, verdict)
        await self.write_note(experiment, slot, context)

    async def settle(self, experiment: Experiment, slot: Path, verdict: Verdict) -> None:
        """Apply the verdict to git and record it."""
        workspace, store = self.workspace, self.store
        if verdict.decision == "keep":
            # The record says "keeping" before the branch moves: a run killed in between is
            # reconciled from git by the next one, never recorded as something it is not.
            experiment.status = ExperimentStatus.KEEPING
            store.save_experiment(experiment)
            try:
                kept = await asyncio.to_thread(
                    workspace.keep, experiment.branch, experiment.base_commit
                )
            except BaseMoved as moved:
                verdict = Verdict(
                    decision="revert", reason=str(moved), decided_by="engine", checks=verdict.checks
                )
            else:
                self.pipeline.kept_bases[kept] = experiment.id
        if verdict.decision == "keep":
            assert experiment.commit is not None
            await asyncio.to_thread(workspace.release_slot, slot, experiment.commit)
            archived_as = await asyncio.to_thread(
                workspace.archive_branch, experiment.branch, KEPT_PREFIX
            )
            experiment.branch = archived_as or experiment.branch
            experiment.status = ExperimentStatus.KEPT
        else:
            await asyncio.to_thread(workspace.release_slot, slot, experiment.base_commit)
            archived_as = await asyncio.to_thread(
                workspace.archive_branch, experiment.branch, REVERTED_PREFIX
            )
            experiment.branch = archived_as or experiment.branch
            experiment.status = ExperimentStatus.REVERTED
        experiment.verdict = verdict
        experiment.finished_at = time.time()
        store.save_experiment(experiment)
        self.emit(
            ExperimentFinished(
                experiment=experiment.id,
                status="kept" if experiment.status is ExperimentStatus.KEPT else "reverted",
                verdict=verdict,
                before=experiment.before.composite if experiment.before else None,
                after=experiment.after.composite if experiment.after else None,
                commit=experiment.commit,
                cost_usd=experiment.cost_usd,
            )
        )

    async def write_note(self, experiment: Experiment, slot: Path, context: AgentContext) -> None:
        """The Archivist's note on the decided experiment (it reads the worktree, never the
        user's tree; the engine writes the note)."""
        store = self.store
        verdict = experiment.verdict
        assert verdict is not None
        context.verdict = f"{experiment.status.value}: {verdict.reason}"
        context.before, context.after = experiment.before, experiment.after
        outline = ExperimentOutline.of(experiment)
        history = [*(e for e in self.history if e.id != experiment.id), outline]
        context.factory_report = "\n".join(
            f"- {m.name}: {'n/a' if m.score is None else f'{m.score:.2f}'} ({m.reason})"
            for m in factory_scorecard(history)
        )
        archived = await self.agents.call(
            contracts.ARCHIVIST, slot, context, experiment.id, experiment
        )
        if archived.ok:
            store.write_artifact(experiment.id, "note.md", archived.result.note)
        store.save_experiment(experiment)

    async def abort(
        self, experiment: Experiment, error: BaseException, slots: Slots = FIRST
    ) -> None:
        """An experiment cut short (Ctrl-C, a fault): drop its worktree, keep the record."""
        pipeline = self.pipeline
        reason = (
            "interrupted"
            if isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
            else f"stopped: {error}"
            if isinstance(error, BudgetSpent | StopRequested)
            else f"failed: {error}"
        )
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.workspace.remove_slot, slots.agent)
        # Cut short after the branch moved: it was kept, and the record says so.
        with contextlib.suppress(Exception):
            # A reconciled experiment has its verdict: the engine's keep.
            if await pipeline.reconcile_kept(experiment) and experiment.verdict is not None:
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
                archived_as = await asyncio.to_thread(
                    self.workspace.archive_branch, experiment.branch, REVERTED_PREFIX
                )
                experiment.branch = archived_as or experiment.branch
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

    # -- measuring -----------------------------------------------------------------------------
    async def smoke(self, command: str, slot: Path, experiment_id: str) -> Check:
        """The optional smoke command, run in the experiment's worktree; it must pass."""
        pipeline = self.pipeline
        with self.agents.log(Role.EVALUATOR, experiment_id) as emit_line:
            emit_line(f"$ {command}", "tool")
            # It runs the experiment's code: sandboxed, without network, like the eval.
            view = replace(self.agents.view(Role.BUILDER, slot), network=False)
            jail = Jail(pipeline.sandbox, view) if pipeline.sandbox.enabled else None
            try:
                result = await tools.run_jailed(
                    shlex.split(command),
                    slot,
                    lambda line: emit_line(line, "text"),
                    jail,
                    timeout=pipeline.config.eval.timeout,
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

    async def score(
        self,
        stage: Stage,
        experiment_id: str,
        commit: str,
        kind: ScoreKind,
        request: EvalRequest,
        slots: Slots,
        tests_from: str | None = None,
    ) -> Scorecard:
        """Score `commit` in a checkout no agent touched; with `tests_from`, its tests are
        that commit's (the base's tests are a fixed surface: an experiment cannot change
        what it is measured by), and the tests it adds run beside them."""
        workspace = self.workspace
        with self.agents.stage(stage, experiment_id):
            tree = await asyncio.to_thread(workspace.tree_of, commit)
            tests = None
            if tests_from is not None:
                tests = await asyncio.to_thread(
                    workspace.prepare_test_slot,
                    slots.tests,
                    commit,
                    tests_from,
                    tools.is_test_surface,
                )
            # A tree measured before needs no checkout (unless the policy reads it there).
            key = measurement_key(tree, tests[1] if tests else None)
            measured = self.evaluator.cached(key) is not None
            if measured and self.policy.reuses_measured_trees:
                root = workspace.project
            else:
                # A checkout of the commit no agent works in (the agents' slot may hold more).
                root = await asyncio.to_thread(workspace.prepare_slot, slots.eval, commit)
                await self.policy.read_truth(root)
            with self.agents.log(Role.EVALUATOR, experiment_id) as emit_line:
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
            # Every tree measured as `factory eval` would measure it, the base's and each
            # experiment's: once one is kept its tree is the branch's, and `factory status`
            # says its score without loading the eval. Not code measured under the base's
            # tests (an experiment that changed tests), nor a tree a guard tripped on.
            guards = card.dimension("guards")
            tripped = guards is not None and bool(guards.raw.get("tripped"))
            if key == tree and not tripped:
                self.store.record_baseline(card.tree, card.composite)
            return card


def engine_revert(reason: str, check: Check | None = None) -> Verdict:
    """A revert the engine decides before any score: nothing to weigh."""
    return Verdict(
        decision="revert", reason=reason, decided_by="engine", checks=[check] if check else []
    )


def tests_regressed(before: Scorecard | None, after: Scorecard | None) -> bool:
    if before is None or after is None:
        return False
    old, new = before.dimension("tests"), after.dimension("tests")
    return bool(
        old and new and old.score is not None and new.score is not None and new.score < old.score
    )
