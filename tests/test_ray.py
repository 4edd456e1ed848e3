"""Experiments as tasks on a real Ray cluster: a head and a worker node started here on
127.0.0.1 (`ray start`, one CPU each), the real CLI, and the scripted agent on the nodes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from factory_tui.engine.events import read_events
from factory_tui.engine.store import Store

from .conftest import run_factory, scripted_config
from .support.procs import MARK, new_mark
from .test_parallel import FIX_ONE, FIX_TWO, PAIR, hypothesis

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
RAY = Path(sys.executable).with_name("ray")
pytestmark = pytest.mark.slow


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
    """A head and a worker node; the worker's raylet listens on `worker_port`."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.port = free_port()
        self.worker_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Every process of this cluster inherits the mark: how `stop` finds them all (Ray
        # renames some, and `ray stop` would stop any other cluster on the machine too).
        self.mark = new_mark()
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", MARK: self.mark}
        common = ["--num-cpus", "1", "--disable-usage-stats"]
        self.start(["--head", "--port", str(self.port), "--include-dashboard", "false"], env)
        self.start(
            ["--address", self.address, "--node-manager-port", str(self.worker_port)],
            {**env, "SCRIPTED_NODE": "worker"},  # what its tasks (and agents) inherit
            common,
        )

    def start(self, args: list[str], env: dict[str, str], common: list[str] | None = None) -> None:
        argv = [str(RAY), "start", *args, *(common or ["--num-cpus", "1", "--disable-usage-stats"])]
        argv += ["--temp-dir", str(self.scratch)]
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


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # A short path: Ray's sockets live under it and must fit in 107 characters.
    scratch = Path(tempfile.mkdtemp(prefix="fray-", dir="/tmp"))
    started = Cluster(scratch)
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def ray_project(make_repo, builds: dict[str, object]) -> tuple[Path, dict[str, str]]:
    root = make_repo(PAIR)
    scripted_config(
        root,
        '[run]\nexecutor = "ray"\nray_env = ["SCRIPTED_HYPOTHESES", "SCRIPTED_BUILDS"]\n',
    )
    env = {
        "SCRIPTED_HYPOTHESES": json.dumps(
            [hypothesis(FIX_ONE, "calc/one.py"), hypothesis(FIX_TWO, "calc/two.py")]
        ),
        "SCRIPTED_BUILDS": json.dumps(builds),
    }
    return root, env


def test_two_experiments_on_the_cluster_are_kept_with_their_events_live(make_repo, cluster):
    root, env = ray_project(
        make_repo,
        {
            FIX_ONE: {"files": {"calc/one.py": "def add(a, b):\n    return a + b\n"}},
            FIX_TWO: {"files": {"calc/two.py": "def sub(a, b):\n    return a - b\n"}},
        },
    )
    base = git.Repo(root).head.commit.hexsha
    result = run_factory(
        "ceo", str(root), "--headless", "--parallel", "2", "-q",
        env={**env, "RAY_ADDRESS": cluster.address}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    store = Store(root)
    first, second = store.load_experiment("exp-0001"), store.load_experiment("exp-0002")
    assert (first.status, second.status) == ("kept", "kept"), result.stdout
    assert first.runner.startswith("ray ") and second.runner.startswith("ray ")
    assert first.runner != second.runner  # one CPU a node: one experiment on each
    repo = git.Repo(root)
    # Whichever finished first was kept first; the other was replayed onto it: a line.
    later, earlier = sorted((first, second), key=lambda e: e.finished_at or 0, reverse=True)
    assert [c.hexsha for c in repo.iter_commits("main")] == [later.commit, earlier.commit, base]
    assert later.base_commit == earlier.commit
    assert not repo.is_dirty(untracked_files=True)
    # The nodes' Builders were heard here while they ran, each line under its experiment.
    heard = {
        (e.experiment, e.line)
        for e in read_events(store.events_path)
        if e.type == "agent_output" and e.role == "builder"
    }
    assert ("exp-0001", "Edit calc/one.py") in heard and ("exp-0002", "Edit calc/two.py") in heard


def test_a_worker_node_dying_mid_experiment_aborts_that_one_and_the_run_goes_on(make_repo, cluster):
    hangs = {"hang_on": "worker"}  # whichever lands on the worker node never finishes
    root, env = ray_project(
        make_repo,
        {
            FIX_ONE: {"files": {"calc/one.py": "def add(a, b):\n    return a + b\n"}, **hangs},
            FIX_TWO: {"files": {"calc/two.py": "def sub(a, b):\n    return a - b\n"}, **hangs},
        },
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "factory_tui", "ceo", str(root), "--headless", "--parallel", "2"],
        env={**os.environ, **env, "RAY_ADDRESS": cluster.address},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            events = (
                read_events(Store(root).events_path) if Store(root).events_path.exists() else []
            )
            finished = [e for e in events if e.type == "experiment_finished"]
            building = {
                e.experiment for e in events if e.type == "agent_output" and e.role == "builder"
            }
            if len(building) == 2 and finished:
                break  # the head's experiment is decided, the worker's hangs
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.1)
        else:
            raise AssertionError("the two experiments never ran at once")
        cluster.kill_worker()
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    store = Store(root)
    statuses = {e.id: e for e in map(store.load_experiment, ("exp-0001", "exp-0002"))}
    aborted = [e for e in statuses.values() if e.status == "aborted"]
    kept = [e for e in statuses.values() if e.status == "kept"]
    assert len(aborted) == 1 and len(kept) == 1, output
    assert aborted[0].verdict is not None and "Ray task" in aborted[0].verdict.reason
    repo = git.Repo(root)
    assert repo.head.commit.hexsha == kept[0].commit and not repo.is_dirty(untracked_files=True)
