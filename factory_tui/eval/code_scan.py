"""One pass over the project's Python sources, shared by every dimension that reads code.

Capability, observability, the types dimension's "does it use type hints?" and the line
count lint and types divide by all need the sources; reading and parsing each file once
instead of several times matters on big projects.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import tools

LOGGING_MODULES = {"logging", "structlog", "loguru"}


@dataclass
class CodeScan:
    modules: int = 0
    public: int = 0  # top-level public functions and classes
    entry_points: int = 0
    logging_modules: int = 0
    nontrivial: int = 0  # functions of three statements or more
    handling_errors: int = 0  # ... of which handle or raise errors
    functions: int = 0
    annotated: int = 0
    lines: int = 0  # of every Python file, tests included: the per-thousand-lines base
    files: int = 0  # Python files, tests included
    capability: dict[str, int] = field(default_factory=dict)


def scan_code(root: Path) -> CodeScan:
    scan = CodeScan()
    for path in tools.python_files(root):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        scan.lines += len(text.splitlines())
        scan.files += 1
        if tools.is_test_file(path.relative_to(root).as_posix()):
            continue
        scan.modules += 1
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        _read_module(tree, scan)
    scan.entry_points += _declared_scripts(root)
    scan.capability = {
        "modules": scan.modules,
        "functions": scan.public,
        "entry_points": scan.entry_points,
    }
    return scan


def _read_module(tree: ast.Module, scan: CodeScan) -> None:
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            scan.public += not statement.name.startswith("_")
        elif isinstance(statement, ast.If) and "__main__" in ast.unparse(statement.test):
            scan.entry_points += 1
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scan.functions += 1
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if node.returns is not None or any(
                a.annotation for a in arguments if a.arg not in ("self", "cls")
            ):
                scan.annotated += 1
            inner = list(ast.walk(node))
            if sum(isinstance(n, ast.stmt) for n in inner) - 1 >= 3:
                scan.nontrivial += 1
                scan.handling_errors += any(isinstance(n, ast.Try | ast.Raise) for n in inner)
    scan.logging_modules += bool(imported & LOGGING_MODULES)


def _declared_scripts(root: Path) -> int:
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return 0
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return 0
    return len(project.get("scripts", {})) + len(project.get("gui-scripts", {}))
