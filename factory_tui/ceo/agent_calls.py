"""How the CEO calls an agent: what it is told, what it may see, where its words go.

Every call passes the run's checkpoint (pause, stop, budget) first, runs in the agent's
sandbox view, streams each line (redacted) to the bus and the agent's log, and counts its
cost. An unsandboxed agent that changed `.git` or the config is undone and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypedDict, Unpack

from factory_tui.agents.base import (
    AgentContext,
    AgentRequest,
    AgentRun,
    Budget,
    OutputKind,
    PastExperiment,
)
from factory_tui.agents.contracts import Output, RoleContract
from factory_tui.engine.errors import FactoryError
from factory_tui.engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    StageFinished,
    StageStarted,
)
from factory_tui.engine.models import (
    AgentUsage,
    Experiment,
    ExperimentOutline,
    ExperimentStatus,
    Hypothesis,
    Role,
    Scorecard,
    Stage,
    TreeEvidence,
)
from factory_tui.engine.redact import redact
from factory_tui.engine.sandbox import View
from factory_tui.engine.store import write_atomic
from factory_tui.engine.text import plain
from factory_tui.eval.guards import EVAL_CONFIG_FILES, GUARD_RULES
from factory_tui.eval.performance import reading_for_agents
from factory_tui.eval.similarity import standing
from factory_tui.eval.tools import is_test_file

from .decide import verdict_rule
from .playbooks import PLAYBOOK_ROLES

if TYPE_CHECKING:
    from .run import Pipeline

RECENT_NOTES = 5  # archive notes the Researcher and Strategist read
PAST_REVERTED = 10  # reverted experiments the Strategist is told the reasons of
STAGE_NAMES = {stage.value for stage in Stage}
# Of one agent run's output, in its log and the event log: the first lines and the last.
HEAD_LINES_KEPT = 18_000
TAIL_LINES_KEPT = 2_000
MAX_LINE_CHARS = 10_000


class StepContext(TypedDict, total=False):
    """What a step of the cycle adds to every role's context (AgentContext's fields)."""

    notes: list[str]
    before: Scorecard
    focus: str
    mode: str
    evidence: TreeEvidence | None
    hypothesis: Hypothesis
    research_summary: str


class AgentCalls:
    """The agent-call plumbing of one run; `secrets_said` records, per experiment, the
    roles whose output held a secret (masked wherever it went)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.secrets_said: dict[str, set[str]] = {}

    def context(
        self, history: Sequence[ExperimentOutline], **extra: Unpack[StepContext]
    ) -> AgentContext:
        """What every role is told: the spec, the backlog, what was tried and still stands,
        the recent archive notes, and `extra` for the step at hand."""
        run = self.pipeline
        store = run.store
        for note in store.take_set_aside():
            run.notice(note, "warning")
        spec = store.spec_path.read_text(encoding="utf-8") if store.spec_path.exists() else ""
        # Outcomes that still stand: a kept change touching an idea's files lets it be
        # tried again.
        still = standing(list(history))
        finished = [e for e in history if e.status.final][-RECENT_NOTES:]
        archive = [text for e in finished if (text := store.read_artifact(e.id, "note.md"))]
        reverted = [
            e.hypothesis.model_copy(
                update={"files": sorted({*e.hypothesis.files, *e.files_changed})}
            )
            for e in still
            if e.status == ExperimentStatus.REVERTED
        ]
        return AgentContext(
            project=str(run.workspace.project.name),
            spec=spec,
            backlog=store.backlog(),
            tried={e.hypothesis.title: e.status.value for e in still},
            reverted=reverted,
            past=self.past(still),
            archive=archive,
            python=run.python,
            lint=run.config.eval.lint,
            similarity_limit=run.config.eval.max_similarity,
            runtime=run.runtime.name,
            verdict_rule=verdict_rule(
                run.evaluator.config,
                run.gate.mode,
                run.policy.metric if run.options.mode == "research" else None,
            ),
            performance=reading_for_agents(store.root),
            guards=list(GUARD_RULES),
            shell=run.sandbox.enabled,
            noise_z=run.evaluator.config.z,
            **extra,
        )

    def past(self, still: Sequence[ExperimentOutline]) -> list[PastExperiment]:
        """The last reverted experiments that still stand, with why each was reverted."""
        store = self.pipeline.store
        told = []
        for outline in [e for e in still if e.status == ExperimentStatus.REVERTED][-PAST_REVERTED:]:
            try:
                verdict = store.load_experiment(outline.id).verdict
            except FactoryError:
                verdict = None
            told.append(
                PastExperiment(
                    id=outline.id,
                    title=outline.hypothesis.title,
                    category=outline.hypothesis.category,
                    files=sorted({*outline.hypothesis.files, *outline.files_changed}),
                    reason=verdict.reason if verdict else "",
                    failed_checks=[
                        f"{check.name}: {check.detail}"
                        for check in (verdict.checks if verdict else [])
                        if not check.ok
                    ],
                    predicted=outline.hypothesis.predicted,
                    measured=outline.measured,
                )
            )
        return told

    def fixed_surfaces(self, base: str) -> list[str]:
        """What no experiment may change, as the Builder and Reviewer are told it: the
        eval's configuration files and protected paths, then the base's test files."""
        run = self.pipeline
        tracked = run.workspace.repo.git.ls_tree("-r", "--name-only", base).splitlines()
        names = set(EVAL_CONFIG_FILES)
        config = [path for path in tracked if path.rsplit("/", 1)[-1] in names]
        if "pyproject.toml" in tracked:
            config.append("pyproject.toml: its [tool.pytest], coverage, ruff and mypy tables")
        protected = [f"{glob} (protected)" for glob in run.config.eval.protected]
        tests = [path for path in tracked if is_test_file(path)]
        return [*config, *protected, *tests]

    def view(self, role: Role, cwd: Path) -> View:
        """An agent's sandbox: its worktree (writable for the Builder alone) and that
        worktree's git metadata read-only; the rest of the user's project hidden."""
        project = self.pipeline.workspace.project
        return View(
            writable=(cwd,) if role is Role.BUILDER else (),
            readable=(cwd, project / ".git"),
            hidden=(project,),
        )

    @contextlib.contextmanager
    def stage(self, stage: Stage, experiment_id: str | None) -> Iterator[None]:
        emit = self.pipeline.emit
        started = time.monotonic()
        emit(StageStarted(stage=stage, experiment=experiment_id))
        ok = False
        try:
            yield
            ok = True
        finally:
            emit(
                StageFinished(
                    stage=stage, ok=ok, elapsed=time.monotonic() - started, experiment=experiment_id
                )
            )

    @contextlib.contextmanager
    def log(self, role: Role, experiment_id: str | None) -> Iterator[CappedOutput]:
        """An `emit` for one agent: each line to the bus and to the agent's log on disk."""
        path = self.pipeline.store.agent_log_path(experiment_id, role.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            output = CappedOutput(self, role, experiment_id, handle)
            try:
                yield output
            finally:
                output.finish()

    async def call(
        self,
        agent: RoleContract[Output],
        cwd: Path,
        context: AgentContext,
        experiment_id: str | None,
        experiment: Experiment | None = None,
    ) -> AgentRun[Output]:
        """Run one agent in `cwd` and return what it did, typed as its role's output; its
        usage is added to the run's cost and to the experiment's."""
        role = agent.role
        run = self.pipeline
        await run.checkpoint()
        stage = Stage(role.value) if role.value in STAGE_NAMES else None
        if role in PLAYBOOK_ROLES:
            context.playbook = run.playbooks.prompt_text(role)
        limits = run.config.agents.for_role(role.value)
        agents = run.config.agents
        web = role is Role.RESEARCHER and run.runtime.name == "claude"
        context.budget = Budget(
            max_turns=limits.max_turns or agents.max_turns,
            cost_left_usd=(
                max(0.0, run.options.max_cost - run.cost_usd)
                if run.options.max_cost is not None
                else None
            ),
            # The web is the Researcher's, and only the claude runtime has web tools.
            web_searches=agents.web_searches if web else 0,
            web_pages=agents.web_pages if web else 0,
        )
        request = AgentRequest(
            role=role,
            cwd=cwd,
            context=context,
            experiment=experiment_id,
            inactivity_timeout=limits.inactivity_timeout,
            wall_timeout=limits.wall_timeout,
            view=self.view(role, cwd),
        )
        with contextlib.ExitStack() as stack:
            if stage is not None:
                stack.enter_context(self.stage(stage, experiment_id))
            emit_line = stack.enter_context(self.log(role, experiment_id))
            run.emit(AgentStarted(role=role, runtime=run.runtime.name, experiment=experiment_id))
            started = time.monotonic()
            guarded = run.runtime.name != "offline" and not run.sandbox.enabled
            before = await asyncio.to_thread(run.workspace.git_state) if guarded else None
            config = self._config_bytes() if guarded else None
            result = await run.runtime.run(request, emit_line)
            emit_line.finish()  # the kept tail of a flood, before the agent is finished
            if before is not None:
                # Unsandboxed, an agent can reach .git and .factory: undo what it did to
                # either, and say so.
                for line in await asyncio.to_thread(run.workspace.restore_git_state, before):
                    run.notice(f"the {role.label} changed the repository: {line}", "warning")
                if self._config_bytes() != config:
                    self._restore_config(config)
                    run.notice(
                        f"the {role.label} changed {run.store.config_path}: put back; the "
                        "run goes on with the config it started with",
                        "warning",
                    )
            if result.error:
                result.error = redact(plain(result.error))
                emit_line(f"error: {result.error}", "error")
            run.emit(
                AgentFinished(
                    role=role,
                    ok=result.ok,
                    error=result.error,
                    usage=result.usage,
                    elapsed=time.monotonic() - started,
                    experiment=experiment_id,
                )
            )
        run.cost_usd += result.usage.cost_usd
        if experiment is not None:
            spent = experiment.usage.get(role.value, AgentUsage())
            experiment.usage[role.value] = spent + result.usage
        return result.as_output(agent.output)

    def _config_bytes(self) -> bytes | None:
        try:
            return self.pipeline.store.config_path.read_bytes()
        except OSError:
            return None

    def _restore_config(self, data: bytes | None) -> None:
        path = self.pipeline.store.config_path
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, data.decode("utf-8", "replace"))


class CappedOutput:
    """One agent run's output, line by line, to the bus and the agent's log. An agent
    printing without end must not fill the disk or the event log: past the first
    HEAD_LINES_KEPT lines only the last TAIL_LINES_KEPT are kept (said when the agent is
    done), besides every error and its result, written as they come (so after a flood they
    stand ahead of the tail that came before them). Each line is cut at MAX_LINE_CHARS."""

    def __init__(
        self, calls: AgentCalls, role: Role, experiment_id: str | None, handle: IO[str]
    ) -> None:
        self.calls, self.role, self.experiment_id, self.handle = calls, role, experiment_id, handle
        self.kept = self.dropped = 0
        self.tail: deque[tuple[str, OutputKind]] = deque(maxlen=TAIL_LINES_KEPT)
        self.finished = False

    def __call__(self, line: str, kind: OutputKind = "text") -> None:
        if self.kept >= HEAD_LINES_KEPT and kind not in ("error", "result"):
            if len(self.tail) == self.tail.maxlen:
                self.dropped += 1
            self.tail.append((line, kind))
            return
        self.kept += 1
        self._write(line, kind)

    def finish(self) -> None:
        """The tail, after a line saying how much before it was not kept."""
        if self.finished:
            return
        self.finished = True
        if self.dropped:
            self._write(
                f"… {self.dropped:,} line(s) of output not kept: the first "
                f"{HEAD_LINES_KEPT:,} are above, the last {len(self.tail):,} below",
                "info",
            )
        for line, kind in self.tail:
            self._write(line, kind)
        self.tail.clear()

    def _write(self, line: str, kind: OutputKind) -> None:
        if len(line) > MAX_LINE_CHARS:
            line = f"{line[:MAX_LINE_CHARS]}… ({len(line) - MAX_LINE_CHARS:,} more chars)"
        text = plain(line)
        clean = redact(text)
        if clean != text and self.experiment_id is not None:
            self.calls.secrets_said.setdefault(self.experiment_id, set()).add(self.role.label)
        self.handle.write(clean + "\n")
        self.calls.pipeline.emit(
            AgentOutput(role=self.role, line=clean, kind=kind, experiment=self.experiment_id)
        )
