"""ACE playbooks: what each role has learned from kept and reverted experiments.

A playbook is markdown with front matter and two lists of bullets:

    - [builder-00003] helpful=4 harmful=1 :: Run the tests before finishing a lint change.

`reflect` proposes candidate bullets from finished experiments (their categories, the
reasons they were kept or reverted, the Failure Analyst's findings); `curate` merges near
duplicates, updates every bullet's counters on the recorded outcomes, prunes bullets whose
harmful count passes their helpful one, and caps the playbook's size; `inject` is the text
appended to a role's prompt. Defaults ship with the package; evolved playbooks live in the
project (`.factory/playbooks/`) and, promoted, in `$FACTORY_HOME/playbooks/`.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from factory_tui.engine.models import Experiment, ExperimentStatus, Role
from factory_tui.engine.registry import factory_home
from factory_tui.engine.store import Store, write_atomic
from factory_tui.engine.text import word_overlap

Kind = Literal["do", "dont"]
PLAYBOOK_ROLES = (
    Role.RESEARCHER,
    Role.STRATEGIST,
    Role.BUILDER,
    Role.REVIEWER,
    Role.ARCHIVIST,
    Role.FAILURE_ANALYST,
    Role.DISTILLER,
)
CAP = 20
DUPLICATE = 0.6  # word overlap at which a candidate is the same lesson as a bullet
RELEVANT = 0.3  # word overlap at which an outcome counts for (or against) a bullet
_BULLET = re.compile(
    r"^- \[(?P<id>[\w-]+)\] helpful=(?P<helpful>\d+) harmful=(?P<harmful>\d+) :: (?P<rule>.+)$"
)


@dataclass
class Bullet:
    id: str
    kind: Kind
    rule: str
    helpful: int = 0
    harmful: int = 0

    @property
    def score(self) -> int:
        return self.helpful - self.harmful

    def line(self) -> str:
        return f"- [{self.id}] helpful={self.helpful} harmful={self.harmful} :: {self.rule}"


@dataclass
class Playbook:
    role: Role
    bullets: list[Bullet] = field(default_factory=list)
    updated: str = ""

    @property
    def version(self) -> str:
        """Its rules, not their counters, as 7 hex digits: the same rules, the same version."""
        rules = sorted(f"{b.kind} {b.rule}" for b in self.bullets)
        return hashlib.sha1("\n".join(rules).encode()).hexdigest()[:7]

    def next_id(self) -> str:
        numbers = [
            int(b.id.rsplit("-", 1)[-1]) for b in self.bullets if b.id.rsplit("-", 1)[-1].isdigit()
        ]
        return f"{self.role.value}-{max(numbers, default=0) + 1:05d}"

    def render(self) -> str:
        lines = [
            "---",
            f"role: {self.role.value}",
            f"updated: {self.updated or 'never'}",
            "---",
            "",
            f"# {self.role.label} playbook",
            "",
            "## DO",
            "",
        ]
        lines += [b.line() for b in self.bullets if b.kind == "do"] or ["(none yet)"]
        lines += ["", "## DON'T", ""]
        lines += [b.line() for b in self.bullets if b.kind == "dont"] or ["(none yet)"]
        return "\n".join(lines) + "\n"

    def inject(self) -> str:
        """The part a role's prompt gets: the rules, best supported first."""
        ranked = sorted(self.bullets, key=lambda b: (-b.score, b.id))
        do = [f"- {b.rule}" for b in ranked if b.kind == "do"]
        dont = [f"- {b.rule}" for b in ranked if b.kind == "dont"]
        parts = []
        if do:
            parts.append("Do:\n" + "\n".join(do))
        if dont:
            parts.append("Don't:\n" + "\n".join(dont))
        return "\n\n".join(parts)


def parse_playbook(text: str, role: Role) -> Playbook:
    playbook = Playbook(role=role)
    kind: Kind = "do"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("updated:"):
            playbook.updated = line.removeprefix("updated:").strip()
        elif line.upper().startswith("## DON"):
            kind = "dont"
        elif line.upper().startswith("## DO"):
            kind = "do"
        elif match := _BULLET.match(line):
            playbook.bullets.append(
                Bullet(
                    id=match["id"],
                    kind=kind,
                    rule=match["rule"].strip(),
                    helpful=int(match["helpful"]),
                    harmful=int(match["harmful"]),
                )
            )
    return playbook


# -- where playbooks live ------------------------------------------------------------------------
def default_text(role: Role) -> str:
    return (
        resources.files("factory_tui.agents")
        .joinpath("playbooks", f"{role.value}.md")
        .read_text(encoding="utf-8")
    )


class Playbooks:
    """A project's playbooks: its own evolved ones, else the global ones, else the defaults."""

    def __init__(self, project_factory_dir: Path, home: Path | None = None) -> None:
        self.project_dir = project_factory_dir / "playbooks"
        self.global_dir = (home or factory_home()) / "playbooks"

    def path(self, role: Role) -> Path:
        return self.project_dir / f"{role.value}.md"

    def path_for(self, role_name: str) -> Path:
        return self.project_dir / f"{role_name}.md"

    def load(self, role: Role) -> Playbook:
        for folder in (self.project_dir, self.global_dir):
            path = folder / f"{role.value}.md"
            if path.exists():
                return parse_playbook(path.read_text(encoding="utf-8"), role)
        return parse_playbook(default_text(role), role)

    def save(self, playbook: Playbook, promote: bool = False) -> None:
        playbook.updated = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_atomic(self.path(playbook.role), playbook.render())
        if promote:
            write_atomic(self.global_dir / f"{playbook.role.value}.md", playbook.render())

    def prompt_text(self, role: Role) -> str:
        return self.load(role).inject()

    def versions(self) -> dict[str, str]:
        """Each role's playbook as a short hash of its rules: an experiment records the
        versions it ran with, so keep rates can be told apart by playbook."""
        return {role.value: self.load(role).version for role in PLAYBOOK_ROLES}

    @property
    def state_path(self) -> Path:
        return self.project_dir / "state.json"

    def state(self) -> AceState:
        try:
            return AceState.model_validate_json(self.state_path.read_bytes())
        except (OSError, ValidationError):
            return AceState()

    def save_state(self, state: AceState) -> None:
        write_atomic(self.state_path, state.model_dump_json(indent=2))


class AceState(BaseModel):
    processed: list[str] = Field(default_factory=list)  # experiment ids already learned from
    last_changes: dict[str, list[str]] = Field(default_factory=dict)  # role -> changes
    curated_at: float | None = None


# -- reflect, curate ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    role: Role
    kind: Kind
    rule: str


def _failed_checks(experiment: Experiment) -> list[str]:
    if experiment.verdict is None:
        return []
    return [check.name for check in experiment.verdict.checks if not check.ok]


def reflect(experiment: Experiment, failures: str = "") -> list[Candidate]:
    """Candidate bullets from one finished experiment."""
    title, category = experiment.hypothesis.title, experiment.hypothesis.category
    if experiment.status == ExperimentStatus.KEPT:
        delta = f" ({experiment.delta:+.4f})" if experiment.delta is not None else ""
        return [
            Candidate(
                Role.STRATEGIST, "do", f"Prefer {category} hypotheses like '{title}': kept{delta}."
            )
        ]
    if experiment.status != ExperimentStatus.REVERTED:
        return []
    failed = _failed_checks(experiment)
    reason = (
        ", ".join(failed)
        if failed
        else (experiment.verdict.reason if experiment.verdict else "reverted")
    )
    candidates = [
        Candidate(Role.STRATEGIST, "dont", f"Avoid {category} hypotheses like '{title}': {reason}.")
    ]
    # "tests not regressed" is what records written before the dominance verdict say.
    if "tests not worse" in failed or "tests not regressed" in failed:
        cause = f" ({failures})" if failures else ""
        candidates.append(
            Candidate(
                Role.BUILDER,
                "dont",
                f"Don't leave {category} changes like '{title}' without "
                f"running the tests: they broke{cause}.",
            )
        )
    if any(name.startswith("guard:") for name in failed):
        candidates.append(
            Candidate(
                Role.BUILDER,
                "dont",
                f"Never trip a guard: '{title}' failed "
                f"{', '.join(n for n in failed if n.startswith('guard:'))}.",
            )
        )
    return candidates


def _relevant(bullet: Bullet, experiment: Experiment) -> bool:
    subject = f"{experiment.hypothesis.title} {experiment.hypothesis.category}"
    return word_overlap(bullet.rule, subject) >= RELEVANT


def curate(
    playbook: Playbook, candidates: list[Candidate], outcomes: list[Experiment], cap: int = CAP
) -> list[str]:
    """Fold candidates and outcomes into `playbook`; returns what changed, line by line."""
    changes: list[str] = []
    existing_ids = {b.id for b in playbook.bullets}
    for bullet in playbook.bullets:  # counters first, on what the outcomes say
        for experiment in outcomes:
            if not _relevant(bullet, experiment):
                continue
            kept = experiment.status == ExperimentStatus.KEPT
            confirmed = kept if bullet.kind == "do" else not kept
            if confirmed:
                bullet.helpful += 1
            else:
                bullet.harmful += 1
            changes.append(
                f"{bullet.id} {'helpful' if confirmed else 'harmful'} +1 "
                f"({experiment.id} {experiment.status.value})"
            )
    for candidate in candidates:
        twin = next(
            (
                b
                for b in playbook.bullets
                if b.kind == candidate.kind and word_overlap(b.rule, candidate.rule) >= DUPLICATE
            ),
            None,
        )
        if twin is not None:
            if twin.id in existing_ids:
                continue  # its counters were updated from the same outcome above
            twin.helpful += 1
            changes.append(f"merged into {twin.id}: {candidate.rule}")
            continue
        bullet = Bullet(id=playbook.next_id(), kind=candidate.kind, rule=candidate.rule, helpful=1)
        playbook.bullets.append(bullet)
        changes.append(f"added {bullet.id}: {bullet.rule}")
    for bullet in [b for b in playbook.bullets if b.harmful > b.helpful]:
        playbook.bullets.remove(bullet)
        changes.append(
            f"pruned {bullet.id} (helpful={bullet.helpful} harmful={bullet.harmful}): {bullet.rule}"
        )
    if len(playbook.bullets) > cap:
        ranked = sorted(playbook.bullets, key=lambda b: (-b.score, -b.helpful, b.id))
        for bullet in ranked[cap:]:
            playbook.bullets.remove(bullet)
            changes.append(f"capped {bullet.id}: {bullet.rule}")
    return changes


def ace(store: Store, playbooks: Playbooks, promote: bool = False) -> dict[str, list[str]]:
    """Reflect on every finished experiment not learned from yet, and curate each playbook."""
    state = playbooks.state()
    fresh = [
        store.load_experiment(experiment_id)
        for experiment_id in store.decided_ids()
        if experiment_id not in state.processed
    ]
    candidates: list[Candidate] = []
    for experiment in fresh:
        note = store.read_artifact(experiment.id, "note.md") or ""
        failures = _section(note, "Failing tests")
        candidates += reflect(experiment, failures)
    changed: dict[str, list[str]] = {}
    for role in PLAYBOOK_ROLES:
        playbook = playbooks.load(role)
        changes = curate(playbook, [c for c in candidates if c.role is role], fresh)
        if changes or promote:
            playbooks.save(playbook, promote=promote)
        if changes:
            changed[role.value] = changes
    state.processed += [e.id for e in fresh]
    state.last_changes = changed or state.last_changes
    state.curated_at = time.time()
    playbooks.save_state(state)
    return changed


def _section(markdown: str, title: str) -> str:
    match = re.search(
        rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL
    )
    return match.group(1).strip() if match else ""
