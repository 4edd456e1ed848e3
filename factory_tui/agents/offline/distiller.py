"""The offline Distiller: an idea (or a draft) and answers turned into a structured spec.

By rules, no model: the spec keeps every section the person already wrote, fills empty ones
from their answers, puts the idea in the Problem section when nothing else is there, and
asks a question for each section still empty.
"""

from __future__ import annotations

from factory_tui.engine.spec import SECTIONS, UNDECIDED, parse_spec

from ..base import AgentRequest, Emit
from ..contracts import DistillerOutput

QUESTIONS = {
    "Problem": "What problem does this solve, and for whom is it painful today?",
    "Users": "Who will use it, and in what situation?",
    "Features": "What must the first version do? List the features.",
    "Non-goals": "What is deliberately out of scope?",
    "Acceptance criteria": "How will we know each feature works? Give checkable criteria.",
    "Eval metrics": "Which numbers should improve as the project grows? Write each as "
    "name: `command` (e.g. accuracy: `python eval.py`).",
}


def section_of(question: str) -> str:
    """The section a question is about ("Users: Who will ..." -> "Users")."""
    return question.split(":", 1)[0].strip()


def as_list(answer: str, section: str) -> str:
    """List sections read better as bullets: one per line or per semicolon of the answer."""
    if section not in ("Features", "Non-goals", "Acceptance criteria", "Eval metrics"):
        return answer
    items = [part.strip(" -*") for line in answer.splitlines() for part in line.split(";")]
    return "\n".join(f"- {item}" for item in items if item)


async def distill(request: AgentRequest, emit: Emit) -> DistillerOutput:
    context = request.context
    draft = parse_spec(context.spec) if context.spec.strip() else None
    idea = context.idea.strip()
    answers = {
        section_of(key): value.strip() for key, value in context.answers.items() if value.strip()
    }
    title = (
        draft.title
        if draft and draft.title != "Untitled project"
        else (idea.splitlines()[0].strip("# ").strip() if idea else "Untitled project")
    )
    title = title[:1].upper() + title[1:]
    body: dict[str, str] = {}
    filled_now = []
    for section in SECTIONS:
        text = draft.section(section) if draft else ""
        if not text and section in answers:
            text = as_list(answers[section], section)
            filled_now.append(section)
        if not text and section == "Problem" and idea:
            text = idea
        body[section] = text
    lines = [f"# {title}", ""]
    questions = []
    for section in SECTIONS:
        text = body[section]
        lines += [f"## {section}", "", text or UNDECIDED, ""]
        emit(f"{section}: {'filled' if text else 'open'}", "text")
        if not text:
            questions.append(f"{section}: {QUESTIONS[section]}")
    spec = "\n".join(lines).rstrip() + "\n"
    done = len(SECTIONS) - len(questions)
    summary = f"'{title}': {done} of {len(SECTIONS)} sections filled"
    if filled_now:
        summary += f" ({', '.join(filled_now)} from your answers)"
    summary += f"; {len(questions)} open question(s)."
    emit(summary, "result")
    return DistillerOutput(spec=spec, questions=questions, summary=summary)
