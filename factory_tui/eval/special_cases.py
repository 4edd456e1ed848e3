"""Code that special-cases the tests: new comparisons against values the base's tests use.

`if a == 2 and b == 3: return 5` makes a test pass without fixing anything. A new
comparison, outside the tests, against a literal that appears in the base's tests (an
input or an expected value) is flagged: not a proof of cheating, so it does not revert the
experiment, but it may not be kept without a person.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from . import tools
from .diffs import DiffUnreadable, added

TRIVIAL = {0, 1, -1, ""}  # with True, False, 0.0 and 1.0, which compare equal


def test_literals(paths: Iterable[str], read: Callable[[str], str | None]) -> set[object]:
    """The literal values the tests at `paths` use (numbers, and strings of two or more
    characters), trivial ones (0, 1, True, None, "") left out."""
    found: set[object] = set()
    for path in paths:
        try:
            tree = ast.parse(read(path) or "")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and _meaningful(node.value):
                found.add(node.value)
    return found


def _meaningful(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return value not in TRIVIAL
    return isinstance(value, str) and len(value) >= 2


def added_lines(diff: str) -> dict[str, set[int]]:
    """Per file, the numbers of the lines a diff adds (in the new version)."""
    lines: dict[str, set[int]] = {}
    for path, number, _ in added(diff):
        lines.setdefault(path, set()).add(number)
    return lines


def special_cases(
    diff: str, read_new: Callable[[str], str | None], literals: set[object]
) -> list[str]:
    """`path:line compares with <value>` for each new comparison outside the tests against
    a value the base's tests use."""
    flagged = []
    try:
        changed = added_lines(diff)
    except DiffUnreadable as error:
        return [str(error)]
    for path, lines in changed.items():
        if not path.endswith(".py") or tools.is_test_file(path):
            continue
        try:
            tree = ast.parse(read_new(path) or "")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare) or node.lineno not in lines:
                continue
            for side in (node.left, *node.comparators):
                for value in _values(side):
                    if value in literals:
                        flagged.append(f"{path}:{node.lineno} compares with {value!r}")
    return sorted(set(flagged))


def _values(node: ast.AST) -> list[object]:
    if isinstance(node, ast.Constant):
        return [node.value] if _meaningful(node.value) else []
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [v for element in node.elts for v in _values(element)]
    return []
