"""What each role is told: its rendered prompt for a recorded project state is a reviewed
snapshot (a change to a prompt shows in review), and the parts a role acts on are there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from factory_tui.agents.base import AgentContext, Budget
from factory_tui.agents.prompts import system_prompt, task_message
from factory_tui.engine.models import Hypothesis, Role

# Recorded by tests/support/record_contexts.py from a real offline run on the example.
RECORDED = Path(__file__).parent / "fixtures" / "prompt_contexts.json"
ROLES = [role for role in Role if role not in (Role.EVALUATOR, Role.DISTILLER)]


class MarkdownSnapshot(SingleFileSnapshotExtension):
    """One markdown file per role, read in review like any other file."""

    _file_extension = "md"
    _write_mode = WriteMode.TEXT


def recorded(role: Role) -> AgentContext:
    return AgentContext.model_validate(json.loads(RECORDED.read_text())[role.value])


def rendered(role: Role, context: AgentContext) -> str:
    return (
        f"<!-- system prompt -->\n\n{system_prompt(role, context)}\n\n"
        f"<!-- task message -->\n\n{task_message(role, context)}\n"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_each_roles_prompt_for_a_recorded_project_is_a_reviewed_snapshot(role, snapshot) -> None:
    assert rendered(role, recorded(role)) == snapshot(extension_class=MarkdownSnapshot)


def test_the_recorded_state_has_every_field_a_role_can_be_told() -> None:
    """A field added to the context must be recorded (and so shown in the snapshots)."""
    data = json.loads(RECORDED.read_text())
    for role in ROLES:
        assert set(data[role.value]) == set(AgentContext.model_fields), role


def test_the_strategist_is_told_the_scorecard_the_verdict_rule_and_why_experiments_failed():
    context = recorded(Role.STRATEGIST)
    message = task_message(Role.STRATEGIST, context)
    assert context.before is not None and context.past
    for dimension in context.before.dimensions:  # every dimension, with its raw counts
        row = next(
            line for line in message.splitlines() if line.startswith(f"| {dimension.name} |")
        )
        for key, value in dimension.raw.items():
            if value is not None:
                assert f"{key}={value}" in row
    assert "No measured dimension gets worse" in message and "Reviewer approves" in message
    past = context.past[0]
    assert past.reason in message
    assert f"failed: {past.failed_checks[0]}" in message
    assert "keep the public API unchanged" in message  # the person's message
    assert "Keep rate by kind of change" in message  # the performance report


def test_the_builder_is_told_its_fixed_surfaces_guards_and_budget() -> None:
    context = recorded(Role.BUILDER).model_copy(
        update={"budget": Budget(max_turns=12, cost_left_usd=1.5)}
    )
    message = task_message(Role.BUILDER, context)
    assert "- tests/test_models.py" in message
    assert "assertions kept" in message and "no secrets added" in message
    assert "at most 12 turns" in message and "$1.50 left" in message


def test_the_researcher_is_told_its_mode_and_its_web_bounds() -> None:
    context = recorded(Role.RESEARCHER)
    assert "Broad: survey" in task_message(Role.RESEARCHER, context)
    targeted = context.model_copy(
        update={"focus": "Log each item removed", "budget": Budget(web_searches=8, web_pages=5)}
    )
    message = task_message(Role.RESEARCHER, targeted)
    assert "Targeted: research this backlog item only" in message
    assert "at most 8 searches and 5 pages" in message


def test_a_prediction_that_is_not_a_number_is_dropped_and_the_hypothesis_kept() -> None:
    hypothesis = Hypothesis.model_validate(
        {"title": "t", "predicted": {"lint": "0.05", "tests": "more", "coverage": 7, "x": None}}
    )
    assert hypothesis.predicted == {"lint": 0.05, "coverage": 1.0}
