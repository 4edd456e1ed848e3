"""Role prompts: one markdown file a role (who it is, how it works, its limits, the JSON it
ends with), plus the task message: the parts of the context that role works from, as
markdown sections, in the order it should read them."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources

from factory_tui.engine.models import Role, Scorecard
from factory_tui.eval.dominance import noise_floor

from ..base import AgentContext

MAX_DIFF_CHARS = 60_000
MAX_FIXED_SHOWN = 60  # fixed surfaces listed by name; past this, counted
Section = tuple[str, str]


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
    parts: list[Section] = [("Project", context.project), *_messages(context)]
    parts += SECTIONS[role](context)
    body = "\n\n".join(f"## {title}\n\n{text.strip()}" for title, text in parts if text.strip())
    return f"{body}\n\nEnd your final message with the ```json block your role requires."


# -- each role's sections ---------------------------------------------------------------------
def _researcher(context: AgentContext) -> list[Section]:
    return [
        ("Mode", _mode(context)),
        ("Spec", context.spec),
        ("Backlog", _backlog(context)),
        ("The base's scorecard", _scorecard(context.before, context)),
        ("Performance reports", context.performance),
        ("Recent archive notes", "\n\n".join(context.archive[-5:])),
        ("Your tools and budget", _tools(Role.RESEARCHER, context)),
    ]


def _strategist(context: AgentContext) -> list[Section]:
    focus = (
        f"Propose exactly one hypothesis, for this backlog item only: {context.focus}"
        if context.focus
        else ""
    )
    return [
        ("Focus", focus),
        ("Spec", context.spec),
        ("Backlog", _backlog(context)),
        ("The base's scorecard", _scorecard(context.before, context)),
        ("How the verdict is reached", context.verdict_rule),
        ("Research summary", context.research_summary),
        ("Findings", json.dumps([f.model_dump() for f in context.findings], indent=1)),
        ("Reverted experiments (learn from why)", _past(context)),
        (
            "Already tried (never propose these again)",
            "\n".join(f"- {title} ({status})" for title, status in context.tried.items()),
        ),
        ("Performance reports", context.performance),
        ("Recent archive notes", "\n\n".join(context.archive[-5:])),
    ]


def _builder(context: AgentContext) -> list[Section]:
    return [
        ("Hypothesis", _hypothesis(context)),
        ("Research summary", context.research_summary),
        ("Fixed surfaces (never change these)", _fixed(context)),
        ("What the guards block (any one reverts the experiment)", _guards(context)),
        ("How the verdict is reached", context.verdict_rule),
        ("How the tests run", _tests_run(context)),
        ("Your tools and budget", _tools(Role.BUILDER, context)),
    ]


def _reviewer(context: AgentContext) -> list[Section]:
    return [
        ("Hypothesis", _hypothesis(context)),
        ("Builder's summary", context.builder_summary),
        ("Diff", _diff(context)),
        ("Fixed surfaces (a change to one is a reason to reject)", _fixed(context)),
        ("What the guards block", _guards(context)),
        ("Your tools and budget", _tools(Role.REVIEWER, context)),
    ]


def _archivist(context: AgentContext) -> list[Section]:
    parts = [
        ("Hypothesis", _hypothesis(context)),
        ("Builder's summary", context.builder_summary),
        ("Diff", _diff(context)),
    ]
    if context.review is not None:
        review = context.review
        concerns = "\n".join(f"- {concern}" for concern in review.concerns)
        parts.append(("Review", f"{review.verdict}: {review.summary}\n{concerns}"))
    for name, card in (("Scores before", context.before), ("Scores after", context.after)):
        if card is not None:
            parts.append((name, _scores(card)))
    parts += [("Verdict", context.verdict), ("Failing tests", context.failures)]
    parts.append(("The factory so far", context.factory_report))
    return parts


def _failure_analyst(context: AgentContext) -> list[Section]:
    return [
        ("Hypothesis", _hypothesis(context)),
        ("How the tests run", _tests_run(context)),
        ("Your tools and budget", _tools(Role.FAILURE_ANALYST, context)),
    ]


def _distiller(context: AgentContext) -> list[Section]:
    return [
        ("Spec", context.spec),
        ("Idea", context.idea),
        (
            "Answers to open questions",
            "\n".join(f"- {q}: {a}" for q, a in context.answers.items()),
        ),
    ]


SECTIONS: dict[Role, Callable[[AgentContext], list[Section]]] = {
    Role.RESEARCHER: _researcher,
    Role.STRATEGIST: _strategist,
    Role.BUILDER: _builder,
    Role.REVIEWER: _reviewer,
    Role.ARCHIVIST: _archivist,
    Role.FAILURE_ANALYST: _failure_analyst,
    Role.DISTILLER: _distiller,
}


# -- the parts --------------------------------------------------------------------------------
def _messages(context: AgentContext) -> list[Section]:
    if not context.notes:
        return []
    return [
        (
            "Messages from the person running the factory (high priority)",
            "\n".join(f"- {note}" for note in context.notes),
        )
    ]


def _mode(context: AgentContext) -> str:
    if context.focus:
        return (
            f"Targeted: research this backlog item only, with at most half of your budget: "
            f"{context.focus}"
        )
    if context.mode == "research":
        return "Research: the run optimises one metric; find what limits it in the code."
    return "Broad: survey the whole project."


def _backlog(context: AgentContext) -> str:
    return "\n".join(
        f"- [{item.status}] {item.title}"
        + (f"\n  acceptance: {item.detail}" if item.detail else "")
        for item in context.backlog
    )


def _scorecard(card: Scorecard | None, context: AgentContext) -> str:
    """Every dimension with its score, weight, raw counts and noise floor: what the
    verdict compares, not only the composite."""
    if card is None:
        return ""
    lines = [f"composite {card.composite:.4f} (tree {card.tree[:10]})", ""]
    lines += ["| dimension | tier | score | weight | raw counts | noise floor | why |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for d in card.dimensions:
        raw = ", ".join(f"{key}={value}" for key, value in d.raw.items() if value is not None)
        floor = noise_floor(d, d, context.noise_z) if len(d.samples) > 1 else 0.0
        reason = d.reason.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {d.name} | {d.tier} | {_score(d.score)} | {d.weight:g} | {raw or '-'} | "
            f"{f'{floor:.4g}' if floor else '-'} | {reason} |"
        )
    if card.dimensions and context.evidence is not None and context.evidence.failures:
        failing = ", ".join(f.name for f in context.evidence.failures[:10])
        lines += ["", f"failing on the base: {failing}"]
    return "\n".join(lines)


def _past(context: AgentContext) -> str:
    blocks = []
    for past in context.past:
        lines = [f"- {past.id} {past.title} ({past.category or 'general'})"]
        if past.files:
            lines.append(f"  files: {', '.join(past.files[:8])}")
        if past.reason:
            lines.append(f"  reason: {past.reason}")
        lines += [f"  failed: {check}" for check in past.failed_checks[:5]]
        if past.predicted:
            told = ", ".join(
                f"{name} {change:+.4f} (measured {past.measured.get(name, 0.0):+.4f})"
                for name, change in past.predicted.items()
            )
            lines.append(f"  predicted: {told}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _hypothesis(context: AgentContext) -> str:
    if context.hypothesis is None:
        return ""
    return context.hypothesis.model_dump_json(
        indent=1, include={"title", "rationale", "files", "category", "predicted"}
    )


def _diff(context: AgentContext) -> str:
    return f"```diff\n{context.diff[:MAX_DIFF_CHARS]}\n```" if context.diff else ""


def _fixed(context: AgentContext) -> str:
    shown = [f"- {path}" for path in context.fixed[:MAX_FIXED_SHOWN]]
    if len(context.fixed) > MAX_FIXED_SHOWN:
        shown.append(f"- and {len(context.fixed) - MAX_FIXED_SHOWN} more test files")
    return "\n".join(shown)


def _guards(context: AgentContext) -> str:
    return "\n".join(f"- {rule}" for rule in context.guards)


def _tests_run(context: AgentContext) -> str:
    if not context.python:
        return ""
    return f"`{context.python} -m pytest -p no:cacheprovider -q` (the interpreter the eval uses)"


def _tools(role: Role, context: AgentContext) -> str:
    """What the role may do in this run, and how much: told so it plans within it."""
    budget = context.budget
    lines = []
    if role is Role.BUILDER:
        lines.append("- you may read, edit and write files in your worktree, and run commands")
    elif context.shell:
        lines.append(
            "- a shell, read-only: your working directory cannot be written; run tests with "
            "`-p no:cacheprovider`"
        )
    else:
        lines.append("- reading tools only (no shell)")
    if budget.web_searches or budget.web_pages:
        lines.append(
            f"- the web: at most {budget.web_searches} searches and {budget.web_pages} pages "
            "fetched in this run; a call past either bound is refused"
        )
    if budget.max_turns:
        lines.append(f"- at most {budget.max_turns} turns")
    if budget.cost_left_usd is not None:
        lines.append(f"- ${budget.cost_left_usd:.2f} left of the run's cost limit")
    return "\n".join(lines)


def _scores(card: Scorecard) -> str:
    lines = [f"- {d.name}: {_score(d.score)} ({d.reason})" for d in card.dimensions]
    return "\n".join([*lines, f"- composite: {card.composite:.4f}"])


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
