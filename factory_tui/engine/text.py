"""Text helpers: how much two pieces of prose say the same thing, word for word.

For prose (playbook rules, a focus item against a proposal); hypotheses are compared by
what they change instead (`eval.similarity`).
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    {"a", "an", "the", "in", "of", "for", "to", "and", "with", "on", "by", "from", "into"}
    | {"at", "as", "more", "files", "file"}
)
_WORD = re.compile(r"[a-z0-9_./'-]+")


def words(text: str) -> set[str]:
    """The significant words of `text`, lower-cased."""
    return {w.strip(".'") for w in _WORD.findall(text.lower()) if w not in STOP_WORDS} - {""}


def word_overlap(first: str, second: str) -> float:
    """The Jaccard overlap of two texts' significant words, 0..1 (0 when either is empty)."""
    a, b = words(first), words(second)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
