"""Experiments as tasks on a real Ray cluster: a head and a worker node started here on
127.0.0.1 (`ray start`, one CPU each), the real CLI, and the scripted agent on the nodes."""

from __future__ import annotations

import json
import os
import shutil
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
from .support.ray_cluster import Cluster
from .test_parallel import BOTH_FIXES, FIX_ONE, FIX_TWO, FIXED, ONE_FIXED, PAIR, TWO_FIXED

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = pytest.mark.slow


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
        "SCRIPTED_HYPOTHESES": json.dumps(BOTH_FIXES),
        "SCRIPTED_BUILDS": json.dumps(builds),
    }
    return root, env


def test_two_experiments_on_the_cluster_are_kept_with_their_events_live(make_repo, cluster):
    root, env = ray_project(
        make_repo,
        FIXED,
    )
    base = git.Repo(root).head.commit.hexsha
    doctor = run_factory("doctor", str(root), env={"RAY_ADDRESS": cluster.address})
    said = " ".join(doctor.stdout.split())  # rich wraps the line at the terminal's width
    assert (
        f"✓ ray ray {ray.__version__}; the cluster at {cluster.address}: 2 node(s), 2 CPU(s)"
        in said
    )
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
            FIX_ONE: {"files": {"calc/one.py": ONE_FIXED}, **hangs},
            FIX_TWO: {"files": {"calc/two.py": TWO_FIXED}, **hangs},
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
