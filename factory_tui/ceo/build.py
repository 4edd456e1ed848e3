"""Build mode's first step: the project made by the agents, inside the run.

Run by the pipeline so that every agent streams into its pane and its log: the idea distilled
into a spec, the spec scaffolded by the Builder in a worktree (sandboxed like any experiment),
the scaffold kept onto the empty first commit, and the spec's features and metrics seeded.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from factory_tui.agents import contracts
from factory_tui.agents.base import AgentContext
from factory_tui.engine.build import BuildPlan, project_names, scaffold_hypothesis, seed
from factory_tui.engine.errors import FactoryError
from factory_tui.engine.spec import parse_spec
from factory_tui.engine.store import write_atomic
from factory_tui.eval.secrets import scan_diff

if TYPE_CHECKING:
    from .run import Pipeline


async def make_project(pipeline: Pipeline, plan: BuildPlan) -> None:
    """Make the project from `plan` on the run's empty first commit; raises FactoryError
    when an agent fails or the scaffold holds a secret (nothing is kept then)."""
    workspace, store = pipeline.workspace, pipeline.store
    base = await asyncio.to_thread(workspace.base_commit)
    slot = await pipeline.agent_slot(base)
    spec = plan.spec
    if not spec.strip():
        context = AgentContext(idea=plan.idea, runtime=pipeline.runtime.name)
        distilled = await pipeline.agents.call(contracts.DISTILLER, slot, context, None)
        if not distilled.ok:
            raise FactoryError(f"the Distiller failed: {distilled.error}")
        spec = distilled.result.spec
    write_atomic(store.spec_path, spec)
    title = parse_spec(spec).title
    names = project_names(workspace.project.name)
    if names.why:
        pipeline.notice(
            f"the package is named {names.package} and its command {names.command}: {names.why}"
        )
    write_atomic(slot / "docs" / "SPEC.md", spec)
    context = AgentContext(
        spec=spec, hypothesis=scaffold_hypothesis(title, names), runtime=pipeline.runtime.name
    )
    built = await pipeline.agents.call(contracts.BUILDER, slot, context, None)
    if not built.ok:
        raise FactoryError(f"the Builder could not scaffold the project: {built.error}")
    staged = await asyncio.to_thread(workspace.stage_slot, slot)
    secrets = await asyncio.to_thread(scan_diff, staged)
    if secrets:
        await asyncio.to_thread(workspace.clean_slot, slot)
        where = ", ".join(str(found) for found in secrets[:5])
        raise FactoryError(f"the Builder's scaffold holds a secret at {where}: nothing was kept")
    message = f"Scaffold {title} from its spec (factory build)"
    commit = await asyncio.to_thread(workspace.commit_slot, slot, message)
    if commit is None:
        raise FactoryError("the Builder wrote no files: there is no project to improve")
    await asyncio.to_thread(workspace.keep, commit, base)
    added, metrics = seed(store, spec, plan.idea)
    pipeline.reload_config()
    pipeline.notice(
        f"scaffolded {title!r}; {added} backlog item(s) from the spec"
        + (f"; project metrics: {', '.join(metrics)}" if metrics else "")
    )
