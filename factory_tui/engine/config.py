"""`.factory/config.toml`: validated by pydantic, written with tomli-w.

Every section forbids unknown keys, so a typo is an error naming the field and the file
rather than a setting silently ignored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import UsageError


class Section(BaseModel):
    # No NaN or infinity anywhere: a NaN weight would make every composite NaN.
    # Built on first use, not at import: a command pays only for the models it reads.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class RoleConfig(Section):
    """Per-role overrides of the agents' defaults."""

    model: str | None = None
    max_turns: int | None = Field(default=None, ge=1)
    inactivity_timeout: float | None = Field(default=None, gt=0)
    wall_timeout: float | None = Field(default=None, gt=0)


class AgentsConfig(Section):
    model: str | None = None
    max_turns: int = Field(default=30, ge=1)
    # Seconds without any output, and seconds in all, before an agent is stopped.
    inactivity_timeout: float = Field(default=300.0, gt=0)
    wall_timeout: float = Field(default=1800.0, gt=0)
    # Transient API errors (overloaded, rate limited, 5xx, timeouts) are retried this often,
    # waiting retry_backoff seconds, doubling each time.
    retries: int = Field(default=2, ge=0)
    retry_backoff: float = Field(default=5.0, ge=0)
    # The Claude Code CLI to run (`claude` from PATH by default).
    claude: str = "claude"
    # The command runtime's argument template, e.g. "codex exec {prompt}".
    command: str | None = None
    # The Researcher's web tools on the claude runtime: searches and pages fetched in one
    # run (0 turns them off). A call past the bound is refused, and the agent told so.
    web_searches: int = Field(default=8, ge=0, le=100)
    web_pages: int = Field(default=5, ge=0, le=100)
    roles: dict[str, RoleConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_roles(self) -> AgentsConfig:
        known = {
            "researcher",
            "strategist",
            "builder",
            "reviewer",
            "archivist",
            "distiller",
            "failure_analyst",
        }
        unknown = sorted(set(self.roles) - known)
        if unknown:
            raise ValueError(
                f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(sorted(known))}"
            )
        return self

    def for_role(self, role: str) -> RoleConfig:
        """The role's settings, its overrides applied over the defaults."""
        override = self.roles.get(role, RoleConfig())
        return RoleConfig(
            model=override.model or self.model,
            max_turns=override.max_turns or self.max_turns,
            inactivity_timeout=override.inactivity_timeout or self.inactivity_timeout,
            wall_timeout=override.wall_timeout or self.wall_timeout,
        )


class MetricConfig(Section):
    """A project dimension: a command whose output is the score."""

    command: str
    parse: Literal["json", "regex", "exit_code"] = "json"
    key: str = "score"  # json: the (dotted) key holding the value
    pattern: str | None = None  # regex: the first group is the value
    direction: Literal["higher", "lower"] = "higher"
    min: float | None = None  # bounds that map the raw value to 0..1
    max: float | None = None
    weight: float = Field(default=1.0, gt=0)
    timeout: float = Field(default=300.0, gt=0)
    # Stream the command's output into the Evaluator's pane and log.
    show_output: bool = True
    # A change must move the value by more than this (beyond its noise) to count as better.
    min_delta: float = Field(default=0.0, ge=0)
    # How often to measure each tree. None: once when two runs of the base agree, else 3.
    repeats: int | None = Field(default=None, ge=1, le=50)

    @model_validator(mode="after")
    def _parse_needs_pattern(self) -> MetricConfig:
        if self.parse == "regex" and not self.pattern:
            raise ValueError("parse = 'regex' needs a pattern")
        if self.min is not None and self.max is not None and self.max <= self.min:
            raise ValueError("max must be greater than min")
        return self


class TierWeights(Section):
    hygiene: float | None = Field(default=None, ge=0)
    growth: float | None = Field(default=None, ge=0)
    project: float | None = Field(default=None, ge=0)

    def resolved(self, has_project: bool) -> dict[str, float]:
        """Defaults: 0.5 / 0.5 without project metrics, 0.3 / 0.2 / 0.5 with them."""
        defaults = (
            {"hygiene": 0.3, "growth": 0.2, "project": 0.5}
            if has_project
            else {"hygiene": 0.5, "growth": 0.5, "project": 0.0}
        )
        given = self.model_dump(exclude_none=True)
        return {tier: given.get(tier, default) for tier, default in defaults.items()}


DEFAULT_DIMENSION_WEIGHTS = {
    "tests": 3.0,
    "lint": 2.0,
    "types": 2.0,
    "coverage": 2.0,
    "guards": 1.0,
    "config": 1.0,
    "capability": 1.0,
    "observability": 1.0,
}


class LintConfig(Section):
    """ruff runs with the project's own configuration (ruff's defaults where it has none);
    these widen or replace its rule selection for the eval, as ruff's own flags would."""

    select: list[str] | None = None
    extend_select: list[str] = Field(default_factory=list)


class EvalConfig(Section):
    # The verdict is dominance: no dimension worse beyond its noise, one better beyond it.
    # A min_delta above 0 also asks the composite (the headline number) to rise that much.
    min_delta: float = Field(default=0.0, ge=0)
    # Standard errors a measured metric must beat the base by to count as better.
    z: float = Field(default=2.0, ge=0)
    # The project's test command; detected from the project when unset.
    test_command: list[str] | None = None
    # Where Python tests run: "auto" builds an environment from the project's declared test
    # dependencies (as its CI would) when it declares any; "project" always uses its own.
    test_env: Literal["auto", "project"] = "auto"
    lint: LintConfig = Field(default_factory=LintConfig)
    # Each dimension's own time limit, in seconds.
    timeout: float = Field(default=600.0, gt=0)
    # Optional command that must pass before any keep (run in the experiment's worktree).
    smoke_command: str | None = None
    # When set, an experiment may change only paths matching these globs.
    modifiable: list[str] | None = None
    # Paths an experiment must never change (metric scripts, fixtures, eval configuration).
    protected: list[str] = Field(default_factory=list)
    # Hypotheses this similar to a reverted one (same kind, rules and files) fail the precheck.
    max_similarity: float = Field(default=0.6, ge=0, le=1)
    tiers: TierWeights = Field(default_factory=TierWeights)
    weights: dict[str, float] = Field(default_factory=dict)
    metrics: dict[str, MetricConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_weights(self) -> EvalConfig:
        known = {*DEFAULT_DIMENSION_WEIGHTS, "guards", *self.metrics}
        unknown = sorted(set(self.weights) - known)
        if unknown:
            raise ValueError(
                f"weights for unknown dimension(s) {', '.join(unknown)}; the dimensions are "
                f"{', '.join(sorted(known))}"
            )
        negative = sorted(name for name, value in self.weights.items() if value < 0)
        if negative:
            raise ValueError(f"weights must be 0 or more: {', '.join(negative)}")
        return self

    def weight(self, dimension: str) -> float:
        if dimension in self.metrics:
            return self.metrics[dimension].weight
        return self.weights.get(dimension, DEFAULT_DIMENSION_WEIGHTS.get(dimension, 1.0))


class ResearchConfig(MetricConfig):
    """Research mode's one target metric, and the surfaces experiments must never touch or
    see: ground-truth data, eval scripts, fixtures."""

    fixed: list[str] = Field(default_factory=list)
    # The metric's output may quote the ground truth: it stays out of panes and logs.
    show_output: bool = False


MAX_PARALLEL = 16


class RunConfig(Section):
    # A run ends at a plateau once this many experiments in a row were reverted.
    plateau: int = Field(default=5, ge=1)
    # events.jsonl becomes events-NNNNNN.jsonl past this size, and a new one starts.
    event_log_mib: float = Field(default=64.0, gt=0)
    # Experiments run side by side in a cycle, each in its own worktree slot; verdicts are
    # still taken one at a time.
    parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    # "ray": each experiment is built and measured as a task on a Ray cluster (at
    # `ray_address`, else $RAY_ADDRESS, else Ray's "auto"); its verdict is still taken here.
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    # Environment variables of this process each Ray task gets (an API key the agents need
    # on the node, say); nothing else of the environment leaves this machine.
    ray_env: list[str] = Field(default_factory=list)


class FactoryConfig(Section):
    runtime: Literal["offline", "claude", "command"] = "offline"
    approval: Literal["auto", "manual"] = "auto"
    # "auto": every agent (and every eval process running code an agent wrote) runs in a
    # bubblewrap sandbox, and the claude and command runtimes refuse to start without one;
    # "off": they run unsandboxed, and every front end says so.
    sandbox: Literal["auto", "off"] = "auto"
    run: RunConfig = Field(default_factory=RunConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    research: ResearchConfig | None = None


def load_config(path: Path) -> FactoryConfig:
    """Read the config file; a missing file means the defaults."""
    if not path.exists():
        return FactoryConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{path}: cannot read config: {error}") from None
    try:
        return FactoryConfig.model_validate(data)
    except ValidationError as error:
        raise UsageError(f"{path}: invalid config: {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{field}: {item['msg']}")
    return "; ".join(problems)
