"""A Ray cluster of two nodes on this machine, for the tests and the parallel benchmark: a
head and a worker (`ray start`, one CPU each unless asked), stopped without touching any
other cluster the machine runs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .procs import MARK, new_mark

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def processes_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def all_marked(mark: str) -> list[int]:
    """Every live process whose environment carries the mark."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def holding_files_in(folder: Path) -> list[int]:
    """Every live process with a file open below `folder` (Ray's agents, which neither
    inherit the mark nor keep their command line, hold their logs there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
                if any(target.startswith(f"{folder}/") for target in targets):
                    found.append(int(entry.name))
    return found


class Cluster:
    """A head and, unless `worker` is False, a worker node whose raylet listens on
    `worker_port`; `cpus` each."""

    def __init__(self, scratch: Path, cpus: int = 1, worker: bool = True) -> None:
        self.scratch = scratch
        self.port = free_port()
        self.worker_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Every process of this cluster inherits the mark: how `stop` finds them all (Ray
        # renames some, and `ray stop` would stop any other cluster on the machine too).
        self.mark = new_mark()
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", MARK: self.mark}
        common = ["--num-cpus", str(cpus), "--disable-usage-stats", "--temp-dir", str(scratch)]
        self.start(
            ["--head", "--port", str(self.port), "--include-dashboard", "false", *common], env
        )
        if worker:
            self.start(
                ["--address", self.address, "--node-manager-port", str(self.worker_port), *common],
                {**env, "SCRIPTED_NODE": "worker"},  # what its tasks (and agents) inherit
            )

    def start(self, args: list[str], env: dict[str, str]) -> None:
        argv = [str(RAY), "start", *args]
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)

    def kill_worker(self) -> None:
        """The worker node dies: its raylet and every process under it, at once."""
        for raylet in processes_with(f"--node_manager_port={self.worker_port}"):
            for pid in [raylet, *descendants(raylet)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for pid in {*all_marked(self.mark), *holding_files_in(self.scratch)}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
