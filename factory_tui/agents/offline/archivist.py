"""The offline Archivist: a markdown note per experiment and the lessons it teaches."""

from __future__ import annotations

from factory_tui.engine.models import Scorecard

from ..base import AgentRequest, Emit
from ..contracts import ArchivistOutput


async def archive(request: AgentRequest, emit: Emit) -> ArchivistOutput:
    context = request.context
    hypothesis = context.hypothesis
    title = hypothesis.title if hypothesis else "(no hypothesis)"
    lines = [
        f"# {request.experiment or 'experiment'}: {title}",
        "",
        f"**Verdict:** {context.verdict or 'undecided'}",
    ]
    if hypothesis:
        lines += [
            f"**Category:** {hypothesis.category} · **Source:** {hypothesis.source} · "
            f"**Expected gain:** {hypothesis.expected_gain:+.4f}",
            "",
            "## Hypothesis",
            "",
            hypothesis.rationale or "(no rationale)",
        ]
    lines += ["", "## What the Builder did", "", context.builder_summary or "(nothing)"]
    if context.review:
        lines += ["", "## Review", "", f"{context.review.verdict}: {context.review.summary}"]
    lines += ["", "## Scores", "", *score_table(context.before, context.after)]
    if context.failures:
        lines += ["", "## Failing tests", "", context.failures]
    if context.factory_report:
        lines += ["", "## The factory so far", "", context.factory_report]
    lessons = derive_lessons(request)
    if lessons:
        lines += ["", "## Lessons", "", *[f"- {lesson}" for lesson in lessons]]
    note = "\n".join(lines) + "\n"
    for line in note.splitlines():
        emit(line, "text")
    return ArchivistOutput(note=note, lessons=lessons)


def score_table(before: Scorecard | None, after: Scorecard | None) -> list[str]:
    if before is None:
        return ["(not scored)"]
    rows = ["| dimension | before | after | delta |", "| --- | ---: | ---: | ---: |"]
    names = [d.name for d in before.dimensions]
    for name in names:
        old = before.dimension(name)
        new = after.dimension(name) if after else None
        rows.append(
            f"| {name} | {_fmt(old.score if old else None)} | "
            f"{_fmt(new.score if new else None)} | "
            f"{_delta(old.score if old else None, new.score if new else None)} |"
        )
    rows.append(
        f"| **composite** | {before.composite:.4f} | "
        f"{_fmt(after.composite if after else None)} | "
        f"{_delta(before.composite, after.composite if after else None)} |"
    )
    return rows


def derive_lessons(request: AgentRequest) -> list[str]:
    context = request.context
    hypothesis = context.hypothesis
    if hypothesis is None or context.before is None:
        return []
    category = hypothesis.category
    lessons = []
    tests_before = context.before.dimension("tests")
    tests_after = context.after.dimension("tests") if context.after else None
    if (
        tests_before
        and tests_after
        and tests_before.score is not None
        and tests_after.score is not None
        and tests_after.score < tests_before.score
    ):
        lessons.append(
            f"'{hypothesis.title}' broke tests ({context.failures or 'see log'}); "
            f"treat {category} changes of this kind as unsafe here."
        )
    if context.verdict.startswith("kept") and context.after:
        delta = context.after.composite - context.before.composite
        lessons.append(
            f"{category} changes like '{hypothesis.title}' raised the composite by {delta:+.4f}."
        )
    if not context.builder_summary or "nothing was edited" in context.builder_summary:
        lessons.append(f"The Builder could not act on '{hypothesis.title}'.")
    return lessons


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _delta(old: float | None, new: float | None) -> str:
    return "n/a" if old is None or new is None else f"{new - old:+.4f}"
