"""The one interface every agent runtime implements.

A runtime starts a role with a request (role, working directory, context, limits), streams
output lines as they come through `emit`, and finishes with an `AgentRun`: the role's
validated result, or an error. Runtimes: `offline` (real tools, no model), `claude` (the
Claude Code CLI) and `command` (any agent CLI by template).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from factory_tui.engine.config import LintConfig
from factory_tui.engine.models import (
    AgentUsage,
    BacklogItem,
    Finding,
    Hypothesis,
    Review,
    Role,
    Scorecard,
    TreeEvidence,
)
from factory_tui.engine.sandbox import View

from .contracts import Contract

OutputKind = Literal["text", "tool", "result", "error", "info"]
Emit = Callable[[str, OutputKind], None]


class PastExperiment(BaseModel):
    """A reverted experiment as the Strategist is told of it: what it tried and why it
    was not kept."""

    id: str
    title: str
    category: str = ""
    files: list[str] = Field(default_factory=list)
    reason: str = ""
    failed_checks: list[str] = Field(default_factory=list)  # "name: detail"
    predicted: dict[str, float] = Field(default_factory=dict)
    measured: dict[str, float] = Field(default_factory=dict)


class Budget(BaseModel):
    """What one agent run may spend, as it is told and as the runtime holds it to."""

    max_turns: int = 0
    cost_left_usd: float | None = None  # what is left of the run's cost limit, if any
    web_searches: int = 0  # the Researcher's, on a runtime with web tools
    web_pages: int = 0


class AgentContext(BaseModel):
    """Everything a role may be told. Each role's prompt uses the parts it needs."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    project: str = ""  # a short summary of the project
    spec: str = ""
    backlog: list[BacklogItem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # messages to the CEO, high priority
    findings: list[Finding] = Field(default_factory=list)
    research_summary: str = ""
    tried: dict[str, str] = Field(default_factory=dict)  # hypothesis title -> how it ended
    # Reverted hypotheses whose outcome still stands, their files including what the diff
    # touched: an idea too like one of these is not proposed again.
    reverted: list[Hypothesis] = Field(default_factory=list)
    hypothesis: Hypothesis | None = None
    builder_summary: str = ""
    diff: str = ""
    before: Scorecard | None = None
    after: Scorecard | None = None
    review: Review | None = None
    verdict: str = ""
    failures: str = ""  # the Failure Analyst's summary
    factory_report: str = ""  # the factory's own scorecard, for the Archivist's note
    archive: list[str] = Field(default_factory=list)  # recent archive notes
    playbook: str = ""
    idea: str = ""
    answers: dict[str, str] = Field(default_factory=dict)
    python: str = ""  # the interpreter that runs the project's tests
    lint: LintConfig = Field(default_factory=LintConfig)  # the eval's rule selection
    # What the baseline's measurement found in this tree (violations, failing tests, lines
    # run): the offline Researcher reads it rather than running the same tools again.
    evidence: TreeEvidence | None = None
    focus: str = ""  # focus mode: the one backlog item to propose a hypothesis for
    mode: str = ""  # the run's mode (research changes what the offline roles look for)
    research_failures: dict[str, int] = Field(default_factory=dict)  # failing cases by kind
    similarity_limit: float = 0.6  # how close to a reverted hypothesis the precheck allows
    runtime: str = ""  # the runtime the roles run on, for what they say they cannot do
    # Reverted experiments whose outcome still stands, with the reasons and failed checks.
    past: list[PastExperiment] = Field(default_factory=list)
    verdict_rule: str = ""  # how the verdict is reached, in plain words
    performance: str = ""  # the performance reports: this project's and across projects
    budget: Budget = Field(default_factory=Budget)
    # Paths no experiment may change (the base's tests, eval configuration, protected
    # paths), and what the guards block, in plain words: the Builder is told both.
    fixed: list[str] = Field(default_factory=list)
    guards: list[str] = Field(default_factory=list)
    shell: bool = False  # whether a reading role has a (read-only, sandboxed) shell
    noise_z: float = 2.0  # standard errors a metric must move by to count (the eval's z)


@dataclass
class AgentRequest:
    role: Role
    cwd: Path
    context: AgentContext
    experiment: str | None = None
    inactivity_timeout: float | None = None
    wall_timeout: float | None = None
    # What the agent's sandbox shows; None: its working folder, writable for the Builder.
    view: View | None = None

    def sandbox_view(self) -> View:
        if self.view is not None:
            return self.view
        writable = (self.cwd,) if self.role is Role.BUILDER else ()
        return View(writable=writable, readable=(self.cwd,))


Output = TypeVar("Output", bound=Contract)
Other = TypeVar("Other", bound=Contract)


@dataclass
class AgentRun(Generic[Output]):
    """How a role's run ended: its validated result, or the error that stopped it. A
    runtime returns `AgentRun[Contract]`; `as_output` gives the role's own type."""

    role: Role
    output: Output | None = None
    error: str | None = None
    usage: AgentUsage = field(default_factory=AgentUsage)
    session_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.output is not None and self.error is None

    @property
    def result(self) -> Output:
        """The output of a run that is `ok`; asking a failed run for it is a bug."""
        if self.output is None or self.error is not None:
            raise ValueError(f"the {self.role.label} failed: {self.error}")
        return self.output

    def as_output(self, kind: type[Other]) -> AgentRun[Other]:
        """This run typed as `kind`; an output of another type is an error, never a cast."""
        output = self.output
        if output is not None and not isinstance(output, kind):
            return AgentRun(
                self.role,
                error=f"the {self.role.label} returned {type(output).__name__}, "
                f"not {kind.__name__}",
                usage=self.usage,
                session_id=self.session_id,
            )
        return AgentRun(self.role, output, self.error, self.usage, self.session_id)


class Runtime(Protocol):
    name: str
    # What the runtime will and will not do, in one line; "" when a model can try anything.
    limits: str

    def out_of_reach(self, requests: Sequence[str]) -> list[str]:
        """The requests (backlog items, messages) this runtime cannot carry out."""
        ...

    async def run(self, request: AgentRequest, emit: Emit) -> AgentRun[Contract]:
        """Run the role to its end. Must end every child process when cancelled."""
        ...


class ModelRuntime:
    """A runtime that drives a model: it can try any request, so it has no limits to say."""

    limits = ""

    def out_of_reach(self, requests: Sequence[str]) -> list[str]:
        return []
