"""The offline runtime's roles on real projects, through the same interface as every runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path

import git

from factory_tui.agents.base import AgentContext, AgentRequest, AgentRun
from factory_tui.agents.contracts import (
    BuilderOutput,
    Contract,
    ContractError,
    ReviewerOutput,
    extract_json,
)
from factory_tui.agents.offline import OfflineRuntime
from factory_tui.engine.models import Finding, Hypothesis, Role

from .conftest import FIXABLE, TRAP, write_files


def run_role(role: Role, cwd: Path, **context):
    lines: list[tuple[str, str]] = []
    request = AgentRequest(role=role, cwd=cwd, context=AgentContext(**context))
    result = asyncio.run(
        OfflineRuntime().run(request, lambda line, kind: lines.append((line, kind)))
    )
    return result, lines


def test_the_researcher_reports_lint_tests_coverage_and_markers(make_repo) -> None:
    root = make_repo({**FIXABLE, "calc/extra.py": "def f():\n    return 1  # TODO: more\n"})
    result, lines = run_role(Role.RESEARCHER, root)
    assert result.ok, result.error
    areas = {finding.area for finding in result.output.findings}
    assert {"lint:F401:safe", "tests:missing", "todo"} <= areas
    assert "tests 1/1 passing" in result.output.summary
    assert any(kind == "tool" and "ruff check" in line for line, kind in lines)


def test_the_strategist_ranks_by_gain_and_skips_what_was_reverted(make_repo) -> None:
    root = make_repo(FIXABLE)
    findings = [
        Finding(title="F401", area="lint:F401:safe", evidence="calc/core.py:1"),
        Finding(title="E712", area="lint:E712:unsafe", evidence="calc/core.py:5"),
        Finding(title="fmt", area="format", evidence="calc/core.py"),
    ]
    result, _ = run_role(Role.STRATEGIST, root, findings=findings)
    titles = [h.title for h in result.output.hypotheses]
    assert titles[-1] == "Apply ruff's unsafe fixes for rule E712 in calc/core.py"
    gains = [h.expected_gain for h in result.output.hypotheses]
    assert gains == sorted(gains, reverse=True)
    tried = {"Format calc/core.py with ruff format": "reverted"}
    again, lines = run_role(Role.STRATEGIST, root, findings=findings, tried=tried)
    assert "Format calc/core.py with ruff format" not in [h.title for h in again.output.hypotheses]
    assert any("already reverted" in line for line, _ in lines)


def test_the_builder_applies_a_recipe_and_reports_the_files(make_repo) -> None:
    root = make_repo(FIXABLE)
    hypothesis = Hypothesis(title="Apply ruff's safe fixes for rule F401 in calc/core.py")
    result, _ = run_role(Role.BUILDER, root, hypothesis=hypothesis)
    assert result.output.files_changed == ["calc/core.py"]
    assert "import os" not in (root / "calc" / "core.py").read_text()


def test_the_builder_writes_a_smoke_test_that_passes(make_repo) -> None:
    root = make_repo(FIXABLE)
    result, _ = run_role(
        Role.BUILDER, root, hypothesis=Hypothesis(title="Add a smoke test for calc/core.py")
    )
    assert result.output.files_changed == ["tests/test_calc_core_smoke.py"]
    text = (root / "tests" / "test_calc_core_smoke.py").read_text()
    assert 'import_module("calc.core")' in text and '"add"' in text


def test_the_builder_changes_nothing_for_a_title_it_cannot_act_on(make_repo) -> None:
    root = make_repo(FIXABLE)
    result, lines = run_role(Role.BUILDER, root, hypothesis=Hypothesis(title="Rewrite it in Rust"))
    assert result.ok and result.output.files_changed == []
    assert any(kind == "error" for _, kind in lines)
    assert git.Repo(root).git.status("--porcelain") == ""


def test_the_reviewer_rejects_a_removed_test_and_code_that_does_not_compile(make_repo) -> None:
    root = make_repo(FIXABLE)
    write_files(root, {"calc/core.py": "def add(a, b:\n"})
    diff = (
        "diff --git a/tests/test_core.py b/tests/test_core.py\n--- a/tests/test_core.py\n"
        "+++ b/tests/test_core.py\n@@ -1,2 +0,0 @@\n-def test_add():\n-    assert add(2, 3) == 5\n"
        "diff --git a/calc/core.py b/calc/core.py\n--- a/calc/core.py\n+++ b/calc/core.py\n"
        "@@ -0,0 +1 @@\n+def add(a, b:\n"
    )
    result, _ = run_role(Role.REVIEWER, root, diff=diff)
    assert result.output.verdict == "reject"
    concerns = " ".join(result.output.concerns)
    assert "1 test function(s) removed" in concerns and "does not compile" in concerns


def test_the_failure_analyst_classifies_failures_by_exception(make_repo) -> None:
    root = make_repo(
        {
            **TRAP,
            "flags/core.py": "def is_on(value):\n    return value\n",
            "tests/test_more.py": "import missing_module\n\n\ndef test_x():\n    pass\n",
        }
    )
    result, _ = run_role(Role.FAILURE_ANALYST, root)
    categories = sorted(f.category for f in result.output.failures)
    assert categories == ["assertion", "import"]
    assert result.output.summary.startswith("2 failing test(s)")


def test_the_distiller_structures_an_idea_and_asks_about_empty_sections(tmp_path) -> None:
    result, _ = run_role(
        Role.DISTILLER,
        tmp_path,
        idea="A CLI that renames photos by date",
        answers={"Users": "photographers with big archives"},
    )
    spec = result.output.spec
    assert spec.startswith("# A CLI that renames photos by date")
    for section in ("## Problem", "## Users", "## Features", "## Acceptance criteria"):
        assert section in spec
    assert "photographers with big archives" in spec
    assert any(q.startswith("Features:") for q in result.output.questions)
    assert not any(q.startswith("Users:") for q in result.output.questions)


def test_json_is_taken_from_the_last_fenced_block() -> None:
    text = 'first ```json\n{"a": 1}\n``` then\n```json\n{"a": 2}\n```'
    assert extract_json(text) == {"a": 2}
    try:
        extract_json("no json here")
    except ContractError as error:
        assert "no ```json block" in str(error)
    else:
        raise AssertionError("expected a ContractError")


def test_the_command_runtime_fills_its_template_and_reads_the_json(tmp_path) -> None:
    import sys

    from factory_tui.agents.command import CommandRuntime
    from factory_tui.engine.config import AgentsConfig
    from factory_tui.engine.errors import UsageError

    script = tmp_path / "agent.py"
    script.write_text(
        "import json, sys\n"
        "role, prompt_file, cwd = sys.argv[1:4]\n"
        "prompt = open(prompt_file).read()\n"
        "print('working in', cwd)\n"
        "verdict = 'approve' if 'You are the Reviewer' in prompt else 'reject'\n"
        "print('```json'); print(json.dumps({'verdict': verdict, 'summary': role})); print('```')\n"
    )
    runtime = CommandRuntime(
        AgentsConfig(command=f"{sys.executable} {script} {{role}} {{prompt_file}} {{cwd}}")
    )
    lines: list[str] = []
    request = AgentRequest(role=Role.REVIEWER, cwd=tmp_path, context=AgentContext())
    result = asyncio.run(runtime.run(request, lambda line, kind: lines.append(line)))
    assert result.ok and result.output.verdict == "approve"
    assert result.output.summary == "reviewer"
    assert f"working in {tmp_path}" in lines
    try:
        CommandRuntime(AgentsConfig())
    except UsageError as error:
        assert "needs `command" in str(error)
    else:
        raise AssertionError("a missing template must be a usage error")


def test_a_run_is_typed_as_its_role_s_output_and_a_wrong_type_is_an_error() -> None:
    review = ReviewerOutput(verdict="approve", summary="fine")
    run: AgentRun[Contract] = AgentRun(Role.REVIEWER, output=review)
    assert run.as_output(ReviewerOutput).result is review
    wrong = run.as_output(BuilderOutput)
    assert not wrong.ok
    assert wrong.error == "the Reviewer returned ReviewerOutput, not BuilderOutput"
