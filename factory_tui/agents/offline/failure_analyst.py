"""The offline Failure Analyst: failing tests classified by exception type and message."""

from __future__ import annotations

from collections import Counter

from factory_tui.eval import tools

from ..base import AgentRequest, Emit
from ..contracts import Failure, FailureAnalystOutput

CATEGORIES = {
    "AssertionError": "assertion",
    "ImportError": "import",
    "ModuleNotFoundError": "import",
    "AttributeError": "api",
    "TypeError": "api",
    "NameError": "api",
    "SyntaxError": "syntax",
    "IndentationError": "syntax",
    "KeyError": "data",
    "IndexError": "data",
    "ValueError": "data",
    "TimeoutError": "timeout",
    "FileNotFoundError": "environment",
    "PermissionError": "environment",
}


def classify_cases(counts: dict[str, int], emit: Emit) -> FailureAnalystOutput:
    """Research mode: the last metric run's failing cases, by kind (counts only)."""
    failures = [
        Failure(name=kind, category="metric", cause=f"{count} failing case(s)")
        for kind, count in counts.items()
    ]
    for failure in failures:
        emit(f"{failure.name}: {failure.cause}", "result")
    total = sum(counts.values())
    summary = (
        "No failing cases in the last metric run."
        if not counts
        else f"{total} failing case(s): "
        + ", ".join(f"{count} {kind}" for kind, count in counts.items())
    )
    emit(summary, "result")
    return FailureAnalystOutput(summary=summary, failures=failures)


def categorize(exception: str, message: str) -> str:
    if exception in CATEGORIES:
        return CATEGORIES[exception]
    if "timeout" in message.lower():
        return "timeout"
    return "error"


async def analyse(request: AgentRequest, emit: Emit) -> FailureAnalystOutput:
    if request.context.mode == "research":
        return classify_cases(request.context.research_failures, emit)
    python = request.context.python or tools.project_python(request.cwd)
    emit("$ pytest --junitxml", "tool")
    report = await tools.run_pytest(request.cwd, python, lambda line: emit(line, "text"))
    failures = [
        Failure(
            name=f.name,
            category=categorize(f.exception, f.message),
            cause=f"{f.exception}: {f.message}".strip(": "),
        )
        for f in report.failures
    ]
    for failure in failures:
        emit(f"[{failure.category}] {failure.name}: {failure.cause}", "result")
    if not failures:
        summary = "No failing tests."
    else:
        counts = Counter(f.category for f in failures)
        summary = f"{len(failures)} failing test(s): " + ", ".join(
            f"{count} {category}" for category, count in counts.most_common()
        )
    emit(summary, "result")
    return FailureAnalystOutput(summary=summary, failures=failures)
