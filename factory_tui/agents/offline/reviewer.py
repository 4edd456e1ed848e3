"""The offline Reviewer: the diff is not empty, changed Python compiles, no test was removed."""

from __future__ import annotations

from factory_tui.engine.models import ReviewVerdict
from factory_tui.eval import tools
from factory_tui.eval.diffs import DiffUnreadable, count_test_defs, diff_files

from ..base import AgentRequest, Emit
from ..contracts import ReviewerOutput


async def review(request: AgentRequest, emit: Emit) -> ReviewerOutput:
    diff = request.context.diff
    concerns: list[str] = []
    if not diff.strip():
        concerns.append("the diff is empty")
    try:
        files = diff_files(diff)
    except DiffUnreadable as error:
        emit(f"reject: {error}", "result")
        return ReviewerOutput(verdict="reject", concerns=[str(error)], summary=str(error))
    emit(f"{len(files)} file(s) in the diff", "text")
    for path, state in files.items():
        if not path.endswith(".py") or state == "deleted":
            continue
        source_path = request.cwd / path
        try:
            compile(source_path.read_text(encoding="utf-8"), path, "exec")
            emit(f"compiles: {path}", "tool")
        except (SyntaxError, ValueError, OSError) as error:
            concerns.append(f"{path} does not compile: {error}")
            emit(f"does not compile: {path}: {error}", "error")
    removed, added = count_test_defs(diff)
    deleted_tests = [
        path for path, state in files.items() if state == "deleted" and tools.is_test_file(path)
    ]
    if deleted_tests:
        concerns.append(f"test file(s) deleted: {', '.join(deleted_tests)}")
    if removed > added:
        concerns.append(f"{removed - added} test function(s) removed")
    emit(f"test functions: -{removed} +{added}", "text")
    verdict: ReviewVerdict = "reject" if concerns else "approve"
    summary = "; ".join(concerns) if concerns else "Diff compiles and removes no test."
    emit(f"{verdict}: {summary}", "result")
    return ReviewerOutput(verdict=verdict, concerns=concerns, summary=summary)
