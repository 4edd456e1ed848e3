"""The Factory's domain models: what an experiment is, how it is scored and decided.

Every file the engine reads or writes under `.factory/` is one of these models, so a
record written by one version of the program is validated when read by another.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Record(BaseModel):
    """Base of every persisted model: unknown fields from newer versions are ignored."""

    # Built on first use, not at import: a command pays only for the models it reads.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Role(StrEnum):
    """The specialist agents. The Evaluator measures; the CEO is the engine itself."""

    RESEARCHER = "researcher"
    STRATEGIST = "strategist"
    BUILDER = "builder"
    REVIEWER = "reviewer"
    EVALUATOR = "evaluator"
    ARCHIVIST = "archivist"
    DISTILLER = "distiller"
    FAILURE_ANALYST = "failure_analyst"

    @property
    def label(self) -> str:
        """The role as people read it ("Failure Analyst"); `title` stays str's own method."""
        return self.value.replace("_", " ").title()


class Stage(StrEnum):
    """The stages of one cycle, in order. `baseline` scores the base before research."""

    BASELINE = "baseline"
    RESEARCHER = "researcher"
    STRATEGIST = "strategist"
    BUILDER = "builder"
    REVIEWER = "reviewer"
    EVALUATOR = "evaluator"
    CEO = "ceo"
    ARCHIVIST = "archivist"

    @property
    def label(self) -> str:
        """The stage as people read it ("CEO", "Builder")."""
        return "CEO" if self is Stage.CEO else self.value.title()


class Finding(Record):
    title: str
    detail: str = ""
    area: str = ""
    evidence: str = ""


class Hypothesis(Record):
    """One proposed change. The title is specific enough to act on."""

    title: str
    rationale: str = ""
    expected_gain: float = 0.0
    effort: Literal["S", "M", "L"] = "M"
    files: list[str] = Field(default_factory=list)
    category: str = "general"
    source: Literal["strategist", "backlog", "focus", "user"] = "strategist"
    # The Strategist's prediction: how much each dimension's score (0..1) will move, e.g.
    # {"lint": 0.05}; the factory records it against what was measured.
    predicted: dict[str, float] = Field(default_factory=dict)

    @field_validator("predicted", mode="before")
    @classmethod
    def _numbers_only(cls, value: object) -> dict[str, float]:
        """A model's prediction as numbers on the score's scale: anything else is dropped,
        not a reason to lose the hypothesis."""
        if not isinstance(value, dict):
            return {}
        kept = {}
        for name, change in value.items():
            try:
                number = float(change)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                kept[str(name)] = max(-1.0, min(1.0, number))
        return kept


# The tier a dimension counts in.
Tier = Literal["hygiene", "growth", "project", "factory"]
# One value a tool counted, as a dimension's `raw` holds it.
RawValue = float | int | str | bool | None


class DimensionScore(Record):
    """One eval dimension. `score` is None when the dimension does not apply.

    `raw` holds what the tool counted (violations, failing tests, covered statements): the
    verdict compares those, not the scores. A measured metric keeps every repeat in
    `samples`, so its noise can be told from a change.
    """

    name: str
    tier: Tier
    score: float | None
    weight: float = 1.0
    reason: str = ""
    raw: dict[str, RawValue] = Field(default_factory=dict)
    samples: list[float] = Field(default_factory=list)
    # The tests: which ones fail or error, by id, so a verdict sees a swap the counts hide.
    failing: list[str] = Field(default_factory=list)

    @property
    def applicable(self) -> bool:
        return self.score is not None


class Scorecard(Record):
    """The eval of one git tree: every dimension, the tier scores and the composite."""

    tree: str
    dimensions: list[DimensionScore]
    tiers: dict[str, float] = Field(default_factory=dict)
    # The share of the composite each tier had (renormalised over applicable tiers).
    tier_weights: dict[str, float] = Field(default_factory=dict)
    composite: float
    elapsed: float = 0.0
    cached: bool = False

    def dimension(self, name: str) -> DimensionScore | None:
        return next((d for d in self.dimensions if d.name == name), None)

    def value(self, name: str) -> float | None:
        """A project dimension's raw value, as its command reported it."""
        dimension = self.dimension(name)
        value = dimension.raw.get("value") if dimension else None
        return float(value) if isinstance(value, int | float) else None

    def values(self) -> dict[str, float]:
        """Every dimension's raw value that its command reported, by name."""
        return {d.name: value for d in self.dimensions if (value := self.value(d.name)) is not None}


def score_changes(before: Scorecard | None, after: Scorecard | None) -> dict[str, float]:
    """Each dimension scored on both sides: its score after minus before, and the
    composite's as "composite"."""
    if before is None or after is None:
        return {}
    changes = {
        d.name: round(new.score - d.score, 6)
        for d in before.dimensions
        if d.score is not None
        and (new := after.dimension(d.name)) is not None
        and new.score is not None
    }
    changes["composite"] = round(after.composite - before.composite, 6)
    return changes


class LintViolation(Record):
    code: str
    message: str = ""
    path: str
    line: int = 0
    fix: str | None = None  # "safe", "unsafe" or None when ruff has no fix


class TestFailureRecord(Record):
    name: str
    kind: str = "failure"  # "failure" or "error"
    exception: str = ""
    message: str = ""
    file: str = ""


class TreeEvidence(Record):
    """What the eval's tools found in one tree, beyond the counts: the offline Researcher
    reads it instead of running the same tools again, so findings and score agree."""

    violations: list[LintViolation] = Field(default_factory=list)
    unformatted: list[str] = Field(default_factory=list)
    formatter: str | None = None  # why unformatted files count, None when they do not
    test_python: str = ""  # the interpreter the tests ran with
    passed: int = 0
    failed: int = 0
    errors: int = 0
    failures: list[TestFailureRecord] = Field(default_factory=list)
    coverage: float | None = None
    file_coverage: dict[str, float] = Field(default_factory=dict)
    executed: dict[str, str] = Field(default_factory=dict)  # path -> lines run, "1-4,7"

    def lines_run(self, path: str) -> set[int]:
        """The lines of `path` the tests ran."""
        lines: set[int] = set()
        for part in filter(None, self.executed.get(path, "").split(",")):
            first, _, last = part.partition("-")
            lines.update(range(int(first), int(last or first) + 1))
        return lines

    @staticmethod
    def line_ranges(lines: list[int]) -> str:
        """[1, 2, 3, 7] as "1-3,7": compact enough for every file of a big project."""
        parts: list[str] = []
        start = previous = None
        for line in sorted(set(lines)):
            if previous is not None and line == previous + 1:
                previous = line
                continue
            if start is not None:
                parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = previous = line
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        return ",".join(parts)


class Check(Record):
    """One precheck or guard: a rule, whether it held, and why."""

    name: str
    ok: bool
    detail: str = ""


# The Reviewer's call on a diff.
ReviewVerdict = Literal["approve", "reject"]


class Review(Record):
    verdict: ReviewVerdict
    concerns: list[str] = Field(default_factory=list)
    summary: str = ""


# What is done with an experiment's change.
KeepOrRevert = Literal["keep", "revert"]


class Verdict(Record):
    decision: KeepOrRevert
    reason: str
    decided_by: Literal["auto", "human", "engine"] = "auto"
    checks: list[Check] = Field(default_factory=list)

    @property
    def precheck_passed(self) -> bool:
        return all(check.ok for check in self.checks)


class AgentUsage(Record):
    """What one agent run cost. Offline agents cost nothing but still take time."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    duration_s: float = 0.0

    def __add__(self, other: AgentUsage) -> AgentUsage:
        return AgentUsage(
            cost_usd=self.cost_usd + other.cost_usd,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            turns=self.turns + other.turns,
            duration_s=self.duration_s + other.duration_s,
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    # Written before the base branch moves: a run killed now is reconciled from git.
    KEEPING = "keeping"
    KEPT = "kept"
    REVERTED = "reverted"
    ABORTED = "aborted"

    @property
    def final(self) -> bool:
        return self in (ExperimentStatus.KEPT, ExperimentStatus.REVERTED, ExperimentStatus.ABORTED)


class Experiment(Record):
    """One hypothesis tried on its own branch, from start to verdict."""

    id: str
    hypothesis: Hypothesis
    branch: str
    base_commit: str
    status: ExperimentStatus = ExperimentStatus.RUNNING
    commit: str | None = None
    files_changed: list[str] = Field(default_factory=list)
    diffstat: str = ""
    builder_summary: str = ""
    review: Review | None = None
    before: Scorecard | None = None
    after: Scorecard | None = None
    verdict: Verdict | None = None
    usage: dict[str, AgentUsage] = Field(default_factory=dict)
    started_at: float = Field(default_factory=time.time)
    finished_at: float | None = None
    # Where it ran ("slot-2": a worktree slot of this machine) and how long, measured, it
    # waited for its verdict behind others of its cycle (seconds).
    runner: str = ""
    waited: float = 0.0
    # The version of each role's playbook the experiment ran with (role -> short hash).
    playbooks: dict[str, str] = Field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after.composite - self.before.composite

    @property
    def measured(self) -> dict[str, float]:
        """How much each dimension's score moved, base to result: what a prediction is
        compared with."""
        return score_changes(self.before, self.after)

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage.values())


class ExperimentOutline(Record):
    """What a long history is read for, without the scorecards' detail: the ideas tried,
    their files, outcomes and scores. `Store.load_experiment` gives the whole record."""

    id: str
    status: ExperimentStatus
    hypothesis: Hypothesis
    files_changed: list[str] = Field(default_factory=list)
    before: float | None = None  # composites
    after: float | None = None
    # The scorecards' project metrics by name (research mode's metric among them).
    before_values: dict[str, float] = Field(default_factory=dict)
    after_values: dict[str, float] = Field(default_factory=dict)
    cost_usd: float = 0.0
    started_at: float = 0.0
    finished_at: float | None = None
    measured: dict[str, float] = Field(default_factory=dict)  # each dimension's score change
    playbooks: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOutline:
        before, after = experiment.before, experiment.after
        return cls(
            id=experiment.id,
            status=experiment.status,
            hypothesis=experiment.hypothesis,
            files_changed=experiment.files_changed,
            before=before.composite if before else None,
            after=after.composite if after else None,
            before_values=before.values() if before else {},
            after_values=after.values() if after else {},
            cost_usd=experiment.cost_usd,
            started_at=experiment.started_at,
            finished_at=experiment.finished_at,
            measured=experiment.measured,
            playbooks=experiment.playbooks,
        )

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


class ExperimentRow(NamedTuple):
    """One line of the history list: no more than it shows, so ten thousand load at once."""

    id: str
    title: str
    status: str
    before: float | None
    after: float | None
    runner: str = ""  # where it ran, when several ran at once
    waited: float = 0.0  # seconds it waited for its verdict behind others

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def ran(self) -> str:
        """Where it ran and how long it waited, as the history shows it ("" if alone)."""
        if not self.runner:
            return ""
        return self.runner + (f" +{self.waited:.0f}s" if self.waited >= 1 else "")


class BacklogItem(Record):
    id: str
    title: str
    detail: str = ""
    status: Literal["open", "done"] = "open"
    created_at: float = Field(default_factory=time.time)


class CeoMessage(Record):
    """A note from the person running the factory to the CEO, delivered to the next cycle."""

    id: str
    text: str
    created_at: float = Field(default_factory=time.time)
    read_at: float | None = None


class LockInfo(Record):
    pid: int
    started_at: float
    host: str = ""
    command: str = ""
