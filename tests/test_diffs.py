"""Diffs and path patterns read one way everywhere, on real git diffs: a line that starts
with "++" or "--" is content, not a header; a diff that cannot be read fails the guards."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from factory_tui.engine.config import EvalConfig
from factory_tui.engine.paths import matches
from factory_tui.engine.workspace import DIFF_FLAGS
from factory_tui.eval import guards
from factory_tui.eval.diffs import (
    DiffUnreadable,
    added,
    changed_lines,
    count_test_defs,
    diff_files,
)
from factory_tui.eval.guards import GuardInput, assertions_kept, run_guards

from .conftest import commit_all, write_files


def git_diff(make_repo, before: dict[str, str], after: dict[str, str]) -> tuple[Path, str]:
    root = make_repo(before)
    repo = git.Repo(root)
    base = repo.head.commit.hexsha
    for path in before.keys() - after.keys():
        (root / path).unlink()
    write_files(root, after)
    commit_all(root, "change")
    return root, repo.git.diff(base, repo.head.commit.hexsha, *DIFF_FLAGS)


def test_lines_that_look_like_headers_are_content(make_repo) -> None:
    test_file = "tests/a x/test_calc.py"
    root, diff = git_diff(
        make_repo,
        {test_file: "def test_one():\n    assert 1\n", "notes.sql": "-- old\nselect 1;\n"},
        {"notes.sql": "--- new\n+++ also new\nselect 1;\n", "calc.py": "x = 1\n++x\n"},
    )
    assert diff_files(diff) == {"calc.py": "added", "notes.sql": "modified", test_file: "deleted"}
    plus, minus = changed_lines(diff)["notes.sql"]
    assert (plus, minus) == (["--- new", "+++ also new"], ["-- old"])
    assert list(added(diff))[:2] == [("calc.py", 1, "x = 1"), ("calc.py", 2, "++x")]
    assert count_test_defs(diff) == (1, 0)
    guard = GuardInput(diff=diff, worktree=root, config=EvalConfig(), read_base=lambda _: None)
    kept = guards.tests_kept(guard)
    assert not kept.ok and kept.detail == f"{test_file} deleted"
    assertions = assertions_kept(guard)
    assert not assertions.ok and assertions.detail == "test assertions -1 +0"


def test_path_patterns_follow_gitignore_rules_everywhere() -> None:
    assert matches("data/holdout.jsonl", ["data/"])
    assert matches("nested/data/holdout.jsonl", ["data/"])  # a folder named data anywhere
    assert not matches("eval/score.py", ["/data/"])
    assert matches("eval/score.py", ["eval/score.py"])
    assert not matches("pkg/eval/score.py", ["eval/score.py"])  # a path with a slash is anchored
    assert matches("pkg/holdout.csv", ["*.csv"])
    assert not matches("src/app.py", ["data/", "*.csv"])


def test_a_diff_git_writes_ambiguously_fails_the_guards(make_repo) -> None:
    # git writes `diff --git a/tests/x b/test_a.py b/tests/x b/test_a.py`: no reader can tell
    # where the first path ends, so nothing in that diff passes a guard.
    root, diff = git_diff(
        make_repo, {"tests/x b/test_a.py": "def test_a():\n    assert 1\n"}, {"a.py": "a = 1\n"}
    )
    with pytest.raises(DiffUnreadable):
        diff_files(diff)
    guard = GuardInput(diff=diff, worktree=root, config=EvalConfig(), read_base=lambda _: None)
    checks = run_guards(guard)
    assert [(c.name, c.ok) for c in checks] == [("guard: diff readable", False)]
