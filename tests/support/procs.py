"""Processes found in /proc by a marker in their environment: how the tests see an agent
from outside its sandbox (inside, it has a pid of its own namespace)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

MARK = "SCRIPTED_MARK"


def new_mark() -> str:
    return uuid.uuid4().hex


def marked(mark: str) -> list[int]:
    """The live processes whose environment carries `SCRIPTED_MARK=<mark>`."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():  # the test itself
            continue
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        # The agent, its sandbox and whatever it started (not the test's own git helpers).
        ours = b"scripted_agent" in command or command.startswith((b"bwrap", b"/usr/bin/bwrap"))
        if needle in environ.split(b"\0") and state != "Z" and (ours or b"git" not in command):
            found.append(int(entry.name))
    return found


def wait_gone(mark: str, timeout: float = 10.0) -> list[int]:
    """Wait until no process carries the mark; returns those still there at the end."""
    deadline = time.monotonic() + timeout
    while (left := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def working_in(folder: Path) -> list[int]:
    """The live processes whose working directory is inside `folder` (an agent in its
    worktree, sandboxed or not: bubblewrap binds the worktree at its own path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cwd.is_relative_to(folder):
            found.append(int(entry.name))
    return found
