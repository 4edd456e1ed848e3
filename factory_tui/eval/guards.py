"""Guards: changes an experiment may never make, whatever its score says."""

from __future__ import annotations

from pathlib import Path

from factory_tui.engine.models import Check

from . import tools
from .diffs import diff_files


def test_files_kept(diff: str, worktree: Path) -> Check:
    """No test file deleted or emptied."""
    lost = []
    for path, state in diff_files(diff).items():
        if not tools.is_test_file(path) or not path.endswith(".py"):
            continue
        if state == "deleted":
            lost.append(f"{path} deleted")
        elif (
            not (worktree / path).exists()
            or not (worktree / path).read_text(encoding="utf-8", errors="replace").strip()
        ):
            lost.append(f"{path} emptied")
    return Check(
        name="guard: tests kept",
        ok=not lost,
        detail="; ".join(lost) if lost else "no test file deleted or emptied",
    )


def run_guards(diff: str, worktree: Path) -> list[Check]:
    return [test_files_kept(diff, worktree)]
