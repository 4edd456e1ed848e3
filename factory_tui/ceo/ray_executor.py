"""Experiments as tasks on an existing Ray cluster.

The task gets the base as a git bundle, makes a repository and its worktrees on the node,
and runs the Builder, the Reviewer and the eval there, in the node's sandbox, with the
project's config and spec. Its events reach the engine while it runs (through a Ray queue),
so the panes stay live. It returns the experiment's commit as a bundle with its record and
measurement; the engine imports the commit as `factory/exp-NNNN` in the user's repository
and takes the verdict there, one at a time, like any other. A task is never retried: a node
that dies takes its experiment with it, which is aborted and recorded, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import git
import ray
from ray.util.queue import Queue

from factory_tui.engine.errors import FactoryError
from factory_tui.engine.events import Event, EventBus, parse_event
from factory_tui.engine.models import Check, Experiment
from factory_tui.engine.workspace import open_repo

if TYPE_CHECKING:
    from .cycle import Built, Cycle, Slots

FORWARD_EVERY = 0.1  # seconds between batches of a task's events
# The run's own events stay with the run; a task forwards only its experiment's.
NOT_FORWARDED = {"run_started", "run_finished", "run_state", "cycle_started", "log_continued"}


class RayExecutor:
    """Each experiment as a Ray task on whichever node has a CPU free."""

    name = "ray"

    def __init__(self, address: str | None, env: list[str]) -> None:
        self.address = address
        self.env = env
        self._connecting = threading.Lock()  # experiments start at once, each connecting

    def connect(self) -> None:
        with self._connecting:
            if ray.is_initialized():
                return
            # Ray's own chatter (a SIGTERM handler it cannot set off the main thread) is
            # not the user's business; its errors are.
            logging.getLogger("ray").setLevel(logging.ERROR)
            ray.init(
                address=self.address or "auto",
                logging_level=logging.ERROR,
                log_to_driver=False,
                configure_logging=False,
            )

    async def build(
        self, cycle: Cycle, experiment: Experiment, slots: Slots, findings: str
    ) -> Built:
        from .cycle import Built, Measured

        pipeline, workspace, store = cycle.pipeline, cycle.workspace, cycle.store
        await asyncio.to_thread(self.connect)
        request = {
            "experiment": experiment.model_dump_json(),
            "findings": findings,
            "cycle": cycle.number,
            "mode": pipeline.options.mode,
            "name": workspace.project.name,
            "config": _read(store.config_path),
            "spec": _read(store.spec_path),
            "bundle": await asyncio.to_thread(workspace.bundle, experiment.base_commit),
        }
        queue = Queue()
        env = {name: os.environ[name] for name in self.env if name in os.environ}
        task = build_remotely.options(
            num_cpus=1, max_retries=0, runtime_env={"env_vars": env} if env else None
        ).remote(request, queue)
        forwarding = asyncio.create_task(_forward(queue, pipeline.emit))
        try:
            result: dict[str, Any] = await task
        except asyncio.CancelledError:
            ray.cancel(task, force=True)
            raise
        except ray.exceptions.RayError as error:
            raise FactoryError(f"the Ray task building {experiment.id} failed: {error}") from None
        finally:
            forwarding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarding
            await asyncio.to_thread(_drain, queue, pipeline.emit)
            with contextlib.suppress(Exception):
                queue.shutdown(force=True)

        built = Experiment.model_validate_json(result["experiment"])
        for field in ("commit", "builder_summary", "review", "after", "diffstat", "usage"):
            setattr(experiment, field, getattr(built, field))
        experiment.files_changed = built.files_changed
        experiment.runner = result["node"]
        pipeline.cost_usd += experiment.cost_usd
        said = pipeline.agents.secrets_said
        said.setdefault(experiment.id, set()).update(result["secrets_said"])
        slot = await pipeline.agent_slot(experiment.base_commit, slots.agent)
        if result["bundle"] is not None:
            await asyncio.to_thread(workspace.import_bundle, result["bundle"], experiment.branch)
            await asyncio.to_thread(workspace.check_out_branch, slot, experiment.branch)
        store.save_experiment(experiment)
        if experiment.commit is not None:
            diff = await cycle.record_diff(experiment)
        else:
            diff = ""
        context = cycle.agents.context(
            cycle.history, hypothesis=experiment.hypothesis, research_summary=findings
        )
        context.diff, context.builder_summary = diff, experiment.builder_summary
        context.after, context.review = experiment.after, experiment.review
        context.failures = result["failures"]
        if result["early"] is not None:
            from factory_tui.engine.models import Verdict

            early = Verdict.model_validate_json(result["early"])
            return Built(context, result["outside"], early=early)
        measured = result["measured"]
        return Built(
            context,
            result["outside"],
            measured=Measured(
                measured["diff"],
                [Check.model_validate(check) for check in measured["guards"]],
                measured["person"],
            ),
        )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


async def _forward(queue: Queue, emit: Any) -> None:
    while True:
        await asyncio.to_thread(_drain, queue, emit)
        await asyncio.sleep(FORWARD_EVERY)


def _drain(queue: Queue, emit: Any) -> None:
    with contextlib.suppress(Exception):  # an empty or closed queue: nothing more
        for batch in queue.get_nowait_batch(queue.qsize()):
            for line in batch:
                event = parse_event(line)
                if event is not None:
                    emit(event)


# -- on the node ---------------------------------------------------------------------------
@ray.remote
def build_remotely(request: dict[str, Any], queue: Queue) -> dict[str, Any]:
    return asyncio.run(_build_remotely(request, queue))


async def _build_remotely(request: dict[str, Any], queue: Queue) -> dict[str, Any]:
    from .cycle import FIRST, Cycle
    from .run import Pipeline, RunOptions

    scratch = Path(tempfile.mkdtemp(prefix="factory-ray-"))
    pending: list[str] = []
    try:
        project = scratch / request["name"]
        init_repository_from_bundle(project, request["bundle"])
        factory = project / ".factory"
        factory.mkdir()
        for name in ("config", "spec"):
            if request[name] is not None:
                target = "config.toml" if name == "config" else "spec.md"
                (factory / target).write_text(request[name], encoding="utf-8")
        bus = EventBus(None)
        bus.subscribe(lambda event: _keep(event, pending))
        sending = asyncio.create_task(_send(queue, pending))
        options = RunOptions(mode=request["mode"], approval="auto")
        pipeline = Pipeline.open(project, options, bus)
        pipeline.store.ensure()
        await asyncio.to_thread(pipeline.workspace.ensure_excluded)
        experiment = Experiment.model_validate_json(request["experiment"])
        cycle = Cycle(pipeline, request["cycle"])
        try:
            built = await cycle.build(experiment, FIRST, request["findings"])
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            if pending:
                queue.put(list(pending))
        bundle = None
        if experiment.commit is not None:
            bundle = pipeline.workspace.bundle(experiment.commit, since=experiment.base_commit)
        measured = built.measured
        context = ray.get_runtime_context()
        return {
            "experiment": experiment.model_dump_json(),
            "early": built.early.model_dump_json() if built.early else None,
            "measured": None
            if measured is None
            else {
                "diff": measured.diff,
                "guards": [check.model_dump() for check in measured.guards],
                "person": measured.person,
            },
            "outside": built.outside,
            "failures": built.context.failures,
            "secrets_said": sorted(pipeline.agents.secrets_said.get(experiment.id, set())),
            "bundle": bundle,
            "node": f"ray {context.get_node_id()[:8]}",
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def init_repository_from_bundle(project: Path, bundle: bytes) -> None:
    """A repository on the base the bundle carries, checked out on `main`."""
    project.mkdir(parents=True)
    path = project.parent / "base.bundle"
    path.write_bytes(bundle)
    git.Repo.init(project, initial_branch="main")
    repo = open_repo(project)
    repo.git.fetch("--quiet", str(path), "refs/heads/factory/bundled:refs/remotes/base/main")
    repo.git.checkout("--quiet", "-B", "main", "refs/remotes/base/main")


def _keep(event: Event, pending: list[str]) -> None:
    if getattr(event, "type", "") not in NOT_FORWARDED:
        pending.append(event.model_dump_json())


async def _send(queue: Queue, pending: list[str]) -> None:
    while True:
        await asyncio.sleep(FORWARD_EVERY)
        if pending:
            batch = list(pending)
            pending.clear()
            await queue.put_async(batch)
