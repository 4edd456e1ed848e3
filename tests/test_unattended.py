"""Unattended runs: loops that survive a failing cycle and stop cleanly on SIGTERM, tmux,
and the registry of every project the factory has run on."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import git
import pytest

from factory_tui.engine.events import read_events
from factory_tui.engine.registry import Registry
from factory_tui.engine.store import Store

from .conftest import FIXABLE, TRAP, run_factory, scripted_config, start_factory, tree_snapshot


def wait_for_event(root: Path, predicate, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(predicate(e) for e in read_events(Store(root).events_path)):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the event never came")


def test_sigterm_mid_cycle_finishes_the_stage_and_leaves_the_repository_clean(make_repo):
    root = make_repo({"README.md": "# hello\n"})
    scripted_config(root)
    before, base = tree_snapshot(root), git.Repo(root).head.commit.hexsha
    process = start_factory(
        "run", str(root), "--loop", "--interval", "60", "-q", env={"SCRIPTED_AGENT": "builder=slow"}
    )
    wait_for_event(root, lambda e: e.type == "agent_started" and e.role == "builder", process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    events = read_events(Store(root).events_path)
    builder_done = [e for e in events if e.type == "agent_finished" and e.role == "builder"]
    assert builder_done and builder_done[0].ok  # the stage that was running finished
    assert not any(e.type == "agent_started" and e.role == "reviewer" for e in events)
    assert events[-1].type == "run_finished" and events[-1].status == "interrupted"
    [experiment] = Store(root).experiments()
    assert experiment.status == "aborted" and "stopped" in experiment.verdict.reason
    repo = git.Repo(root)
    assert repo.head.commit.hexsha == base and tree_snapshot(root) == before
    assert repo.git.status("--porcelain") == ""
    assert not (root / ".factory" / "worktrees" / "slot-1").exists()
    assert Store(root).lock.holder() is None


def test_a_crashing_cycle_is_recorded_and_the_loop_goes_on(make_repo) -> None:
    root = make_repo({"README.md": "# hello\n"})
    scripted_config(root)
    result = run_factory(
        "run",
        str(root),
        "--loop",
        "--interval",
        "0",
        "--max-cycles",
        "2",
        "-q",
        env={"SCRIPTED_AGENT": "researcher=crash"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("failed and was recorded") == 2
    notices = [
        e for e in read_events(Store(root).events_path) if e.type == "notice" and e.level == "error"
    ]
    assert [n.message.split(" failed")[0] for n in notices] == ["cycle 1", "cycle 2"]


def test_a_loop_keeps_cycling_until_its_limit(make_repo) -> None:
    root = make_repo(TRAP)
    result = run_factory("run", str(root), "--loop", "--interval", "0", "--max-cycles", "2", "-q")
    assert result.returncode == 0, result.stderr
    assert "cycle 2" in result.stdout and "run completed: 2 cycle(s) run" in result.stdout
    # The reverted idea is not tried again: a plateau, and the loop waits.
    assert "the Strategist has nothing new to try; waiting for the next interval" in result.stdout


def test_bad_intervals_are_refused() -> None:
    result = run_factory("run", ".", "--loop", "--interval", "soon")
    assert result.returncode == 2 and "not a duration" in result.stderr


def test_the_registry_lists_every_project_with_its_numbers(make_repo, tmp_path) -> None:
    first = make_repo(FIXABLE, name="first")
    second = make_repo(TRAP, name="second")
    run_factory("ceo", str(first), "--headless", "-q")
    run_factory("ceo", str(second), "--headless", "-q")
    run_factory("ceo", str(second), "--headless", "-q")
    entries = {e.name: e for e in Registry().projects()}
    assert entries["first"].runs == 1 and entries["second"].runs == 2
    table = run_factory("projects")
    assert "first" in table.stdout and "second" in table.stdout and "100%" in table.stdout
    report = run_factory("projects", "--markdown").stdout
    assert report.startswith("# Factory projects")
    assert "| first (`" in report and "2 project(s), 2 experiment(s)." in report
    assert json.loads(Registry().path.read_text())[0]["path"] == str(first.resolve())


def test_the_demo_is_one_project_however_often_it_runs(make_repo) -> None:
    for _ in range(2):
        result = run_factory("demo", "--headless", "--cycles", "1", "-q")
        assert result.returncode == 0, result.stderr
    [entry] = Registry().projects()
    assert entry.name == "inventory" and entry.runs == 2
    assert len(Store(Path(entry.path)).experiments()) == 1  # made afresh: one run's worth
    gone = make_repo(FIXABLE, name="gone")
    run_factory("ceo", str(gone), "--headless", "-q")
    shutil.rmtree(gone)
    listing = run_factory("projects").stdout
    assert "gone (missing" in listing
    pruned = run_factory("projects", "--prune")
    assert "forgot gone" in pruned.stderr
    assert [e.name for e in Registry().projects()] == ["inventory"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tmux_starts_a_detached_loop_and_says_how_to_attach(make_repo) -> None:
    root = make_repo(TRAP)
    result = run_factory("tmux", str(root), "--loop", "--interval", "1h", "-q")
    assert result.returncode == 0, result.stderr
    session = result.stdout.split()[1].rstrip(":")
    try:
        assert f"tmux attach -t {session}" in result.stdout
        assert f"factory watch {root}" in result.stdout
        again = run_factory("tmux", str(root), "--loop")
        assert again.returncode == 2 and "already running" in again.stderr
        deadline = time.monotonic() + 60
        while not Store(root).experiments() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert Store(root).experiments(), "the loop in tmux never ran a cycle"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
