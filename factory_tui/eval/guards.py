"""Guards: changes an experiment may never make, whatever its score says.

Each guard is a `Check` that names what it looked at. Any tripped guard fails the precheck,
and neither the CEO nor a person can keep the experiment.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory_tui.engine.config import EvalConfig
from factory_tui.engine.models import Check, DimensionScore
from factory_tui.engine.paths import matches

from . import tools
from .diffs import DiffUnreadable, changed_lines, diff_files
from .secrets import scan_diff

# Test, coverage, lint and type-check settings: changing them could move the score without
# changing the code, so they count as eval configuration.
EVAL_CONFIG_FILES = (
    "pytest.ini",
    "tox.ini",
    ".coveragerc",
    "ruff.toml",
    ".ruff.toml",
    "mypy.ini",
    ".mypy.ini",
)
EVAL_PYPROJECT_TABLES = ("pytest", "coverage", "ruff", "mypy")
_ASSERTION = re.compile(r"^\s*assert\b|\.assert\w*\(|pytest\.raises|pytest\.fail|self\.fail\(")


# What the guards block, in the words an agent is told them (one per guard in run_guards).
GUARD_RULES = (
    "tests kept: no test file deleted or emptied",
    "assertions kept: no assert, pytest.raises or self.fail removed from a test",
    "eval files untouched: no change to pytest.ini, tox.ini, .coveragerc, ruff/mypy "
    "configuration, the [tool.pytest|coverage|ruff|mypy] tables of pyproject.toml, metric "
    "scripts or protected paths",
    "how files are read untouched: no change to how the project opens its data files",
    "test collection untouched: no conftest.py, pytest plugin or test dependency change",
    "base tests keep their meaning: the base's tests keep every assertion they had "
    "(a hypothesis of kind 'tests' may add tests, never loosen one)",
    "test count: no test of the base disappears from the run",
    "symlinks inside: no symlink pointing out of the worktree",
    "changes inside the worktree: nothing written anywhere else",
    "no secrets added: no key, token or password in the diff",
    "modifiable paths: only the paths the project allows experiments to change",
)


@dataclass
class GuardInput:
    """What the guards look at for one experiment."""

    diff: str
    worktree: Path
    config: EvalConfig
    read_base: Callable[[str], str | None]  # a file's text at the experiment's base commit
    protected: set[str] = field(default_factory=set)  # extra paths (metric scripts)
    outside_changes: list[str] = field(default_factory=list)
    category: str = ""  # the hypothesis's kind: a `tests` hypothesis may change the tests


def tests_kept(guard: GuardInput) -> Check:
    lost = []
    for path, state in diff_files(guard.diff).items():
        if not tools.is_test_file(path) or not path.endswith(".py"):
            continue
        target = guard.worktree / path
        if state == "deleted" or not target.exists():
            lost.append(f"{path} deleted")
        elif not target.read_text(encoding="utf-8", errors="replace").strip():
            lost.append(f"{path} emptied")
    return Check(
        name="guard: tests kept",
        ok=not lost,
        detail="; ".join(lost) if lost else "no test file deleted or emptied",
    )


def assertions_kept(guard: GuardInput) -> Check:
    removed = added = 0
    for path, (plus, minus) in changed_lines(guard.diff).items():
        if tools.is_test_file(path):
            added += sum(1 for line in plus if _ASSERTION.search(line))
            removed += sum(1 for line in minus if _ASSERTION.search(line))
    return Check(
        name="guard: assertions kept",
        ok=removed <= added,
        detail=f"test assertions -{removed} +{added}",
    )


def eval_files_untouched(guard: GuardInput) -> Check:
    touched = []
    protected = {*guard.config.protected, *guard.protected, *EVAL_CONFIG_FILES}
    for path in diff_files(guard.diff):
        name = path.rsplit("/", 1)[-1]
        if matches(path, protected) or name in EVAL_CONFIG_FILES:
            touched.append(path)
        elif name == "pyproject.toml" and _eval_tables_changed(guard, path):
            touched.append(f"{path} (test/lint/coverage/type settings)")
    return Check(
        name="guard: eval files untouched",
        ok=not touched,
        detail=", ".join(touched) if touched else "no eval configuration or metric script changed",
    )


def _eval_tables_changed(guard: GuardInput, path: str) -> bool:
    def tables(text: str | None) -> dict[str, Any]:
        try:
            tool = tomllib.loads(text or "").get("tool", {})
        except tomllib.TOMLDecodeError:
            return {"unreadable": True}
        return {name: tool.get(name) for name in EVAL_PYPROJECT_TABLES}

    after = guard.worktree / path
    after_text = after.read_text(encoding="utf-8", errors="replace") if after.exists() else None
    return tables(guard.read_base(path)) != tables(after_text)


def inside_worktree(guard: GuardInput) -> Check:
    outside = guard.outside_changes
    return Check(
        name="guard: changes inside the worktree",
        ok=not outside,
        detail=(
            "changed outside the experiment's worktree: " + ", ".join(outside[:5])
            if outside
            else "nothing changed outside the worktree"
        ),
    )


def no_secrets(guard: GuardInput) -> Check:
    """No secret in what the experiment adds: named by file, line and kind, never value."""
    found = scan_diff(guard.diff)
    return Check(
        name="guard: no secrets added",
        ok=not found,
        detail=(
            "a secret added at " + ", ".join(str(f) for f in found[:5])
            if found
            else "no secret in the added lines"
        ),
    )


def modifiable_paths(guard: GuardInput) -> Check:
    allowed = guard.config.modifiable
    if not allowed:
        return Check(name="guard: modifiable paths", ok=True, detail="every path may change")
    outside = [path for path in diff_files(guard.diff) if not matches(path, allowed)]
    return Check(
        name="guard: modifiable paths",
        ok=not outside,
        detail=(
            "outside " + ", ".join(allowed) + ": " + ", ".join(outside[:5])
            if outside
            else f"all changes within {', '.join(allowed)}"
        ),
    )


# Files that change how the repository's diffs, its tests or any Python start are read:
# `.gitattributes` can turn a test file's diff binary (an assertion removed unseen);
# sitecustomize, usercustomize and .pth files run at every interpreter start.
READING_FILES = (".gitattributes", "sitecustomize.py", "usercustomize.py")


def reading_untouched(guard: GuardInput) -> Check:
    touched = [
        path
        for path in diff_files(guard.diff)
        if path.rsplit("/", 1)[-1] in READING_FILES or path.endswith(".pth")
    ]
    return Check(
        name="guard: how files are read untouched",
        ok=not touched,
        detail=", ".join(touched) if touched else "no .gitattributes, customize or .pth file",
    )


def collection_untouched(guard: GuardInput) -> Check:
    """Nothing may change how the tests are collected or reported: conftest.py files, a
    test folder's __init__.py, pytest plugins named in code, setup.cfg's test sections, and
    the test dependencies a test environment is built from."""
    touched = []
    files = diff_files(guard.diff)
    for path, (plus, minus) in changed_lines(guard.diff).items():
        name = path.rsplit("/", 1)[-1]
        if name == "conftest.py" and not _same_code(guard, path):
            touched.append(f"{path} (conftest)")
        elif name == "__init__.py" and tools.is_test_file(path) and (plus or minus):
            touched.append(f"{path} (a test package's __init__)")
        elif any(re.match(r"\s*pytest_plugins\s*=", line) for line in plus):
            touched.append(f"{path} (pytest_plugins)")
    for path in files:
        name = path.rsplit("/", 1)[-1]
        if name == "setup.cfg" and _sections_changed(guard, path, ("tool:pytest", "coverage")):
            touched.append(f"{path} (test settings)")
        elif name == "pyproject.toml" and _test_dependencies_changed(guard, path):
            touched.append(f"{path} (test dependencies)")
    return Check(
        name="guard: test collection untouched",
        ok=not touched,
        detail=", ".join(touched) if touched else "no conftest, plugin or test setting changed",
    )


def _same_code(guard: GuardInput, path: str) -> bool:
    """Whether a Python file changed only in its formatting (the same syntax tree)."""
    after = guard.worktree / path
    try:
        old = ast.dump(ast.parse(guard.read_base(path) or ""))
        new = ast.dump(ast.parse(after.read_text(encoding="utf-8"))) if after.exists() else None
    except (SyntaxError, OSError, UnicodeDecodeError):
        return False
    return guard.read_base(path) is not None and old == new


def _sections_changed(guard: GuardInput, path: str, prefixes: tuple[str, ...]) -> bool:
    def sections(text: str | None) -> dict[str, dict[str, str]]:
        parser = configparser.ConfigParser(interpolation=None)
        with contextlib.suppress(configparser.Error):
            parser.read_string(text or "")
        return {name: dict(parser[name]) for name in parser.sections() if name.startswith(prefixes)}

    after = guard.worktree / path
    after_text = after.read_text(encoding="utf-8", errors="replace") if after.exists() else None
    return sections(guard.read_base(path)) != sections(after_text)


def _test_dependencies_changed(guard: GuardInput, path: str) -> bool:
    from .test_env import FALLBACK_NAMES, TEST_NAMES

    names = (*TEST_NAMES, *FALLBACK_NAMES)

    def declared(text: str | None) -> dict[str, Any]:
        try:
            data = tomllib.loads(text or "")
        except tomllib.TOMLDecodeError:
            return {"unreadable": True}
        extras = data.get("project", {}).get("optional-dependencies", {}) or {}
        groups = data.get("dependency-groups", {}) or {}
        return {name: (extras.get(name), groups.get(name)) for name in names}

    after = guard.worktree / path
    after_text = after.read_text(encoding="utf-8", errors="replace") if after.exists() else None
    return declared(guard.read_base(path)) != declared(after_text)


def base_tests_mean_the_same(guard: GuardInput, category: str = "") -> Check:
    """Every test the base has asserts what it asserted: rewriting an expected value,
    weakening an assertion to `assert True`, renaming a failing test so it is not collected.
    Formatting and imports may change. A hypothesis about the tests themselves (category
    `tests`) may change them: that passes here and asks a person (see `needs_a_person`)."""
    changed = _changed_tests(guard)
    if changed and category == "tests":
        return Check(
            name="guard: base tests keep their meaning",
            ok=True,
            detail="a tests hypothesis changed: " + "; ".join(changed[:5]) + " (a person decides)",
        )
    return Check(
        name="guard: base tests keep their meaning",
        ok=not changed,
        detail="; ".join(changed[:5]) if changed else "every base test asserts what it did",
    )


def needs_a_person(guard: GuardInput) -> str | None:
    """Why this experiment may not be kept without a person, or None."""
    changed = _changed_tests(guard)
    if changed and guard.category == "tests":
        return "it changes what the base's tests assert: " + "; ".join(changed[:3])
    return None


def _changed_tests(guard: GuardInput) -> list[str]:
    changed = []
    for path, state in diff_files(guard.diff).items():
        if state != "modified" or not path.endswith(".py") or not tools.is_test_file(path):
            continue
        target = guard.worktree / path
        before = test_assertions(guard.read_base(path) or "")
        try:
            after = test_assertions(target.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            changed.append(f"{path} no longer parses")
            continue
        for name, asserted in before.items():
            if name not in after:
                changed.append(f"{path}::{name} removed or renamed")
            elif after[name] != asserted:
                changed.append(f"{path}::{name} asserts something else")
    return changed


def test_assertions(source: str) -> dict[str, list[str]]:
    """Each test function (module level or in a Test class) and what it asserts: its assert
    statements, unittest assert calls and pytest.raises, as positionless AST dumps."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    tests: dict[str, list[str]] = {}
    scopes: list[tuple[str, ast.AST]] = [("", tree)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            scopes.append((f"{node.name}.", node))
    for prefix, scope in scopes:
        for node in getattr(scope, "body", []):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"
            ):
                tests[prefix + node.name] = [
                    ast.dump(inner) for inner in ast.walk(node) if _asserts(inner)
                ]
    return tests


def _asserts(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name.startswith("assert") or name in ("raises", "approx", "fail")
    return False


def symlinks_inside(guard: GuardInput) -> Check:
    """A symlink the experiment adds or changes must point inside the worktree: one that
    points out would make the user's tree read or write elsewhere once kept."""
    root = guard.worktree.resolve()
    outside = []
    for path in diff_files(guard.diff):
        link = guard.worktree / path
        if not link.is_symlink():
            continue
        target = os.readlink(link)
        resolved = Path(os.path.normpath(link.parent / target))
        if os.path.isabs(target) or not (resolved == root or root in resolved.parents):
            outside.append(f"{path} -> {target}")
    return Check(
        name="guard: symlinks inside",
        ok=not outside,
        detail="points outside the worktree: " + ", ".join(outside)
        if outside
        else "no symlink points outside the worktree",
    )


def run_guards(guard: GuardInput) -> list[Check]:
    """Every diff-based guard; the test-count guard needs the scores (see `guard_test_counts`).
    A diff that cannot be read is one failed guard: nothing in it is taken on trust."""
    try:
        diff_files(guard.diff)
    except DiffUnreadable as error:
        return [Check(name="guard: diff readable", ok=False, detail=str(error))]
    return [
        tests_kept(guard),
        assertions_kept(guard),
        eval_files_untouched(guard),
        reading_untouched(guard),
        collection_untouched(guard),
        base_tests_mean_the_same(guard, guard.category),
        symlinks_inside(guard),
        inside_worktree(guard),
        no_secrets(guard),
        modifiable_paths(guard),
    ]


def guard_test_counts(before: DimensionScore | None, after: DimensionScore | None) -> Check:
    """No fewer tests collected, and no more skipped, than at the baseline."""
    if before is None or after is None or not before.raw or not after.raw:
        return Check(name="guard: test count", ok=True, detail="no test counts to compare")
    old_collected, new_collected = (
        int(before.raw.get("collected") or 0),
        int(after.raw.get("collected") or 0),
    )
    old_skipped, new_skipped = (
        int(before.raw.get("skipped") or 0),
        int(after.raw.get("skipped") or 0),
    )
    problems = []
    if new_collected < old_collected:
        problems.append(f"collected {old_collected} -> {new_collected}")
    if new_skipped > old_skipped:
        problems.append(f"skipped {old_skipped} -> {new_skipped}")
    return Check(
        name="guard: test count",
        ok=not problems,
        detail="; ".join(problems)
        if problems
        else f"collected {old_collected} -> {new_collected}, skipped {old_skipped} -> "
        f"{new_skipped}",
    )
