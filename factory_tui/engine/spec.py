"""Specs: their sections, every version kept while shaping one, and what a spec implies.

A spec is markdown with `## Problem`, `## Users`, `## Features`, `## Non-goals`,
`## Acceptance criteria` and `## Eval metrics` sections. While it is shaped with the
Distiller, each version is kept in `.factory/spec/vNNN.md` and the working draft, the open
questions and the answers in `.factory/spec/state.json`, so a session can be left and
resumed. Features become backlog items; eval metrics with a command become project
dimensions.
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from .config import MetricConfig
from .store import write_atomic

SECTIONS = ("Problem", "Users", "Features", "Non-goals", "Acceptance criteria", "Eval metrics")
UNDECIDED = "_To be decided._"
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*\S)\s*$", re.MULTILINE)
# "- accuracy: `python eval.py` (higher is better)"
_METRIC = re.compile(r"^(?P<name>[A-Za-z][\w-]*)\s*:\s*`(?P<command>[^`]+)`(?P<rest>.*)$")


@dataclass(frozen=True)
class ParsedSpec:
    title: str
    sections: dict[str, str]

    def section(self, name: str) -> str:
        text = self.sections.get(name.lower(), "").strip()
        return "" if text == UNDECIDED else text

    def bullets(self, name: str) -> list[str]:
        return [match.group(1).strip() for match in _BULLET.finditer(self.section(name))]


def parse_spec(text: str) -> ParsedSpec:
    title_match = re.search(r"^#\s+(.+?)\s*$", text, re.MULTILINE)
    title = title_match.group(1).strip() if title_match else "Untitled project"
    sections: dict[str, str] = {}
    headings = list(_HEADING.finditer(text))
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        sections[heading.group(1).strip().lower()] = text[heading.end() : end].strip()
    return ParsedSpec(title=title, sections=sections)


def backlog_items(spec: ParsedSpec) -> list[tuple[str, str]]:
    """(title, detail) per feature; the acceptance criteria go into each item's detail."""
    criteria = spec.bullets("Acceptance criteria")
    detail = ("Acceptance criteria:\n" + "\n".join(f"- {c}" for c in criteria)) if criteria else ""
    return [(feature.rstrip("."), detail) for feature in spec.bullets("Features")]


def eval_metrics(spec: ParsedSpec) -> dict[str, MetricConfig]:
    """Eval metrics written as name, colon, command in backticks become project dimensions,
    scored by the command's exit status, or by the `score` in its JSON output when the line
    says "json" ("lower is better" turns the direction around)."""
    metrics = {}
    for bullet in spec.bullets("Eval metrics"):
        match = _METRIC.match(bullet)
        if match is None:
            continue
        rest = match.group("rest").lower()
        metrics[match.group("name")] = MetricConfig(
            command=match.group("command").strip(),
            parse="json" if "json" in rest else "exit_code",
            direction="lower" if "lower" in rest else "higher",
        )
    return metrics


def diff_text(old: str, new: str, old_name: str = "before", new_name: str = "after") -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


# Where a version of the spec came from.
SpecSource = Literal["idea", "file", "you", "distiller"]


class SpecVersion(BaseModel):
    number: int
    source: SpecSource
    summary: str = ""
    created_at: float = Field(default_factory=time.time)


class SpecState(BaseModel):
    idea: str = ""
    summary: str = ""
    questions: list[str] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict)
    versions: list[SpecVersion] = Field(default_factory=list)
    accepted: bool = False


class SpecDraft:
    """The versions and working state of one spec being shaped, in `.factory/spec/`."""

    def __init__(self, factory_dir: Path) -> None:
        self.folder = factory_dir / "spec"
        self.accepted_path = factory_dir / "spec.md"

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    @property
    def draft_path(self) -> Path:
        return self.folder / "draft.md"

    def exists(self) -> bool:
        return self.state_path.exists()

    def state(self) -> SpecState:
        try:
            return SpecState.model_validate_json(self.state_path.read_bytes())
        except (OSError, ValidationError):
            return SpecState()

    def save_state(self, state: SpecState) -> None:
        write_atomic(self.state_path, state.model_dump_json(indent=2))

    def version_path(self, number: int) -> Path:
        return self.folder / f"v{number:03d}.md"

    def load(self, number: int) -> str:
        return self.version_path(number).read_text(encoding="utf-8")

    def latest(self) -> str:
        versions = self.state().versions
        return self.load(versions[-1].number) if versions else ""

    def add_version(self, text: str, source: SpecSource, summary: str = "") -> int | None:
        """Keep `text` as the next version; None when it is the same as the latest."""
        state = self.state()
        if state.versions and self.load(state.versions[-1].number) == text:
            return None
        number = (state.versions[-1].number + 1) if state.versions else 1
        write_atomic(self.version_path(number), text)
        state.versions.append(SpecVersion(number=number, source=source, summary=summary))
        self.save_state(state)
        return number

    def draft(self) -> str:
        if self.draft_path.exists():
            return self.draft_path.read_text(encoding="utf-8")
        return self.latest()

    def save_draft(self, text: str) -> None:
        write_atomic(self.draft_path, text)

    def accept(self, text: str) -> Path:
        self.add_version(text, "you", "accepted")
        state = self.state()
        state.accepted = True
        self.save_state(state)
        write_atomic(self.accepted_path, text)
        return self.accepted_path
