"""Leakage guards for research mode: answers must not reach the code from the ground truth.

The fixed surfaces (ground-truth data, eval scripts, fixtures) are read once per run to
learn what only they contain: distinctive words (absent from the rest of the project) and
specific values (numbers and quoted strings). A hypothesis or a diff that carries them —
or that names one next to a negation, encoding an answer by exclusion — is a leak. Each
assessment has a level: low is allowed; medium and high redirect the hypothesis or revert
the experiment, and the reason is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from factory_tui.engine.paths import matches

from . import tools

Level = Literal["none", "low", "medium", "high"]
MAX_BYTES = 4 * 1024 * 1024
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,}")
_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d{2,}|(?<![\w.])\d{4,}(?![\w.])")
_QUOTED = re.compile(r"\"([^\"\n]{4,80})\"|'([^'\n]{4,80})'")
_NEGATION = re.compile(r"\bnot\b|!=|\bexcept\b|\bexclud\w*|\bunless\b|\bnever\b", re.I)


@dataclass
class GroundTruth:
    tokens: set[str] = field(default_factory=set)  # lower-case words only the fixed files hold
    values: set[str] = field(default_factory=set)  # numbers and quoted strings they hold

    @classmethod
    def read(cls, root: Path, fixed: list[str]) -> GroundTruth:
        fixed_text: list[str] = []
        other_text: list[str] = []
        budget = MAX_BYTES
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            if relative.split("/")[0] in tools.SKIP_DIRS:
                continue
            try:
                data = path.read_bytes()[:budget]
            except OSError:
                continue
            if b"\0" in data[:4096]:
                continue
            text = data.decode("utf-8", "replace")
            (fixed_text if matches(relative, fixed) else other_text).append(text)
        truth, rest = "\n".join(fixed_text), "\n".join(other_text)
        common = {w.lower() for w in _WORD.findall(rest)}
        tokens = {w.lower() for w in _WORD.findall(truth)} - common
        values = set(_NUMBER.findall(truth))
        values |= {a or b for a, b in _QUOTED.findall(truth)}
        values = {v for v in values if v not in rest}
        return cls(tokens=tokens, values=values)


@dataclass(frozen=True)
class Risk:
    level: Level
    reasons: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.level in ("medium", "high")

    def describe(self) -> str:
        return f"{self.level} leakage risk" + (
            f": {'; '.join(self.reasons)}" if self.reasons else ""
        )


def assess(text: str, truth: GroundTruth) -> Risk:
    """How much of the ground truth `text` carries."""
    words = {w.lower() for w in _WORD.findall(text)}
    tokens = sorted(words & truth.tokens)
    values = sorted(v for v in truth.values if v in text)
    reasons = []
    if tokens:
        reasons.append(f"distinctive ground-truth words: {', '.join(tokens[:5])}")
    if values:
        reasons.append(f"values copied from the ground truth: {', '.join(values[:3])}")
    negated = [t for t in [*tokens, *values] if _negated(text, t)]
    if negated:
        reasons.append(f"negation that encodes an answer by exclusion: {negated[0]}")
    if negated or len(values) >= 2 or len(tokens) >= 3:
        level: Level = "high"
    elif values or len(tokens) == 2:
        level = "medium"
    elif tokens:
        level = "low"
    else:
        level = "none"
    return Risk(level, tuple(reasons))


def _negated(text: str, needle: str) -> bool:
    lowered = text.lower()
    start = lowered.find(needle.lower())
    while start != -1:
        window = lowered[max(0, start - 30) : start + len(needle) + 30]
        if _NEGATION.search(window):
            return True
        start = lowered.find(needle.lower(), start + 1)
    return False
