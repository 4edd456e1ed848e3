"""The real tools the eval and the offline agents run: ruff, pytest (+ coverage), and scans.

Every run streams its output through `on_line` so the Evaluator's or an agent's pane shows
the tool working. Runs leave no droppings in the checkout: no bytecode, no pytest cache, and
coverage data in a temporary folder, so nothing of a measurement can end up in a commit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory_tui.engine.config import LintConfig
from factory_tui.engine.process import ProcessResult, stream_process
from factory_tui.engine.sandbox import Jail, wrap

OnLine = Callable[[str], None]
SKIP_DIRS = {
    ".git",
    ".factory",
    ".venv",
    "venv",
    "env",
    "node_modules",
    "__pycache__",
    "build",
    "dist",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "site-packages",
}


def quiet(_line: str) -> None:
    """An `on_line` that drops the output."""


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def project_python(project: Path) -> str:
    """The interpreter to run the project's tests with: its own virtualenv when it has one."""
    for name in (".venv", "venv", "env"):
        candidate = project / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


def is_our_python(python: str) -> bool:
    """Whether `python` is the factory's own interpreter. Compared as paths, not resolved:
    every virtualenv's python links to the same base interpreter."""
    return os.path.abspath(python) == os.path.abspath(sys.executable)


def ruff_binary() -> str | None:
    """ruff from our own environment first (it is a dependency), else from PATH."""
    local = Path(sys.executable).parent / "ruff"
    if local.exists():
        return str(local)
    return shutil.which("ruff")


def python_files(root: Path) -> Iterator[Path]:
    """The project's Python sources, skipping environments, caches and the Factory's folder."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(
            d for d in subdirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory) / name


def count_lines(root: Path) -> int:
    total = 0
    for path in python_files(root):
        try:
            with path.open("rb") as handle:
                total += sum(1 for _ in handle)
        except OSError:
            continue
    return total


# -- ruff -----------------------------------------------------------------------------------
def _pyproject_tool(root: Path) -> dict[str, Any]:
    try:
        tool: dict[str, Any] = tomllib.loads(
            (root / "pyproject.toml").read_text(encoding="utf-8")
        ).get("tool", {})
        return tool
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


# The rules ruff enforced by default through 0.15. Ruff 0.16 widened its default to 413
# rules; a project that never configured a selection never chose those.
CLASSIC_RULES = ("E4", "E7", "E9", "F")


def _ruff_lint_table(root: Path) -> tuple[str, dict[str, Any]] | None:
    """(where, the lint settings) of the project's ruff configuration, None without one."""
    for name in ("ruff.toml", ".ruff.toml"):
        path = root / name
        if path.is_file():
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return name, {"select": None}  # broken: ruff itself will say so
            return name, {**table, **table.get("lint", {})}
    tool = _pyproject_tool(root)
    if isinstance(tool.get("ruff"), dict):
        table = tool["ruff"]
        return "[tool.ruff] in pyproject.toml", {**table, **table.get("lint", {})}
    return None


def ruff_config(root: Path) -> str | None:
    """Where the project configures ruff, or None when it does not."""
    found = _ruff_lint_table(root)
    return found[0] if found else None


def ruff_settings(root: Path, lint: LintConfig | None = None) -> list[str]:
    """ruff's flags for measuring `root` the way the project measures itself: its own
    configuration; where it selects no rules, the classic default rules (with its own
    additions and ignores); no configuration of a parent folder or of the user's home
    (`--isolated`). The eval's wider selection only when `[eval.lint]` asks for it."""
    found = _ruff_lint_table(root)
    args = ["--isolated"] if found is None else []
    table = found[1] if found else {}
    chose = "select" in table or "extend" in table  # an inherited config may select
    if lint is not None and lint.select:
        args += ["--select", ",".join(lint.select)]
    elif not chose:
        args += ["--select", ",".join(CLASSIC_RULES)]
        extra = table.get("extend-select") or []
        ignored = [*(table.get("ignore") or []), *(table.get("extend-ignore") or [])]
        if extra:
            args += ["--extend-select", ",".join(extra)]
        if ignored:
            args += ["--ignore", ",".join(ignored)]
    if lint is not None and lint.extend_select:
        args += ["--extend-select", ",".join(lint.extend_select)]
    return args


def rule_selection(root: Path, lint: LintConfig | None = None) -> str:
    """The rules the lint dimension counts, in words."""
    found = _ruff_lint_table(root)
    if lint is not None and lint.select:
        return f"[eval.lint] select = {', '.join(lint.select)}"
    if found is not None and ("select" in found[1] or "extend" in found[1]):
        return found[0]
    classic = f"ruff's classic default rules ({', '.join(CLASSIC_RULES)})"
    return classic + (f" with {found[0]}" if found else "")


def formatter_in_use(root: Path, unformatted: int, files: int) -> str | None:
    """Why unformatted files count against the project, or None when it uses no formatter:
    ruff format or black configured, or its code already formatted (nine files in ten)."""
    for name in ("ruff.toml", ".ruff.toml"):
        path = root / name
        if path.is_file():
            try:
                if "format" in tomllib.loads(path.read_text(encoding="utf-8")):
                    return f"[format] in {name}"
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                pass
    tool = _pyproject_tool(root)
    if isinstance(tool.get("ruff"), dict) and "format" in tool["ruff"]:
        return "[tool.ruff.format] in pyproject.toml"
    if "black" in tool:
        return "[tool.black] in pyproject.toml"
    if files and unformatted * 10 <= files:
        return f"{files - unformatted} of {files} files already formatted"
    return None


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    path: str
    line: int
    fix: str | None  # "safe", "unsafe" or None when ruff has no fix


async def ruff_check(
    root: Path, on_line: OnLine = quiet, timeout: float = 120, lint: LintConfig | None = None
) -> list[Violation]:
    """Every ruff violation under `root`, as the project's own `ruff check` counts them."""
    ruff = ruff_binary()
    if ruff is None:
        raise FileNotFoundError("ruff")
    chunks: list[str] = []
    result = await stream_process(
        [
            ruff,
            "check",
            *ruff_settings(root, lint),
            "--output-format",
            "json",
            "--exit-zero",
            "--no-cache",
            "--extend-exclude",
            ".factory",
            ".",
        ],
        root,
        chunks.append,
        env=tool_env(),
        wall_timeout=timeout,
        merge_stderr=False,
    )
    _check_finished(result, "ruff check")
    violations = []
    for item in json.loads("\n".join(chunks) or "[]"):
        fix = item.get("fix") or {}
        path = Path(item["filename"])
        violations.append(
            Violation(
                code=item.get("code") or "syntax",
                message=item.get("message", ""),
                path=_relative(path, root),
                line=(item.get("location") or {}).get("row", 0),
                fix=fix.get("applicability") if fix else None,
            )
        )
    for violation in violations:
        on_line(f"{violation.path}:{violation.line} {violation.code} {violation.message}")
    on_line(f"ruff check: {len(violations)} violation(s)")
    return violations


# "Would reformat: x.py" (ruff < 0.9) or "x.py:1:1: unformatted: ..." (concise output).
_UNFORMATTED = re.compile(r"^(?:Would reformat: (.+)|(.+?):\d+:\d+: unformatted\b)")


async def ruff_unformatted(root: Path, on_line: OnLine = quiet, timeout: float = 120) -> list[str]:
    """Files `ruff format` would change."""
    ruff = ruff_binary()
    if ruff is None:
        raise FileNotFoundError("ruff")
    lines: list[str] = []
    env = tool_env() | {"RUFF_OUTPUT_FORMAT": "concise"}
    result = await stream_process(
        [
            ruff,
            "format",
            *([] if ruff_config(root) else ["--isolated"]),
            "--check",
            "--no-cache",
            "--extend-exclude",
            ".factory",
            ".",
        ],
        root,
        lines.append,
        env=env,
        wall_timeout=timeout,
    )
    _check_finished(result, "ruff format")
    files = sorted(
        {match.group(1) or match.group(2) for line in lines if (match := _UNFORMATTED.match(line))}
    )
    for name in files:
        on_line(f"unformatted: {name}")
    on_line(f"ruff format: {len(files)} file(s) need formatting")
    return files


# -- pytest ---------------------------------------------------------------------------------
TEST_FILE_GLOBS = (
    "tests/*",
    "*/tests/*",
    "test/*",
    "*/test/*",
    "test_*.py",
    "*/test_*.py",
    "*_test.py",
    "conftest.py",
    "*/conftest.py",
)


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or path.startswith(("tests/", "test/"))
        or "/tests/" in path
        or "/test/" in path
    )


# What decides how the tests run, beside the test files: an experiment cannot change it.
TEST_CONFIG_FILES = ("conftest.py", "pytest.ini", "tox.ini", "setup.cfg")


def is_test_surface(path: str) -> bool:
    """The tests and what configures them: the base's version of these is what an
    experiment is measured by."""
    return is_test_file(path) or path.rsplit("/", 1)[-1] in TEST_CONFIG_FILES


# No cache folder in the checkout; a broken test file must not hide the others' results.
PYTEST_FLAGS = (
    "-q",
    "-p",
    "no:cacheprovider",
    "--continue-on-collection-errors",
    "-o",
    "junit_family=xunit1",
)


# -- pytest runs ----------------------------------------------------------------------------
@dataclass
class TestFailure:
    name: str
    kind: str  # "failure" or "error"
    exception: str
    message: str
    file: str = ""


@dataclass
class TestReport:
    collected: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[TestFailure] = field(default_factory=list)
    coverage: float | None = None  # percent of lines covered
    file_coverage: dict[str, float] = field(default_factory=dict)  # path -> percent
    statements: int = 0  # what coverage measured: statements in all, and those run
    covered: int = 0
    executed: dict[str, list[int]] = field(default_factory=dict)  # path -> lines run
    returncode: int = 0
    timed_out: bool = False
    problem: str = ""  # why no test could run (the interpreter lacks pytest), if so

    @property
    def pass_rate(self) -> float:
        ran = self.passed + self.failed + self.errors
        return self.passed / ran if ran else 0.0


_MODULES: dict[tuple[str, str], bool] = {}


def has_module(python: str, module: str, jail: Jail | None = None) -> bool:
    """Whether `python` can import `module` (asked once per interpreter and module). The
    interpreter may start code of the environment it lives in: it runs in the sandbox."""
    if is_our_python(python):
        return importlib.util.find_spec(module) is not None
    key = (python, module)
    if key not in _MODULES:
        probe = f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)"
        argv, env = wrap(jail, [python, "-c", probe], Path.cwd(), tool_env())
        try:
            found = subprocess.run(argv, capture_output=True, timeout=30, env=env)
        except (OSError, subprocess.TimeoutExpired):
            return False
        _MODULES[key] = found.returncode == 0
    return _MODULES[key]


async def run_jailed(
    argv: list[str],
    cwd: Path,
    on_line: OnLine,
    jail: Jail | None,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    writable: tuple[Path, ...] = (),
    merge_stderr: bool = True,
) -> ProcessResult:
    """`stream_process` in the sandbox `jail` describes (as it is when there is none)."""
    jailed, environment = wrap(jail, argv, cwd, env or tool_env(), writable=writable)
    return await stream_process(
        jailed, cwd, on_line, env=environment, wall_timeout=timeout, merge_stderr=merge_stderr
    )


def _coverage_shim(scratch: Path) -> str:
    """A folder holding only our own coverage.py, for an interpreter that lacks it: the
    factory brings coverage rather than asking the project to install it."""
    import coverage

    shim = scratch / "coverage-shim"
    shim.mkdir(exist_ok=True)
    (shim / "coverage").symlink_to(Path(coverage.__file__).parent, target_is_directory=True)
    return str(shim)


async def run_pytest(
    root: Path,
    python: str,
    on_line: OnLine = quiet,
    *,
    with_coverage: bool = False,
    timeout: float = 600,
    pythonpath: list[str] | None = None,
    jail: Jail | None = None,
) -> TestReport:
    """Run the project's tests with a JUnit XML report; optionally measure line coverage.

    `pythonpath` goes first on the tests' import path (a src layout's folder, so the code
    under test is the checkout's own even where the project's environment holds an
    editable install of the user's tree)."""
    if not has_module(python, "pytest", jail):
        return TestReport(problem=f"pytest is not installed for {python}", returncode=1)
    with tempfile.TemporaryDirectory(prefix="factory-pytest-") as scratch:
        # The report and the coverage data: the one place outside the checkout it writes.
        out = (Path(scratch),)
        junit = Path(scratch) / "junit.xml"
        data = Path(scratch) / "coverage.data"
        pytest_args = ["-m", "pytest", *PYTEST_FLAGS, f"--junitxml={junit}"]
        env = tool_env()
        path = list(pythonpath or [])
        if is_our_python(python):
            # The project has no environment of its own and borrows ours: our own pytest
            # plugins mean nothing to its tests and cost a second at every start.
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        elif with_coverage and not has_module(python, "coverage", jail):
            path.append(_coverage_shim(Path(scratch)))
        if path:
            env["PYTHONPATH"] = os.pathsep.join(path)
        if with_coverage:
            argv = [
                python,
                "-m",
                "coverage",
                "run",
                f"--data-file={data}",
                "--source=.",
                f"--omit={','.join(TEST_FILE_GLOBS)}",
                *pytest_args,
            ]
        else:
            argv = [python, *pytest_args]
        result = await run_jailed(argv, root, on_line, jail, env=env, timeout=timeout, writable=out)
        if with_coverage and not junit.exists() and result.timed_out is None:
            # coverage itself could not start (an interpreter it does not support): the
            # tests still count, measured without it.
            on_line("coverage could not run here; running the tests without it")
            with_coverage = False
            argv = [python, *pytest_args]
            result = await run_jailed(
                argv, root, on_line, jail, env=env, timeout=timeout, writable=out
            )
        report = parse_junit(junit, root) if junit.exists() else TestReport()
        report.returncode = result.returncode
        report.timed_out = result.timed_out is not None
        if with_coverage and not report.timed_out:
            await _read_coverage(python, root, data, env, report, jail)
    return report


async def _read_coverage(
    python: str,
    root: Path,
    data: Path,
    env: dict[str, str],
    report: TestReport,
    jail: Jail | None,
) -> None:
    out = (data.parent,)
    if not data.exists() and any(data.parent.glob(f"{data.name}.*")):
        # The project's `parallel = true` wrote one data file per process: combine them.
        await run_jailed(
            [python, "-m", "coverage", "combine", f"--data-file={data}", "-q"],
            root,
            quiet,
            jail,
            env=env,
            timeout=120,
            writable=out,
        )
    if not data.exists():
        return
    output = data.with_suffix(".json")
    result = await run_jailed(
        # The project's own fail_under is its gate, not a reason to measure nothing.
        [
            python,
            "-m",
            "coverage",
            "json",
            f"--data-file={data}",
            "-o",
            str(output),
            "-q",
            "--fail-under=0",
        ],
        root,
        quiet,
        jail,
        env=env,
        timeout=120,
        writable=out,
    )
    if result.returncode != 0 or not output.exists():
        return
    measured = json.loads(output.read_text())
    totals = measured.get("totals", {})
    report.coverage = float(totals.get("percent_covered", 0.0))
    report.statements = int(totals.get("num_statements", 0))
    report.covered = int(totals.get("covered_lines", 0))
    for name, entry in measured.get("files", {}).items():
        path = _relative(root / name, root)
        report.file_coverage[path] = float(entry["summary"]["percent_covered"])
        report.executed[path] = sorted(entry.get("executed_lines", []))


def parse_junit(path: Path, root: Path) -> TestReport:
    report = TestReport()
    try:
        tree = ElementTree.parse(path)
    except (ElementTree.ParseError, OSError):
        return report
    for case in tree.iter("testcase"):
        report.collected += 1
        name = "::".join(filter(None, (case.get("classname"), case.get("name"))))
        outcome = next(
            (child for child in case if child.tag in ("failure", "error", "skipped")), None
        )
        if outcome is None:
            report.passed += 1
        elif outcome.tag == "skipped":
            report.skipped += 1
        else:
            if outcome.tag == "failure":
                report.failed += 1
            else:
                report.errors += 1
            message = outcome.get("message") or ""
            exception = _exception_type(outcome.get("type"), message, outcome.text or "")
            report.failures.append(
                TestFailure(
                    name=name,
                    kind=outcome.tag,
                    exception=exception,
                    message=message.splitlines()[0][:300] if message else "",
                    file=_relative(Path(case.get("file") or ""), root) if case.get("file") else "",
                )
            )
    return report


# pytest's crash line ends a failure's text: "tests/test_x.py:5: AssertionError".
_CRASH_LINE = re.compile(r"^\S+:\d+: ([A-Za-z_][\w.]*)\s*$", re.MULTILINE)
_EXCEPTION_LINE = re.compile(
    r"^E\s+([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))\b", re.MULTILINE
)


def _exception_type(declared: str | None, message: str, text: str) -> str:
    if declared and declared not in ("pytest.xfail", "pytest.skip"):
        return declared.rsplit(".", 1)[-1]
    for pattern in (_CRASH_LINE, _EXCEPTION_LINE):
        found: list[str] = pattern.findall(text)
        if found:
            return found[-1].rsplit(".", 1)[-1]
    if message.startswith("assert"):
        return "AssertionError"
    head = message.split(":", 1)[0].strip()
    return head if re.fullmatch(r"[A-Za-z_]\w*", head) else "Failure"


# -- scans ----------------------------------------------------------------------------------
_MARKER = re.compile(r"#\s*(TODO|FIXME|XXX|HACK)\b[:\s]*(.*)")


def scan_markers(root: Path) -> list[tuple[str, int, str, str]]:
    """(path, line, marker, text) for every TODO/FIXME/XXX/HACK comment."""
    found = []
    for path in python_files(root):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = _MARKER.search(line)
            if match:
                found.append(
                    (_relative(path, root), number, match.group(1), match.group(2).strip())
                )
    return found


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _check_finished(result: ProcessResult, what: str) -> None:
    if result.timed_out:
        raise TimeoutError(f"{what} timed out")


# -- other test runners ---------------------------------------------------------------------
_CARGO_RESULT = re.compile(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")


async def run_test_command(
    argv: list[str],
    root: Path,
    on_line: OnLine = quiet,
    timeout: float = 600,
    jail: Jail | None = None,
) -> TestReport:
    """A project's own test command: go's JSON events and cargo's summary are read per test;
    any other command counts as one test that passes when it exits 0."""
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        on_line(line)

    result = await run_jailed(argv, root, keep, jail, timeout=timeout)
    report = TestReport(returncode=result.returncode, timed_out=result.timed_out is not None)
    if argv[:2] == ["go", "test"] and "-json" in argv:
        _read_go_events(lines, report)
    elif argv[:2] == ["cargo", "test"]:
        for match in _CARGO_RESULT.finditer("\n".join(lines)):
            report.passed += int(match.group(1))
            report.failed += int(match.group(2))
            report.skipped += int(match.group(3))
        report.collected = report.passed + report.failed + report.skipped
    if report.collected == 0 and not report.timed_out:
        report.collected = 1
        if result.returncode == 0:
            report.passed = 1
        else:
            report.failed = 1
            last = next((line for line in reversed(lines) if line.strip()), "")
            report.failures.append(
                TestFailure(
                    name=" ".join(argv),
                    kind="failure",
                    exception="ExitStatus",
                    message=f"exit {result.returncode}: {last}",
                )
            )
    return report


def _read_go_events(lines: list[str], report: TestReport) -> None:
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or not event.get("Test"):
            continue
        action = event.get("Action")
        if action == "pass":
            report.passed += 1
        elif action == "fail":
            report.failed += 1
            report.failures.append(
                TestFailure(
                    name=event["Test"],
                    kind="failure",
                    exception="Failure",
                    message="go test failed",
                )
            )
        elif action == "skip":
            report.skipped += 1
    report.collected = report.passed + report.failed + report.skipped


# -- types ----------------------------------------------------------------------------------
_MYPY_ERROR = re.compile(r"^[^:\n]+:\d+(?::\d+)?: error:", re.MULTILINE)


def mypy_command(python: str) -> list[str] | None:
    """mypy from the project's interpreter, else from PATH; None when it is not installed."""
    interpreter_dir = Path(python).parent
    if (interpreter_dir / "mypy").exists():
        return [str(interpreter_dir / "mypy")]
    found = shutil.which("mypy")
    return [found] if found else None


async def run_mypy(
    command: list[str],
    root: Path,
    on_line: OnLine = quiet,
    timeout: float = 600,
    jail: Jail | None = None,
) -> int:
    """The number of mypy errors in the project."""
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        on_line(line)

    with tempfile.TemporaryDirectory(prefix="factory-mypy-") as cache:
        # mypy plugins are code the project names: the run is sandboxed.
        result = await run_jailed(
            [
                *command,
                "--no-error-summary",
                "--hide-error-context",
                "--no-color-output",
                "--cache-dir",
                cache,
                "--exclude",
                r"(^|/)(\.factory|\.venv|venv|env|build|dist|node_modules)/",
                ".",
            ],
            root,
            keep,
            jail,
            timeout=timeout,
            writable=(Path(cache),),
        )
    _check_finished(result, "mypy")
    return len(_MYPY_ERROR.findall("\n".join(lines)))
