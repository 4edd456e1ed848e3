"""Text helpers: agent output made plain, and how much two pieces of prose say the same
thing, word for word.

Word overlap is for prose (playbook rules, a focus item against a proposal); hypotheses are
compared by what they change instead (`eval.similarity`).
"""

from __future__ import annotations

import math
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


# Escape sequences (CSI, OSC such as a terminal-title change, DCS/PM/APC strings, two-byte
# escapes) and every C0/C1 control character but tab and newline.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def plain(text: str) -> str:
    """`text` with no escape sequence and no control character but tab and newline: what
    an agent prints is shown and stored, never obeyed by a terminal."""
    return _CONTROL.sub("", text)


def score_cell(value: float | None, sign: str = "") -> str:
    """A score as the tables show it: four decimals (`sign="+"` for a delta), "-" when
    there is none."""
    return "-" if value is None else f"{value:{sign}.4f}"


def money(usd: float) -> str:
    """Dollars with the digits the amount needs: $1.50, $0.12, $0.002, $0.0043, never a
    limit of $0.002 shown as $0.00."""
    if usd <= 0 or usd >= 0.995:
        return f"${max(usd, 0):,.2f}"
    decimals = max(2, 1 - math.floor(math.log10(usd)))  # two significant digits
    text = f"{usd:.{decimals}f}"
    whole, fraction = text.split(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"
