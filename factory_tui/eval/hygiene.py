"""Hygiene: tests, lint, types, coverage, guards and the project's hygiene files.

Each function measures one checkout with a real tool and explains its score; a tool that is
missing makes its dimension not applicable (score None), never a crash.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from factory_tui.engine.config import EvalConfig
from factory_tui.engine.models import (
    Check,
    DimensionScore,
    LintViolation,
    RawValue,
    TestFailureRecord,
    Tier,
    TreeEvidence,
)
from factory_tui.engine.sandbox import Jail

from . import tools
from .code_scan import CodeScan
from .detect import ProjectKind
from .test_env import test_environment

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class Checkout:
    """What every dimension may look at."""

    root: Path
    python: str
    kind: ProjectKind
    config: EvalConfig
    on_line: OnLine
    state_dir: Path | None = None  # where test environments are kept
    jail: Jail | None = None  # the sandbox the project's code runs in, when there is one
    evidence: TreeEvidence = field(default_factory=TreeEvidence)  # filled as tools report


def not_applicable(name: str, tier: Tier, why: str) -> DimensionScore:
    return DimensionScore(name=name, tier=tier, score=None, reason=f"not applicable: {why}")


def per_kloc_score(problems: int, lines: int) -> float:
    """Problems per thousand lines mapped to 0..1: none is 1, 25 per thousand is 0.5."""
    per_kloc = problems * 1000 / max(lines, 1)
    return 1.0 / (1.0 + per_kloc / 25.0)


# -- tests and coverage (one run) -----------------------------------------------------------
async def tests_and_coverage(checkout: Checkout) -> list[DimensionScore]:
    kind, config = checkout.kind, checkout.config
    if kind.test_command is None and kind.language != "python":
        why = kind.reason or "no test command for this project"
        return [
            DimensionScore(name="tests", tier="hygiene", score=0.0, reason=f"no tests: {why}"),
            not_applicable("coverage", "hygiene", "no Python tests to measure"),
        ]
    where = python = ""
    if kind.test_command is None:
        async with test_environment(
            checkout.root,
            checkout.python,
            checkout.state_dir,
            checkout.on_line,
            config.test_env,
            config.timeout,
            checkout.jail,
        ) as environment:
            checkout.on_line(f"tests run in {environment.note}")
            report = await tools.run_pytest(
                checkout.root,
                environment.python,
                checkout.on_line,
                with_coverage=True,
                timeout=config.timeout,
                pythonpath=environment.pythonpath,
                jail=environment.jail,
            )
        where, python = f" in {environment.note}", environment.python
    else:
        report = await tools.run_test_command(
            kind.test_command,
            checkout.root,
            checkout.on_line,
            timeout=config.timeout,
            jail=checkout.jail,
        )
    raw: dict[str, RawValue] = {
        "collected": report.collected,
        "passed": report.passed,
        "failed": report.failed,
        "errors": report.errors,
        "skipped": report.skipped,
        "timed_out": report.timed_out,
    }
    _record_tests(checkout.evidence, report, python)
    if report.problem:
        tests = not_applicable("tests", "hygiene", report.problem)
        return [tests, not_applicable("coverage", "hygiene", report.problem)]
    if report.timed_out:
        tests = DimensionScore(
            name="tests",
            tier="hygiene",
            score=0.0,
            raw=raw,
            reason=f"timed out after {config.timeout:.0f}s",
        )
    elif report.passed + report.failed + report.errors == 0:
        tests = DimensionScore(
            name="tests", tier="hygiene", score=0.0, raw=raw, reason="no tests found"
        )
    else:
        ran = report.passed + report.failed + report.errors
        skipped = f", {report.skipped} skipped" if report.skipped else ""
        tests = DimensionScore(
            name="tests",
            tier="hygiene",
            score=report.pass_rate,
            raw=raw,
            reason=f"{report.passed}/{ran} passed{skipped}{where}",
            failing=sorted({failure.name for failure in report.failures}),
        )
    if report.coverage is None:
        why = (
            "the test run timed out"
            if report.timed_out
            else "coverage is only measured for Python tests"
            if kind.test_command
            else "coverage could not measure this project's tests"
        )
        coverage = not_applicable("coverage", "hygiene", why)
    else:
        coverage = DimensionScore(
            name="coverage",
            tier="hygiene",
            score=report.coverage / 100,
            raw={
                "percent": round(report.coverage, 2),
                "statements": report.statements,
                "covered": report.covered,
                "missed": report.statements - report.covered,
            },
            reason=f"{report.coverage:.1f}% of lines covered ({report.covered} of "
            f"{report.statements} statements)",
        )
    return [tests, coverage]


def _record_tests(evidence: TreeEvidence, report: tools.TestReport, python: str) -> None:
    evidence.test_python = python
    evidence.passed, evidence.failed, evidence.errors = report.passed, report.failed, report.errors
    evidence.failures = [TestFailureRecord(**vars(failure)) for failure in report.failures]
    evidence.coverage, evidence.file_coverage = report.coverage, dict(report.file_coverage)
    evidence.executed = {
        path: TreeEvidence.line_ranges(lines) for path, lines in report.executed.items()
    }


# -- lint -----------------------------------------------------------------------------------
async def lint(checkout: Checkout, scan: Awaitable[CodeScan]) -> DimensionScore:
    """ruff as the project runs it: its own configuration, or ruff's defaults where it has
    none. Unformatted files count only where the project uses a formatter. The verdict
    compares the counts; the score (problems per thousand lines) is for the headline."""
    if checkout.kind.language != "python":
        return not_applicable("lint", "hygiene", f"no linter wired for {checkout.kind.language}")
    if tools.ruff_binary() is None:
        return not_applicable("lint", "hygiene", "ruff is not installed")
    root, on_line, timeout = checkout.root, checkout.on_line, checkout.config.timeout
    violations = await tools.ruff_check(root, on_line, timeout, checkout.config.lint)
    unformatted = await tools.ruff_unformatted(root, on_line, timeout)
    code = await scan
    formatter = tools.formatter_in_use(root, len(unformatted), code.files)
    evidence = checkout.evidence
    evidence.violations = [LintViolation(**vars(v)) for v in violations]
    evidence.unformatted, evidence.formatter = unformatted, formatter
    if code.lines == 0:
        return not_applicable("lint", "hygiene", "no Python code")
    counted = len(unformatted) if formatter else 0
    problems = len(violations) + counted
    settings = tools.rule_selection(root, checkout.config.lint)
    formatting = (
        f" + {counted} unformatted file(s) ({formatter})"
        if formatter
        else " (formatting not counted: the project uses no formatter)"
    )
    return DimensionScore(
        name="lint",
        tier="hygiene",
        score=per_kloc_score(problems, code.lines),
        raw={
            "violations": len(violations),
            "unformatted": len(unformatted),
            "formatter": formatter is not None,
            "lines": code.lines,
        },
        reason=f"{len(violations)} violation(s) under {settings}{formatting} in {code.lines} lines",
    )


# -- types ----------------------------------------------------------------------------------
def uses_types(root: Path, scan: CodeScan) -> str | None:
    """Why the project counts as typed (mypy configured, or mostly annotated), else None."""
    for name in ("mypy.ini", ".mypy.ini"):
        if (root / name).is_file():
            return name
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            if "mypy" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}):
                return "[tool.mypy] in pyproject.toml"
        except (OSError, tomllib.TOMLDecodeError):
            pass
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file() and "[mypy" in setup_cfg.read_text(encoding="utf-8", errors="replace"):
        return "[mypy] in setup.cfg"
    if scan.functions and scan.annotated / scan.functions >= 0.5:
        return f"{scan.annotated} of {scan.functions} functions have type hints"
    return None


async def types(checkout: Checkout, scan: CodeScan) -> DimensionScore:
    if checkout.kind.language != "python":
        return not_applicable(
            "types", "hygiene", f"no type checker wired for {checkout.kind.language}"
        )
    why = uses_types(checkout.root, scan)
    if why is None:
        return not_applicable("types", "hygiene", "the project uses neither mypy nor type hints")
    command = tools.mypy_command(checkout.python)
    if command is None:
        return not_applicable("types", "hygiene", "mypy is not installed")
    lines = scan.lines
    errors = await tools.run_mypy(
        command, checkout.root, checkout.on_line, checkout.config.timeout, checkout.jail
    )
    return DimensionScore(
        name="types",
        tier="hygiene",
        score=per_kloc_score(errors, lines),
        raw={"errors": errors, "lines": lines},
        reason=f"{errors} mypy error(s) in {lines} lines ({why})",
    )


# -- hygiene files --------------------------------------------------------------------------
CONFIG_CHECKS: dict[str, tuple[str, ...]] = {
    "packaging metadata": (
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "package.json",
        "go.mod",
        "Cargo.toml",
    ),
    "README": ("README.md", "README.rst", "README.txt", "README"),
    "tests": ("tests", "test", "spec", "__tests__"),
    "CI": (
        ".github/workflows",
        ".gitlab-ci.yml",
        ".circleci",
        ".ci",
        "Jenkinsfile",
        ".travis.yml",
        "azure-pipelines.yml",
    ),
    "locked dependencies": (
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
        "pdm.lock",
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "go.sum",
        "Cargo.lock",
        "requirements.lock",
    ),
    ".gitignore": (".gitignore",),
}
_PINNED = re.compile(r"^[A-Za-z0-9_.\-\[\]]+==", re.MULTILINE)


def config_files(checkout: Checkout) -> DimensionScore:
    root = checkout.root
    present: list[str] = []
    missing: list[str] = []
    for label, candidates in CONFIG_CHECKS.items():
        found = any((root / name).exists() for name in candidates)
        if not found and label == "tests":
            found = any(
                tools.is_test_file(p.relative_to(root).as_posix()) for p in tools.python_files(root)
            )
        if not found and label == "locked dependencies":
            found = any(
                _PINNED.search(p.read_text(encoding="utf-8", errors="replace"))
                for p in root.glob("requirements*.txt")
            )
        (present if found else missing).append(label)
    score = len(present) / len(CONFIG_CHECKS)
    reason = f"{len(present)}/{len(CONFIG_CHECKS)} present"
    if missing:
        reason += f"; missing: {', '.join(missing)}"
    return DimensionScore(
        name="config",
        tier="hygiene",
        score=score,
        reason=reason,
        raw={label: label in present for label in CONFIG_CHECKS},
    )


# -- guards ---------------------------------------------------------------------------------
def guards_dimension(checks: list[Check]) -> DimensionScore:
    tripped = [check for check in checks if not check.ok]
    if tripped:
        return DimensionScore(
            name="guards",
            tier="hygiene",
            score=0.0,
            raw={"tripped": len(tripped)},
            reason="; ".join(f"{c.name}: {c.detail}" for c in tripped),
        )
    return DimensionScore(
        name="guards",
        tier="hygiene",
        score=1.0,
        raw={"tripped": 0},
        reason=f"no guard tripped ({len(checks)} checked)",
    )
