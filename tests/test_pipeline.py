"""Whole cycles on real repositories with the offline runtime: kept, reverted, recorded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import git

from factory_tui.ceo.run import Pipeline, RunOptions
from factory_tui.engine.events import read_events
from factory_tui.engine.store import Store

from .conftest import FIXABLE, TRAP, tree_snapshot


def run_cycles(root: Path, cycles: int = 1, **options) -> tuple[Pipeline, object]:
    pipeline = Pipeline.open(root, RunOptions(cycles=cycles, **options))
    finished = asyncio.run(pipeline.run())
    return pipeline, finished


def test_a_kept_cycle_moves_the_base_branch_and_the_tests_still_pass(make_repo) -> None:
    root = make_repo(FIXABLE)
    base = git.Repo(root).head.commit.hexsha
    _, finished = run_cycles(root)
    assert finished.status == "completed"

    [experiment] = Store(root).experiments()
    assert experiment.status == "kept"
    assert experiment.hypothesis.title == "Apply ruff's safe fixes for rule F401 in calc/core.py"
    assert "better: lint: violations 1 -> 0" in experiment.verdict.reason
    repo = git.Repo(root)
    assert repo.head.commit.hexsha == experiment.commit
    assert repo.head.commit.parents[0].hexsha == base
    assert "import os" not in (root / "calc" / "core.py").read_text()
    assert repo.git.status("--porcelain") == ""
    assert "factory/kept/exp-0001" in [head.name for head in repo.heads]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
    folder = Store(root).experiment_dir("exp-0001")
    assert "-import os" in (folder / "diff.patch").read_text()
    assert "Verdict:** kept" in (folder / "note.md").read_text()
    assert {p.name for p in (folder / "logs").iterdir()} >= {
        "researcher.log",
        "strategist.log",
        "builder.log",
        "reviewer.log",
        "evaluator.log",
        "archivist.log",
    }


def test_a_reverted_cycle_leaves_the_base_alone_and_archives_the_branch(make_repo) -> None:
    root = make_repo(TRAP)
    before = tree_snapshot(root)
    base = git.Repo(root).head.commit.hexsha
    run_cycles(root)

    [experiment] = Store(root).experiments()
    assert experiment.status == "reverted"
    assert "tests not worse failed (failing 0 -> 1, passing 1 -> 0; now failing: " in (
        experiment.verdict.reason
    )
    repo = git.Repo(root)
    assert repo.head.commit.hexsha == base
    assert tree_snapshot(root) == before
    heads = [head.name for head in repo.heads]
    assert "factory/reverted/exp-0001" in heads and "factory/exp-0001" not in heads
    assert repo.commit("factory/reverted/exp-0001").hexsha == experiment.commit
    note = (Store(root).experiment_dir("exp-0001") / "note.md").read_text()
    assert "1 failing test(s): 1 assertion" in note


def test_a_reverted_hypothesis_is_never_tried_again(make_repo) -> None:
    root = make_repo(TRAP)
    _, finished = run_cycles(root, cycles=3)
    assert finished.status == "plateau"
    assert finished.reason == "the Strategist has nothing new to try"
    assert [e.status for e in Store(root).experiments()] == ["reverted"]


def test_every_event_is_in_the_log_in_order(make_repo) -> None:
    root = make_repo(FIXABLE)
    run_cycles(root)
    events = read_events(Store(root).events_path)
    types = [event.type for event in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    stages = [e.stage.value for e in events if e.type == "stage_started"]
    assert stages == [
        "baseline",
        "researcher",
        "strategist",
        "builder",
        "reviewer",
        "evaluator",
        "ceo",
        "archivist",
    ]
    assert all(e.experiment == "exp-0001" for e in events if e.type == "agent_output")
    assert types.index("experiment_started") < types.index("experiment_finished")


def test_the_baseline_of_an_unchanged_tree_comes_from_the_cache(make_repo) -> None:
    root = make_repo(TRAP)
    run_cycles(root, cycles=1)
    run_cycles(root, cycles=1)
    scored = [e for e in read_events(Store(root).events_path) if e.type == "scored"]
    assert scored[-1].kind == "baseline" and scored[-1].scorecard.cached
