"""Record what each role is told on a real run: `tests/fixtures/prompt_contexts.json`.

Runs the offline factory on a copy of the bundled example (six cycles, so there are kept
and reverted experiments, a backlog item, a message and the performance reports), keeps
the last context each role was given, and writes them with what would differ between
machines (paths, dates, the interpreter) made plain. The prompt snapshots render from this
file; run it again when the context grows a field:

    .venv/bin/python -m tests.support.record_contexts
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from factory_tui.agents.base import AgentContext, AgentRequest, Emit
from factory_tui.ceo.run import Pipeline, RunOptions
from factory_tui.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "prompt_contexts.json"
CYCLES = 6


def record() -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="record-contexts-") as folder:
        home = Path(folder)
        os.environ["FACTORY_HOME"] = str(home / "factory-home")
        project = home / "inventory"
        shutil.copytree(ROOT / "examples" / "inventory", project)
        env = {
            **os.environ,
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00",
        }
        for argv in (
            ["git", "init", "-q", "-b", "main"],
            ["git", "add", "-A"],
            ["git", "-c", "user.name=f", "-c", "user.email=f@x", "commit", "-qm", "i"],
        ):
            subprocess.run(argv, cwd=project, check=True, env=env)
        store = Store(project)
        store.add_backlog_item("Log each item removed", "a removal writes one INFO line")
        seen: dict[str, AgentContext] = {}
        for cycle in range(CYCLES):
            if cycle == CYCLES - 1:
                store.add_message("keep the public API unchanged")
            pipeline = Pipeline.open(project, RunOptions(cycles=1))
            runtime = pipeline.runtime
            original = runtime.run

            async def spy(request: AgentRequest, emit: Emit, original=original):  # type: ignore[no-untyped-def]
                # The fullest: a context that tells of a reverted experiment wins.
                earlier = seen.get(request.role.value)
                if earlier is None or request.context.past or not earlier.past:
                    seen[request.role.value] = request.context.model_copy(deep=True)
                return await original(request, emit)

            runtime.run = spy  # type: ignore[method-assign]
            asyncio.run(pipeline.run())
        return {role: plain(context, project) for role, context in sorted(seen.items())}


def plain(context: AgentContext, project: Path) -> dict:
    """The context with nothing of this machine or this hour in it."""
    data = json.loads(context.model_dump_json())
    text = json.dumps(data)
    text = text.replace(str(project), "/project").replace(sys.executable, "python")
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "2026-01-01 00:00", text)
    text = re.sub(r"\b\d+(\.\d+)?s\b", "1.0s", text)  # durations in notes
    data = json.loads(text)
    data["python"] = "python"
    return data


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE.relative_to(ROOT)}")
