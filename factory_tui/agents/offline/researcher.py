"""The offline Researcher: what ruff, pytest, coverage and a marker scan say about the project.

It reads the baseline's measurement of the tree when the pipeline hands it one (the same
ruff run, the same test environment, so findings and score agree), and runs the tools the
same way otherwise. Findings carry a machine-readable `area` (`lint:F401:safe`, `format`,
`tests:failing`, `tests:missing`, `coverage`, `todo`) and their evidence as `path` or
`path:line` items, so the offline Strategist can turn them into concrete hypotheses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from factory_tui.engine.models import Finding, LintViolation, TestFailureRecord, TreeEvidence
from factory_tui.eval import tools

from ..base import AgentContext, AgentRequest, Emit
from ..contracts import ResearcherOutput

LOW_COVERAGE = 60.0


async def research(request: AgentRequest, emit: Emit) -> ResearcherOutput:
    root, context = request.cwd, request.context
    findings: list[Finding] = []
    for note in context.notes:
        emit(f"message from you (high priority): {note}", "info")
    # Research mode's agents see a checkout without its fixed surfaces: measure that one.
    evidence = context.evidence if context.mode != "research" else None
    if evidence is None:
        evidence = await measure(root, context.python or tools.project_python(root), context, emit)
    else:
        emit("reading the baseline's measurement of this tree: no tool runs again", "tool")
    findings += lint_findings(evidence)
    if evidence.unformatted and evidence.formatter:
        findings.append(
            Finding(
                title=f"{len(evidence.unformatted)} file(s) not formatted ({evidence.formatter})",
                detail="Formatting them is mechanical and changes no behaviour.",
                area="format",
                evidence=", ".join(evidence.unformatted),
            )
        )
    findings += test_findings(evidence, root)
    if context.mode == "research":
        findings += parameter_findings(root, emit)

    markers = tools.scan_markers(root)
    for path, line, marker, note in markers:
        findings.append(
            Finding(
                title=f"{marker}: {note or '(no text)'}",
                area="todo",
                detail="A marker left in the code.",
                evidence=f"{path}:{line}",
            )
        )

    for finding in findings:
        emit(f"[{finding.area}] {finding.title}", "text")
    ran = evidence.passed + evidence.failed + evidence.errors
    formatting = (
        f"{len(evidence.unformatted)} unformatted file(s)"
        if evidence.formatter
        else "formatting not counted (the project uses no formatter)"
    )
    summary = (
        f"{len(evidence.violations)} lint violation(s), {formatting}, "
        f"tests {evidence.passed}/{ran} passing"
        + (f", {evidence.coverage:.0f}% line coverage" if evidence.coverage is not None else "")
        + f", {len(markers)} TODO/FIXME marker(s)."
    )
    emit(summary, "result")
    return ResearcherOutput(summary=summary, findings=findings)


async def measure(root: Path, python: str, context: AgentContext, emit: Emit) -> TreeEvidence:
    """Run the tools the eval runs, the same way, when no measurement of the tree is at hand."""
    text = lambda line: emit(line, "text")  # noqa: E731 - a tiny adapter
    emit("$ ruff check --output-format json", "tool")
    violations = await tools.ruff_check(root, text, lint=context.lint)
    emit("$ ruff format --check", "tool")
    unformatted = await tools.ruff_unformatted(root, text)
    files = sum(1 for _ in tools.python_files(root))
    emit("$ coverage run -m pytest", "tool")
    report = await tools.run_pytest(root, python, text, with_coverage=True)
    return TreeEvidence(
        violations=[LintViolation(**vars(v)) for v in violations],
        unformatted=unformatted,
        formatter=tools.formatter_in_use(root, len(unformatted), files),
        test_python=python,
        passed=report.passed,
        failed=report.failed,
        errors=report.errors,
        failures=[TestFailureRecord(**vars(f)) for f in report.failures],
        coverage=report.coverage,
        file_coverage=report.file_coverage,
        executed={path: TreeEvidence.line_ranges(lines) for path, lines in report.executed.items()},
    )


_PARAMETER = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9_]*)\s*(?::\s*\w+\s*)?=\s*"
    r"(?P<value>-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*(?:#.*)?$",
    re.MULTILINE,
)


def parameter_findings(root: Path, emit: Emit) -> list[Finding]:
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


def lint_findings(evidence: TreeEvidence) -> list[Finding]:
    """One finding per rule and fix kind, listing every place it occurs. ruff's unsafe fixes
    are offered only in files where the tests run every line the rule flags, so a change
    that alters behaviour shows in the tests; elsewhere they are `unverified`."""
    groups: dict[tuple[str, str], list[LintViolation]] = defaultdict(list)
    for violation in evidence.violations:
        groups[(violation.code, violation.fix or "manual")].append(violation)
    for (code, fix), items in list(groups.items()):
        if fix != "unsafe":
            continue
        uncovered = {v.path for v in items if v.line not in evidence.lines_run(v.path)}
        if uncovered:
            groups[(code, "unsafe")] = [v for v in items if v.path not in uncovered]
            groups[(code, "unverified")] += [v for v in items if v.path in uncovered]
    findings = []
    for (code, fix), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        if not items:
            continue
        files = sorted({v.path for v in items})
        findings.append(
            Finding(
                title=f"{code}: {items[0].message} ({len(items)}x in {len(files)} file(s))",
                detail=FIX_DETAIL.get(fix, "ruff has no automatic fix."),
                area=f"lint:{code}:{fix}",
                evidence=", ".join(f"{v.path}:{v.line}" for v in items),
            )
        )
    return findings


FIX_DETAIL = {
    "safe": "ruff offers a safe fix.",
    "unsafe": "ruff offers an unsafe fix; the tests run every flagged line.",
    "unverified": "ruff's fix is unsafe and the tests do not run these lines: not applied offline.",
}


def test_findings(evidence: TreeEvidence, root: Path) -> list[Finding]:
    findings = []
    for failure in evidence.failures:
        findings.append(
            Finding(
                title=f"failing test {failure.name}",
                area="tests:failing",
                detail=f"{failure.exception}: {failure.message}",
                evidence=failure.file,
            )
        )
    if evidence.passed + evidence.failed + evidence.errors == 0:
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
        covered = evidence.file_coverage.get(path)
        # A smoke test imports the module and covers what runs at import; once the tests
        # import it (any line covered, through its package), a smoke test adds nothing.
        imported = covered is not None and covered > 0
        if path not in tested and not imported and path.rsplit("/", 1)[-1] != "__init__.py":
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
    """The project's importable modules: those of its packages, or its top-level modules
    when it has no package (a top-level script beside a package, a benchmark or a docs
    build, is not part of what it ships)."""
    modules = [
        path.relative_to(root).as_posix()
        for path in tools.python_files(root)
        if not tools.is_test_file(path.relative_to(root).as_posix())
        and path.name not in ("setup.py", "noxfile.py", "conftest.py")
    ]
    packaged = [m for m in modules if "/" in m and _in_package(root, m)]
    return packaged or [m for m in modules if "/" not in m]


def _in_package(root: Path, module: str) -> bool:
    """Whether every folder from the top (or src/) down to `module` is a package."""
    parts = module.split("/")[:-1]
    if parts and parts[0] == "src":
        parts, base = parts[1:], root / "src"
    else:
        base = root
    folder = base
    for part in parts:
        folder = folder / part
        if not (folder / "__init__.py").is_file():
            return False
    return bool(parts)


def _tested_modules(root: Path) -> set[str]:
    """Source modules that some test file names, by dotted import path or by file stem."""
    tests_text = "\n".join(
        f"{path.name}\n{path.read_text(encoding='utf-8', errors='replace')}"
        for path in tools.python_files(root)
        if tools.is_test_file(path.relative_to(root).as_posix())
    )
    tested = set()
    for module in _source_modules(root):
        dotted = module.removeprefix("src/").removesuffix(".py").replace("/", ".")
        stem = dotted.rsplit(".", 1)[-1]
        if dotted in tests_text or f"import {stem}" in tests_text or f"test_{stem}" in tests_text:
            tested.add(module)
    return tested
