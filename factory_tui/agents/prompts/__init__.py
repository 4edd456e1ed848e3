"""Role prompts: one markdown file a role, plus the task message built from the context."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from factory_tui.engine.models import Role, Scorecard

from ..base import AgentContext

MAX_DIFF_CHARS = 60_000


@cache
def role_prompt(role: Role) -> str:
    """The role's system prompt: who it is, what it receives, the JSON it must end with."""
    return resources.files(__package__).joinpath(f"{role.value}.md").read_text(encoding="utf-8")


def system_prompt(role: Role, context: AgentContext) -> str:
    prompt = role_prompt(role)
    if context.playbook.strip():
        prompt += "\n\n## Your playbook (lessons from earlier experiments)\n\n" + context.playbook
    return prompt


def task_message(role: Role, context: AgentContext) -> str:
    """The user message: the parts of the context this role works from, as markdown."""
    parts: list[tuple[str, str]] = [("Project", context.project)]
    if context.notes:
        parts.append(
            (
                "Messages from the person running the factory (high priority)",
                "\n".join(f"- {note}" for note in context.notes),
            )
        )
    if role in (Role.RESEARCHER, Role.STRATEGIST, Role.DISTILLER):
        parts.append(("Spec", context.spec))
    if role is Role.DISTILLER:
        parts += [
            ("Idea", context.idea),
            (
                "Answers to open questions",
                "\n".join(f"- {q}: {a}" for q, a in context.answers.items()),
            ),
        ]
    if role in (Role.RESEARCHER, Role.STRATEGIST):
        parts.append(
            (
                "Backlog",
                "\n".join(
                    f"- [{item.status}] {item.title}" + (f": {item.detail}" if item.detail else "")
                    for item in context.backlog
                ),
            )
        )
        parts.append(("Recent archive notes", "\n\n".join(context.archive[-5:])))
    if role is Role.STRATEGIST:
        if context.focus:
            parts.append(
                (
                    "Focus",
                    f"Propose exactly one hypothesis, for this backlog item only: {context.focus}",
                )
            )
        parts.append(("Research summary", context.research_summary))
        parts.append(("Findings", json.dumps([f.model_dump() for f in context.findings], indent=1)))
        parts.append(
            (
                "Already tried (never propose these again)",
                "\n".join(f"- {title} ({status})" for title, status in context.tried.items()),
            )
        )
    if context.hypothesis is not None and role is not Role.STRATEGIST:
        parts.append(("Hypothesis", context.hypothesis.model_dump_json(indent=1)))
    if role in (Role.REVIEWER, Role.ARCHIVIST):
        parts.append(("Builder's summary", context.builder_summary))
        parts.append(
            ("Diff", f"```diff\n{context.diff[:MAX_DIFF_CHARS]}\n```" if context.diff else "")
        )
    if role is Role.ARCHIVIST:
        for name, card in (("Scores before", context.before), ("Scores after", context.after)):
            if card is not None:
                parts.append((name, _scores(card)))
        parts += [("Verdict", context.verdict), ("Failing tests", context.failures)]
        parts.append(("The factory so far", context.factory_report))
    body = "\n\n".join(f"## {title}\n\n{text.strip()}" for title, text in parts if text.strip())
    return f"{body}\n\nEnd your final message with the ```json block your role requires."


def _scores(card: Scorecard) -> str:
    lines = [f"- {d.name}: {_score(d.score)} ({d.reason})" for d in card.dimensions]
    return "\n".join([*lines, f"- composite: {card.composite:.4f}"])


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
