"""The changes the offline Builder knows how to make, each named by a hypothesis title.

A recipe owns both directions: the Strategist writes its title, and the Builder reads a
title back to act on it. So a backlog item typed by hand in the same words ("Format pkg/
with ruff format") is actionable offline too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from factory_tui.engine.build import ProjectNames, project_names
from factory_tui.engine.config import LintConfig
from factory_tui.engine.process import stream_process
from factory_tui.eval import tools

from ..base import Emit
from .scaffold import write_template

_FILES = r"(?P<files>.+?)"


def describe_files(files: list[str]) -> str:
    """'a.py', 'a.py and b.py', or 'a.py and 3 more files' for a title."""
    if len(files) == 1:
        return files[0]
    if len(files) == 2:
        return f"{files[0]} and {files[1]}"
    return f"{files[0]} and {len(files) - 1} more files"


def ruff_fix_title(rules: list[str], applicability: str, files: list[str]) -> str:
    label = f"rule {rules[0]}" if len(rules) == 1 else f"rules {', '.join(rules)}"
    return f"Apply ruff's {applicability} fixes for {label} in {describe_files(files)}"


def format_title(files: list[str]) -> str:
    return f"Format {describe_files(files)} with ruff format"


def smoke_test_title(module: str) -> str:
    return f"Add a smoke test for {module}"


@dataclass(frozen=True)
class Recipe:
    pattern: re.Pattern[str]
    # (the title's match, the hypothesis's files, the worktree, emit, the eval's lint
    # settings) -> the files it wrote
    apply: Callable[[re.Match[str], list[str], Path, Emit, LintConfig | None], Awaitable[list[str]]]


async def _run(argv: list[str], cwd: Path, emit: Emit) -> int:
    emit("$ " + " ".join([Path(argv[0]).name, *argv[1:]]), "tool")
    result = await stream_process(
        argv, cwd, lambda line: emit(line, "text"), env=tools.tool_env(), wall_timeout=300
    )
    return result.returncode


def _targets(match: re.Match[str], files: list[str], cwd: Path) -> list[str]:
    """The hypothesis's files when it lists them, else the path named in its title."""
    named = files or [match.group("files").split(" and ")[0]]
    return [name for name in named if (cwd / name).exists()]


async def _ruff_fix(
    match: re.Match[str], files: list[str], cwd: Path, emit: Emit, lint: LintConfig | None
) -> list[str]:
    ruff = tools.ruff_binary()
    if ruff is None:
        raise FileNotFoundError("ruff")
    targets = _targets(match, files, cwd)
    # A fix can leave stray blank lines; re-format only files that were formatted before,
    # so the change stays as narrow as the hypothesis.
    formatted = await _formatted(ruff, targets, cwd)
    rules = ",".join(rule.strip() for rule in match.group("rule").split(","))
    # The rules are fixed within the project's whole selection (`--fixable`, not
    # `--select`): noqa comments and RUF100 only make sense with every rule in play.
    settings = tools.ruff_settings(cwd, lint)
    argv = [ruff, "check", *settings, "--no-cache", "--fix", "--fixable", rules, "--exit-zero"]
    if match.group("kind") == "unsafe":
        argv.append("--unsafe-fixes")
    await _run([*argv, *targets], cwd, emit)
    if formatted:
        await _run([ruff, "format", *_own(cwd), "--no-cache", *formatted], cwd, emit)
    return targets


def _own(cwd: Path) -> list[str]:
    """Only the project's own ruff configuration, never a parent folder's."""
    return [] if tools.ruff_config(cwd) else ["--isolated"]


async def _formatted(ruff: str, targets: list[str], cwd: Path) -> list[str]:
    formatted = []
    for target in targets:
        result = await stream_process(
            [ruff, "format", *_own(cwd), "--check", "--no-cache", target],
            cwd,
            tools.quiet,
            env=tools.tool_env(),
            wall_timeout=60,
        )
        if result.returncode == 0:
            formatted.append(target)
    return formatted


async def _ruff_format(
    match: re.Match[str], files: list[str], cwd: Path, emit: Emit, lint: LintConfig | None
) -> list[str]:
    ruff = tools.ruff_binary()
    if ruff is None:
        raise FileNotFoundError("ruff")
    targets = _targets(match, files, cwd)
    await _run([ruff, "format", *_own(cwd), "--no-cache", *targets], cwd, emit)
    return targets


async def _smoke_test(
    match: re.Match[str], files: list[str], cwd: Path, emit: Emit, lint: LintConfig | None
) -> list[str]:
    source = match.group("files").strip()
    path = cwd / source
    if not path.is_file():
        emit(f"{source} does not exist", "error")
        return []
    module = source.removeprefix("src/").removesuffix(".py").replace("/", ".")
    module = module.removesuffix(".__init__")
    names = public_names(path)
    # Beside the project's own tests: `test/` where it keeps them there.
    test_dir = cwd / (
        "test" if (cwd / "test").is_dir() and not (cwd / "tests").is_dir() else "tests"
    )
    target = test_dir / f"test_{module.replace('.', '_')}_smoke.py"
    emit(
        f"writing {target.relative_to(cwd)} for {module}: {', '.join(names) or 'import only'}",
        "tool",
    )
    test_dir.mkdir(exist_ok=True)
    target.write_text(smoke_test_source(module, names), encoding="utf-8")
    ruff = tools.ruff_binary()
    if ruff is not None:  # in the project's own style: its required imports, its format
        relative = target.relative_to(cwd).as_posix()
        await _run(
            [ruff, "check", *_own(cwd), "--no-cache", "--fix", "--exit-zero", relative], cwd, emit
        )
        await _run([ruff, "format", *_own(cwd), "--no-cache", relative], cwd, emit)
    return [target.relative_to(cwd).as_posix()]


def parameter_title(name: str, path: str, value: str) -> str:
    return f"Set {name} in {path} to {value}"


async def _set_parameter(
    match: re.Match[str], files: list[str], cwd: Path, emit: Emit, lint: LintConfig | None
) -> list[str]:
    name, path, value = match.group("name"), match.group("files").strip(), match.group("value")
    target = cwd / path
    if not target.is_file():
        emit(f"{path} does not exist", "error")
        return []
    pattern = re.compile(rf"^({re.escape(name)}\s*(?::\s*\w+\s*)?=\s*)(-?[\d.eE-]+)", re.M)
    text = target.read_text(encoding="utf-8")
    updated, count = pattern.subn(lambda m: m.group(1) + value, text, count=1)
    if not count:
        emit(f"no numeric {name} in {path}", "error")
        return []
    target.write_text(updated, encoding="utf-8")
    emit(f"{name} = {value} in {path}", "tool")
    return [path]


async def _scaffold(
    match: re.Match[str], files: list[str], cwd: Path, emit: Emit, lint: LintConfig | None
) -> list[str]:
    # The engine names the package in the hypothesis's files and puts the spec in the tree.
    package = next((f.split("/")[0] for f in files if f.endswith("/__init__.py")), None)
    names = ProjectNames(package, package.replace("_", "-")) if package else project_names(cwd.name)
    spec_path = cwd / "docs" / "SPEC.md"
    spec = spec_path.read_text(encoding="utf-8") if spec_path.exists() else f"# {cwd.name}\n"
    return write_template(cwd, names, spec)  # the Builder lists what changed


def public_names(path: Path) -> list[str]:
    """Top-level public functions and classes of a module, in source order."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, OSError, UnicodeDecodeError):
        return []
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [
        node.name for node in tree.body if isinstance(node, kinds) and not node.name.startswith("_")
    ]


def smoke_test_source(module: str, names: list[str]) -> str:
    test_name = module.replace(".", "_")
    lines = [
        f'"""Smoke test for {module}: it imports and exposes its public API."""',
        "",
        "import importlib",
        "",
        "",
        f"def test_{test_name}_imports_and_exposes_its_api() -> None:",
        f'    module = importlib.import_module("{module}")',
    ]
    if names:
        quoted = ", ".join(f'"{name}"' for name in names)
        members = f"({quoted},)" if len(names) == 1 else f"({quoted})"
        lines += [
            f"    for name in {members}:",
            "        assert callable(getattr(module, name)), name",
        ]
    else:
        lines.append("    assert module is not None")
    return "\n".join(lines) + "\n"


RECIPES = (
    Recipe(
        re.compile(
            r"apply ruff's (?P<kind>safe|unsafe) fixes for rules? "
            r"(?P<rule>[A-Z]+\d+(?:,\s*[A-Z]+\d+)*) in " + _FILES + r"$",
            re.IGNORECASE,
        ),
        _ruff_fix,
    ),
    Recipe(re.compile(r"format " + _FILES + r" with ruff format$", re.IGNORECASE), _ruff_format),
    Recipe(re.compile(r"add a smoke test for " + _FILES + r"$", re.IGNORECASE), _smoke_test),
    Recipe(re.compile(r"^scaffold the project from its spec$", re.IGNORECASE), _scaffold),
    Recipe(
        re.compile(
            r"^(?i:set) (?P<name>[A-Z][A-Z0-9_]*) in (?P<files>\S+) to "
            r"(?P<value>-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)$"
        ),
        _set_parameter,
    ),
)


def match_recipe(title: str) -> tuple[Recipe, re.Match[str]] | None:
    for recipe in RECIPES:
        match = recipe.pattern.search(title.strip().rstrip("."))
        if match:
            return recipe, match
    return None
