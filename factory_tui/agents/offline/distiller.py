"""The offline Distiller: an idea (and answers) turned into a structured spec by rules."""

from __future__ import annotations

from ..base import AgentRequest, Emit
from ..contracts import DistillerOutput

SECTIONS = ("Problem", "Users", "Features", "Non-goals", "Acceptance criteria", "Eval metrics")
QUESTIONS = {
    "Problem": "What problem does this solve, and for whom is it painful today?",
    "Users": "Who will use it, and in what situation?",
    "Features": "What must the first version do? List the features.",
    "Non-goals": "What is deliberately out of scope?",
    "Acceptance criteria": "How will we know each feature works? Give checkable criteria.",
    "Eval metrics": "Which numbers should improve as the project grows (e.g. accuracy, "
    "latency in ms)?",
}


async def distill(request: AgentRequest, emit: Emit) -> DistillerOutput:
    context = request.context
    idea = (context.idea or context.spec).strip()
    answers = {key: value.strip() for key, value in context.answers.items() if value.strip()}
    first_line = idea.splitlines()[0].strip("# ").strip() if idea else "Untitled project"
    body = {section: answers.get(section, "") for section in SECTIONS}
    if not body["Problem"] and idea:
        body["Problem"] = idea
    lines = [f"# {first_line}", ""]
    questions = []
    for section in SECTIONS:
        text = body[section]
        lines += [f"## {section}", "", text or "_To be decided._", ""]
        emit(f"{section}: {'filled' if text else 'open'}", "text")
        if not text:
            questions.append(f"{section}: {QUESTIONS[section]}")
    spec = "\n".join(lines).rstrip() + "\n"
    summary = (
        f"Spec for '{first_line}': {len(SECTIONS) - len(questions)} of {len(SECTIONS)} "
        f"sections filled, {len(questions)} open question(s)."
    )
    emit(summary, "result")
    return DistillerOutput(spec=spec, questions=questions, summary=summary)
