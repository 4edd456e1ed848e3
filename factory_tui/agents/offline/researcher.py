"""The offline Researcher: what ruff, pytest, coverage and a marker scan say about the project.

Findings carry a machine-readable `area` (`lint:F401:safe`, `format`, `tests:failing`,
`tests:missing`, `coverage`, `todo`) and their evidence as `path` or `path:line` items, so the
offline Strategist can turn them into concrete hypotheses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from factory_tui.engine.models import Finding
from factory_tui.eval import tools

from ..base import AgentRequest, Emit
from ..contracts import ResearcherOutput

LOW_COVERAGE = 60.0


async def research(request: AgentRequest, emit: Emit) -> ResearcherOutput:
    root = request.cwd
    python = request.context.python or tools.project_python(root)
    text = lambda line: emit(line, "text")  # noqa: E731 - a tiny adapter
    findings: list[Finding] = []
    for note in request.context.notes:
        emit(f"message from you (high priority): {note}", "info")

    emit("$ ruff check --output-format json", "tool")
    violations = await tools.ruff_check(root, text)
    findings += lint_findings(violations)

    emit("$ ruff format --check", "tool")
    unformatted = await tools.ruff_unformatted(root, text)
    if unformatted:
        findings.append(
            Finding(
                title=f"{len(unformatted)} file(s) not formatted with ruff format",
                detail="Formatting them is mechanical and changes no behaviour.",
                area="format",
                evidence=", ".join(unformatted),
            )
        )

    emit("$ coverage run -m pytest", "tool")
    report = await tools.run_pytest(root, python, text, with_coverage=True)
    findings += test_findings(report, root)

    if request.context.mode == "research":
        findings += parameter_findings(root, emit)

    markers = tools.scan_markers(root)
    for path, line, marker, note in markers:
        emit(f"{marker} {path}:{line} {note}", "text")
        findings.append(
            Finding(
                title=f"{marker}: {note or '(no text)'}",
                area="todo",
                detail="A marker left in the code.",
                evidence=f"{path}:{line}",
            )
        )

    ran = report.passed + report.failed + report.errors
    summary = (
        f"{len(violations)} lint violation(s), {len(unformatted)} unformatted file(s), "
        f"tests {report.passed}/{ran} passing"
        + (f", {report.coverage:.0f}% line coverage" if report.coverage is not None else "")
        + f", {len(markers)} TODO/FIXME marker(s)."
    )
    emit(summary, "result")
    return ResearcherOutput(summary=summary, findings=findings)


_PARAMETER = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9_]*)\s*(?::\s*\w+\s*)?=\s*"
    r"(?P<value>-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*(?:#.*)?$",
    re.MULTILINE,
)


def parameter_findings(root: Path, emit) -> list[Finding]:
    """Module-level numeric constants: the knobs research mode can turn without a model."""
    findings = []
    for path in tools.python_files(root):
        relative = path.relative_to(root).as_posix()
        if tools.is_test_file(relative):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in _PARAMETER.finditer(text):
            name, value = match.group("name"), match.group("value")
            emit(f"parameter {name} = {value} in {relative}", "text")
            findings.append(
                Finding(
                    title=f"{name} = {value} in {relative}",
                    detail="A numeric constant the metric may depend on.",
                    area=f"param:{name}:{relative}:{value}",
                    evidence=relative,
                )
            )
    return findings


def lint_findings(violations: list[tools.Violation]) -> list[Finding]:
    """One finding per rule and fix applicability, listing every place it occurs."""
    groups: dict[tuple[str, str], list[tools.Violation]] = defaultdict(list)
    for violation in violations:
        groups[(violation.code, violation.fix or "manual")].append(violation)
    findings = []
    for (code, fix), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        files = sorted({v.path for v in items})
        findings.append(
            Finding(
                title=f"{code}: {items[0].message} ({len(items)}x in {len(files)} file(s))",
                detail=f"ruff offers a {fix} fix."
                if fix != "manual"
                else "ruff has no automatic fix.",
                area=f"lint:{code}:{fix}",
                evidence=", ".join(f"{v.path}:{v.line}" for v in items),
            )
        )
    return findings


def test_findings(report: tools.TestReport, root: Path) -> list[Finding]:
    findings = []
    for failure in report.failures:
        findings.append(
            Finding(
                title=f"failing test {failure.name}",
                area="tests:failing",
                detail=f"{failure.exception}: {failure.message}",
                evidence=failure.file,
            )
        )
    if report.passed + report.failed + report.errors == 0:
        findings.append(
            Finding(
                title="the project has no tests",
                area="tests:none",
                detail="No test was collected.",
                evidence="",
            )
        )
    tested = _tested_modules(root)
    for path in _source_modules(root):
        covered = report.file_coverage.get(path)
        if path not in tested and path.rsplit("/", 1)[-1] != "__init__.py":
            findings.append(
                Finding(
                    title=f"{path} has no test of its own",
                    area="tests:missing",
                    detail=f"No test file imports or names it; coverage {_pct(covered)}.",
                    evidence=path,
                )
            )
        elif covered is not None and covered < LOW_COVERAGE:
            findings.append(
                Finding(
                    title=f"{path} is {covered:.0f}% covered",
                    area="coverage",
                    detail="Below the coverage target.",
                    evidence=path,
                )
            )
    return findings


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f}%"


def _source_modules(root: Path) -> list[str]:
    return [
        path.relative_to(root).as_posix()
        for path in tools.python_files(root)
        if not tools.is_test_file(path.relative_to(root).as_posix())
        and path.name not in ("setup.py", "noxfile.py")
    ]


def _tested_modules(root: Path) -> set[str]:
    """Source modules that some test file names, by dotted import path or by file stem."""
    tests_text = "\n".join(
        f"{path.name}\n{path.read_text(encoding='utf-8', errors='replace')}"
        for path in tools.python_files(root)
        if tools.is_test_file(path.relative_to(root).as_posix())
    )
    tested = set()
    for module in _source_modules(root):
        dotted = module.removesuffix(".py").replace("/", ".")
        stem = dotted.rsplit(".", 1)[-1]
        if dotted in tests_text or f"import {stem}" in tests_text or f"test_{stem}" in tests_text:
            tested.add(module)
    return tested
