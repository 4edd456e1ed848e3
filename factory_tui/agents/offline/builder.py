"""The offline Builder: applies a hypothesis in the experiment's worktree with a real tool.

It acts on titles its recipes know (ruff fixes, ruff format, smoke tests); for any other
hypothesis it changes nothing and says why, and the experiment is reverted as empty.
"""

from __future__ import annotations

from factory_tui.engine.workspace import open_repo

from ..base import AgentRequest, Emit
from ..contracts import BuilderOutput
from . import recipes


async def build(request: AgentRequest, emit: Emit) -> BuilderOutput:
    hypothesis = request.context.hypothesis
    if hypothesis is None:
        raise ValueError("the Builder needs a hypothesis")
    found = recipes.match_recipe(hypothesis.title)
    if found is None:
        emit(f"no offline recipe for: {hypothesis.title}", "error")
        return BuilderOutput(
            summary="The offline runtime cannot make this change; nothing was edited.",
            files_changed=[],
            commit_message=hypothesis.title,
        )
    recipe, match = found
    await recipe.apply(match, hypothesis.files, request.cwd, emit, request.context.lint)
    changed = changed_files(request)
    for path in changed:
        emit(f"changed {path}", "tool")
    summary = (
        f"{hypothesis.title}: {len(changed)} file(s) changed."
        if changed
        else f"{hypothesis.title}: the tool made no change."
    )
    emit(summary, "result")
    return BuilderOutput(
        summary=summary,
        files_changed=changed,
        commit_message=f"{hypothesis.title}\n\n{hypothesis.rationale}".strip(),
    )


def changed_files(request: AgentRequest) -> list[str]:
    status = open_repo(request.cwd).git.status("--porcelain", "--untracked-files=all")
    return sorted(line[3:] for line in status.splitlines() if line.strip())
