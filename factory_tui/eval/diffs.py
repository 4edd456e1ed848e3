"""Reading unified git diffs, one way for every guard, gate and agent: unidiff parses them.

A line an experiment adds that itself starts with `++` or `--` is content, not a header (the
line-by-line readers this replaced skipped it). A diff unidiff cannot read (git's header for
a path holding " b/" is ambiguous) raises DiffUnreadable: the guards then fail, never pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

from unidiff.constants import DEV_NULL
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

FileChange = Literal["added", "deleted", "modified"]
_TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+test_\w*")


class DiffUnreadable(ValueError):
    """A diff no reader can be sure of; what it hides must not pass a guard."""


@lru_cache(maxsize=16)  # the guards read the same diff many times over
def _patch(diff: str) -> PatchSet:
    for line in diff.splitlines():
        # unidiff splits `diff --git a/P b/Q` at the last " b/": with one inside P it would
        # name another path, silently, so such a header is refused.
        if line.startswith("diff --git ") and line.count(" b/") + line.count(' "b/') > 1:
            raise DiffUnreadable(f"the diff names a path git writes ambiguously: {line[11:]}")
    try:
        return PatchSet(diff)
    except UnidiffParseError as error:
        raise DiffUnreadable(f"the diff could not be read ({error})") from None


def diff_files(diff: str) -> dict[str, FileChange]:
    """Paths in a unified git diff, each 'added', 'deleted' or 'modified'."""
    files: dict[str, FileChange] = {}
    for patched in _patch(diff):
        # git's own word ("new file mode", "deleted file mode"): unidiff's is_added_file and
        # is_removed_file also call an emptied file removed, which it is not.
        change: FileChange = (
            "added"
            if patched.source_file == DEV_NULL
            else "deleted"
            if patched.target_file == DEV_NULL
            else "modified"
        )
        files[patched.path] = change
    return files


def changed_lines(diff: str) -> dict[str, tuple[list[str], list[str]]]:
    """Per file: (added lines, removed lines), without their newlines."""
    changes: dict[str, tuple[list[str], list[str]]] = {}
    for patched in _patch(diff):
        plus, minus = changes.setdefault(patched.path, ([], []))
        for hunk in patched:
            for line in hunk:
                if line.is_added:
                    plus.append(line.value.rstrip("\n"))
                elif line.is_removed:
                    minus.append(line.value.rstrip("\n"))
    return changes


def added(diff: str) -> Iterator[tuple[str, int, str]]:
    """(path, line number in the new version, text) of every line a diff adds."""
    for patched in _patch(diff):
        for hunk in patched:
            for line in hunk:
                if line.is_added and line.target_line_no is not None:
                    yield patched.path, line.target_line_no, line.value.rstrip("\n")


def added_text(diff: str) -> str:
    """Every line a diff adds, joined: what the leakage gate reads. Unreadable, every line
    that may be an addition: the gate reads more, never less."""
    try:
        return "\n".join(text for _, _, text in added(diff))
    except DiffUnreadable:
        return "\n".join(line[1:] for line in diff.splitlines() if line.startswith("+"))


def count_test_defs(diff: str) -> tuple[int, int]:
    """(removed, added) test function definitions in a diff."""
    removed = added_count = 0
    for plus, minus in changed_lines(diff).values():
        added_count += sum(1 for line in plus if _TEST_DEF.match(line))
        removed += sum(1 for line in minus if _TEST_DEF.match(line))
    return removed, added_count
