"""Reading unified git diffs: which files changed how, and what happened to tests."""

from __future__ import annotations

import re

_TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+test_\w*")


def diff_files(diff: str) -> dict[str, str]:
    """Paths in a unified git diff, each 'added', 'deleted' or 'modified'."""
    files: dict[str, str] = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            current = line.split(" b/", 1)[-1]
            files[current] = "modified"
        elif current and line.startswith("new file mode"):
            files[current] = "added"
        elif current and line.startswith("deleted file mode"):
            files[current] = "deleted"
    return files


def count_test_defs(diff: str) -> tuple[int, int]:
    """(removed, added) test function definitions in a diff."""
    removed = sum(
        1
        for line in diff.splitlines()
        if line.startswith("-") and not line.startswith("---") and _TEST_DEF.match(line[1:])
    )
    added = sum(
        1
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++") and _TEST_DEF.match(line[1:])
    )
    return removed, added
