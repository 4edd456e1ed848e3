"""How alike two hypotheses are: the overlap of their significant words (Jaccard).

Word overlap rather than character edits: "fix rule E712 in a.py" and "fix rule F841 in
b.py" share their phrasing but not their substance, and must not count as the same idea.
"""

from __future__ import annotations

import re

from factory_tui.engine.models import Check

STOP_WORDS = {
    "a",
    "an",
    "the",
    "in",
    "of",
    "for",
    "to",
    "and",
    "with",
    "on",
    "by",
    "from",
    "into",
    "at",
    "as",
    "more",
    "files",
    "file",
}
_WORD = re.compile(r"[a-z0-9_./'-]+")


def words(text: str) -> set[str]:
    return {w.strip(".'") for w in _WORD.findall(text.lower()) if w not in STOP_WORDS} - {""}


def similarity(first: str, second: str) -> float:
    a, b = words(first), words(second)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def most_similar(title: str, others: list[str]) -> tuple[str, float] | None:
    scored = [(other, similarity(title, other)) for other in others]
    return max(scored, key=lambda pair: pair[1], default=None)


def similarity_check(title: str, reverted: list[str], limit: float) -> Check:
    """The precheck rule: not more similar than `limit` to a hypothesis already reverted."""
    closest = most_similar(title, reverted)
    if closest is None:
        return Check(name="not a reverted idea", ok=True, detail="nothing reverted yet")
    other, score = closest
    return Check(
        name="not a reverted idea",
        ok=score <= limit,
        detail=f"{score:.0%} similar to reverted '{other}' (limit {limit:.0%})",
    )
