"""Child processes streamed line by line, with limits, and never left behind.

Agents and eval tools run through `stream_process`: each child gets its own process group,
so cancelling (Ctrl-C, quit, a timeout) ends the child and everything it started, SIGTERM
first and SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Claude Code's stream-json lines can be large (a whole file read by a tool).
LINE_LIMIT = 32 * 1024 * 1024
KILL_GRACE = 3.0
CHUNK = 64 * 1024
# The longest stretch a stream may keep the event loop before letting others run.
TURN_BUDGET = 0.002


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stderr: str = ""
    # "inactivity" or "wall" when a limit ended the process, else None.
    timed_out: str | None = None
    elapsed: float = 0.0


async def stream_process(
    argv: Sequence[str],
    cwd: Path,
    on_line: Callable[[str], None],
    *,
    env: Mapping[str, str] | None = None,
    wall_timeout: float | None = None,
    inactivity_timeout: float | None = None,
    merge_stderr: bool = True,
    stdin_text: str | None = None,
    kill_grace: float = KILL_GRACE,
) -> ProcessResult:
    """Run `argv`, calling `on_line` for each line of its output as it arrives.

    Raises FileNotFoundError when the program does not exist. Cancelling the awaiting task
    ends the whole process group before the cancellation propagates.
    """
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.PIPE if stdin_text is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=LINE_LIMIT,
    )
    stderr_task = None
    if not merge_stderr:
        assert process.stderr is not None
        stderr_task = asyncio.create_task(process.stderr.read())
    if stdin_text is not None:
        assert process.stdin is not None
        process.stdin.write(stdin_text.encode())
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        process.stdin.close()
    timed_out: str | None = None
    try:
        timed_out = await _pump(process, on_line, wall_timeout, inactivity_timeout, started)
        if timed_out:
            await terminate(process, kill_grace)
        returncode = await process.wait()
    except BaseException:
        await asyncio.shield(terminate(process, kill_grace))
        if stderr_task:
            stderr_task.cancel()
        raise
    stderr = ""
    if stderr_task is not None:
        stderr = (await stderr_task).decode("utf-8", "replace")
    return ProcessResult(returncode, stderr, timed_out, time.monotonic() - started)


async def _pump(
    process: asyncio.subprocess.Process,
    on_line: Callable[[str], None],
    wall_timeout: float | None,
    inactivity_timeout: float | None,
    started: float,
) -> str | None:
    """Read output in chunks and hand over complete lines, within a time budget per turn.

    A chatty child can write faster than lines are handled; processing a whole chunk at
    once would hold the event loop (and the UI sharing it) for as long as that takes.
    """
    assert process.stdout is not None
    pending = b""
    while True:
        wait = inactivity_timeout
        if wall_timeout is not None:
            left = wall_timeout - (time.monotonic() - started)
            if left <= 0:
                return "wall"
            wait = left if wait is None else min(wait, left)
        try:
            chunk = await asyncio.wait_for(process.stdout.read(CHUNK), wait)
        except TimeoutError:
            if wall_timeout is not None and time.monotonic() - started >= wall_timeout:
                return "wall"
            return "inactivity"
        if not chunk:
            if pending:
                on_line(_decode(pending))
            return None
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > LINE_LIMIT:  # a line without end: hand over what there is
            lines.append(pending)
            pending = b""
        budget_start = time.monotonic()
        for line in lines:
            on_line(_decode(line))
            if time.monotonic() - budget_start > TURN_BUDGET:
                await asyncio.sleep(0)
                budget_start = time.monotonic()


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


async def terminate(process: asyncio.subprocess.Process, grace: float = KILL_GRACE) -> None:
    """End the process group: SIGTERM, then SIGKILL if it is still there after `grace`."""
    if process.returncode is not None:
        _signal_group(process.pid, signal.SIGKILL)  # reap any grandchildren left behind
        return
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), grace)
    _signal_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), grace)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
