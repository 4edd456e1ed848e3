"""The `factory` command as a user runs it: real subprocesses on real repositories."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest

from factory_tui.engine.events import read_events
from factory_tui.engine.models import Experiment, Hypothesis
from factory_tui.engine.store import Store

from .conftest import FIXABLE, run_factory, scripted_config, start_factory, tree_snapshot
from .support.procs import MARK, marked, new_mark, wait_gone


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_help_lists_the_commands() -> None:
    result = run_factory("--help")
    assert result.returncode == 0
    for command in ("ceo", "status", "demo"):
        assert command in result.stdout


def test_a_missing_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_factory("ceo", str(tmp_path / "nope"), "--headless")
    assert result.returncode == 2
    assert "no such directory" in one_line_error(result)


def test_a_folder_that_is_not_a_repository_suggests_init(tmp_path: Path) -> None:
    result = run_factory("ceo", str(tmp_path), "--headless")
    assert result.returncode == 2
    assert "--init" in one_line_error(result)
    assert list(tmp_path.iterdir()) == []


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    git.Repo.init(tmp_path)
    result = run_factory("ceo", str(tmp_path), "--headless")
    assert result.returncode == 2 and "no commits" in one_line_error(result)
    assert not (tmp_path / ".factory").exists()


def test_a_detached_head_is_refused(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    git.Repo(root).git.checkout("--detach")
    result = run_factory("ceo", str(root), "--headless")
    assert result.returncode == 2 and "detached" in one_line_error(result)
    assert not (root / ".factory").exists()


def test_an_invalid_config_names_the_file_and_the_field(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    (root / ".factory").mkdir()
    (root / ".factory" / "config.toml").write_text('approval = "sometimes"\n')
    result = run_factory("ceo", str(root), "--headless")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "config.toml" in line and "approval" in line
    assert sorted(p.name for p in (root / ".factory").iterdir()) == ["config.toml"]


def test_init_creates_the_repository_and_runs(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    (root / "tool.py").write_text("import os\n\n\ndef f():\n    return 1\n")
    result = run_factory("ceo", str(root), "--init", "--headless", "--cycles", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert git.Repo(root).head.is_valid()


def test_a_headless_run_prints_stages_hypotheses_scores_and_verdicts(make_repo) -> None:
    root = make_repo(FIXABLE)
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "cycle 1",
        "▶ Researcher",
        "✓ Strategist",
        "hypotheses, best first",
        "Apply ruff's safe fixes for rule F401 in calc/core.py",
        "baseline score",
        "experiment score",
        "exp-0001 KEPT",
        "run completed",
    ):
        assert expected in out, expected


def test_status_shows_the_best_score_the_experiments_and_the_lock(make_repo) -> None:
    root = make_repo(FIXABLE)
    run_factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    result = run_factory("status", str(root))
    assert result.returncode == 0, result.stderr
    experiment = Store(root).experiments()[0]
    assert f"best score: {experiment.after.composite:.4f}" in result.stdout
    assert "exp-0001" in result.stdout and "kept" in result.stdout
    assert f"{experiment.delta:+.4f}" in result.stdout
    assert "run: none" in result.stdout


def test_status_lists_the_last_20_experiments_and_the_totals(make_repo) -> None:
    root = make_repo({"README.md": "# hello\n"})
    store = Store(root)
    for number in range(1, 26):
        experiment_id = store.allocate_experiment_id()
        store.save_experiment(
            Experiment(
                id=experiment_id,
                hypothesis=Hypothesis(title=f"idea {number}"),
                branch=f"factory/{experiment_id}",
                base_commit="abc",
                status="kept" if number % 5 == 0 else "reverted",
            )
        )
    result = run_factory("status", str(root))
    assert result.returncode == 0, result.stderr
    assert "the last 20 of 25 experiments (--all lists every one)" in result.stdout
    assert "exp-0025" in result.stdout and "exp-0006" in result.stdout
    assert "exp-0005" not in result.stdout
    assert "25 experiment(s): 5 kept, 20 reverted; keep rate 20%" in result.stdout
    everything = run_factory("status", str(root), "--all")
    assert "exp-0001" in everything.stdout and "--all lists" not in everything.stdout
    # One plain line an experiment, in order, the hypothesis last.
    lines = [line for line in everything.stdout.splitlines() if line.startswith("exp-")]
    assert [line.split()[0] for line in lines] == [f"exp-{n:04d}" for n in range(1, 26)]
    assert lines[4].split()[1] == "kept" and lines[4].endswith("idea 5")


def test_status_says_the_base_score_the_last_baseline_measured(make_repo) -> None:
    root = make_repo(FIXABLE)
    result = run_factory("ceo", str(root), "--headless", "--cycles", "2", "-q")
    assert result.returncode == 0, result.stderr
    baselines = [
        e.scorecard
        for e in read_events(Store(root).events_path)
        if e.type == "scored" and e.kind == "baseline"
    ]
    head_tree = git.Repo(root).head.commit.tree.hexsha
    assert baselines[-1].tree == head_tree  # the second cycle measured the kept base
    shutil.rmtree(root / ".factory" / "cache")  # from the database, not the eval's cache
    status = run_factory("status", str(root))
    assert f"score now: {baselines[-1].composite:.4f}" in status.stdout


def test_status_says_the_score_of_a_kept_change_without_the_eval(make_repo) -> None:
    # One cycle that keeps its change: no cycle measured the new branch as a baseline, but
    # the experiment measured its tree, and status says that score from the database.
    root = make_repo(FIXABLE)
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    assert result.returncode == 0, result.stderr
    [kept] = Store(root).experiments()
    assert kept.status == "kept" and kept.after is not None
    assert kept.after.tree == git.Repo(root).head.commit.tree.hexsha
    shutil.rmtree(root / ".factory" / "cache")  # from the database, not the eval's cache
    status = run_factory("status", str(root))
    assert f"score now: {kept.after.composite:.4f}" in status.stdout


def test_status_says_the_score_factory_eval_measured(make_repo) -> None:
    root = make_repo(FIXABLE)
    result = run_factory("eval", str(root), "--json")
    assert result.returncode == 0, result.stderr
    composite = json.loads(result.stdout)["composite"]
    shutil.rmtree(root / ".factory" / "cache")  # from the database, not the eval's cache
    status = run_factory("status", str(root))
    assert f"score now: {composite:.4f}" in status.stdout


def test_status_of_a_project_never_run_makes_nothing_in_it(make_repo) -> None:
    root = make_repo({"README.md": "# hello\n"})
    result = run_factory("status", str(root))
    assert result.returncode == 0 and "no experiments yet" in result.stdout
    assert not (root / ".factory").exists() and git.Repo(root).git.status("--porcelain") == ""


def test_status_read_by_head_that_stops_early_is_no_error(make_repo) -> None:
    root = make_repo({"README.md": "# hello\n"})
    store = Store(root)
    for number in range(1, 41):  # far more than a pipe holds: the writer meets a closed pipe
        experiment_id = store.allocate_experiment_id()
        store.save_experiment(
            Experiment(
                id=experiment_id,
                hypothesis=Hypothesis(title=f"idea {number} " + "word " * 800),
                branch=f"factory/{experiment_id}",
                base_commit="abc",
            )
        )
    piped = subprocess.run(
        f"{sys.executable} -m factory_tui status {root} --all | head -5; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Quietly, with rich's 1 for a closed pipe (it was a one-line error and 2).
    assert piped.returncode == 1 and piped.stderr == ""
    assert "best score: not scored yet" in piped.stdout  # what head let through


def test_uncommitted_changes_at_keep_time_stop_the_run_and_change_nothing(make_repo) -> None:
    root = make_repo({**FIXABLE, "notes.txt": "mine\n"})
    (root / "notes.txt").write_text("my unsaved work\n")
    before = tree_snapshot(root)
    base = git.Repo(root).head.commit.hexsha
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "uncommitted changes" in line and "notes.txt" in line
    assert git.Repo(root).head.commit.hexsha == base
    assert tree_snapshot(root) == before
    # The good experiment waits on its branch for the user.
    assert "factory/exp-0001" in [head.name for head in git.Repo(root).heads]


def _wait_for_builder(root: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = read_events(Store(root).events_path)
        if any(
            e.type == "agent_output" and e.role == "builder" and "Edit" in e.line for e in events
        ):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the Builder never started")


def _hanging_builder(root: Path, tmp_path: Path) -> dict[str, str]:
    scripted_config(root)
    return {"SCRIPTED_AGENT": "builder=hang", MARK: new_mark()}


def test_a_run_killed_mid_builder_is_recovered_by_the_next_run(make_repo, tmp_path) -> None:
    root = make_repo({"README.md": "# hello\n"})
    env = _hanging_builder(root, tmp_path)
    before, base = tree_snapshot(root), git.Repo(root).head.commit.hexsha
    process = start_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    _wait_for_builder(root, process)
    slot = root / ".factory" / "worktrees" / "slot-1"
    assert (slot / "greet.py").exists()
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert git.Repo(root).head.commit.hexsha == base
    result = run_factory(
        "ceo", str(root), "--headless", "--cycles", "1", "--runtime", "offline", "-q"
    )
    assert result.returncode == 0, result.stderr
    assert "exp-0001 was interrupted" in result.stdout and "aborted" in result.stdout
    first = Store(root).load_experiment("exp-0001")
    assert first.status == "aborted"
    assert first.branch == "factory/reverted/exp-0001"
    repo = git.Repo(root)
    assert repo.head.commit.hexsha == base and repo.active_branch.name == "main"
    assert tree_snapshot(root) == before
    assert "factory/exp-0001" not in [head.name for head in repo.heads]
    assert not (slot / "greet.py").exists()
    assert "warning" in result.stdout and "stale lock" in result.stdout


def test_ctrl_c_stops_at_once_cleans_up_and_exits_130(make_repo, tmp_path) -> None:
    root = make_repo({"README.md": "# hello\n"})
    env = _hanging_builder(root, tmp_path)
    before, base = tree_snapshot(root), git.Repo(root).head.commit.hexsha
    process = start_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    _wait_for_builder(root, process)
    assert marked(env[MARK])  # the agent, seen in /proc from outside its sandbox
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert process.returncode == 130
    assert time.monotonic() - started < 10
    assert wait_gone(env[MARK]) == []
    assert not (root / ".factory" / "worktrees" / "slot-1").exists()
    assert Store(root).load_experiment("exp-0001").status == "aborted"
    assert git.Repo(root).head.commit.hexsha == base and tree_snapshot(root) == before
    assert Store(root).lock.holder() is None


def test_a_second_run_on_a_locked_project_is_refused(make_repo, tmp_path) -> None:
    root = make_repo({"README.md": "# hello\n"})
    env = _hanging_builder(root, tmp_path)
    process = start_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    try:
        _wait_for_builder(root, process)
        result = run_factory("ceo", str(root), "--headless", "--runtime", "offline")
        assert result.returncode == 2
        assert f"pid {process.pid}" in one_line_error(result)
        status = run_factory("status", str(root))
        assert f"pid {process.pid} holds the lock" in status.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_an_agent_printing_without_end_fills_neither_the_disk_nor_the_event_log(make_repo):
    root = make_repo({"README.md": "# hello\n"})
    scripted_config(root)
    result = run_factory(
        "ceo",
        str(root),
        "--headless",
        "--cycles",
        "1",
        "-q",
        env={"SCRIPTED_AGENT": "builder=flood"},
    )
    assert result.returncode == 0, result.stderr
    lines = [
        e.line for e in read_events(Store(root).events_path)
        if e.type == "agent_output" and e.role == "builder"
    ]  # fmt: skip
    assert 20_000 <= len(lines) <= 20_010  # the first 18,000, the last 2,000, the result
    [note] = [n for n, line in enumerate(lines) if "of output not kept" in line]
    assert re.fullmatch(
        r"… 10,0\d\d line\(s\) of output not kept: the first 18,000 are above, "
        r"the last 2,000 below",
        lines[note],
    )
    assert lines[note - 1].startswith("progress line 1")
    tail = lines[note + 1 :]
    assert len(tail) == 2_000 and "progress line 29999" in tail
    assert "x" * 10_000 + "… (40,000 more chars)" in tail
    log = Store(root).agent_log_path("exp-0001", "builder").read_text().splitlines()
    assert log == lines
    # The flood cost the Builder nothing: its result was read and its change was scored.
    experiment = Store(root).load_experiment("exp-0001")
    assert experiment.builder_summary == "added greet.py" and experiment.after is not None


@pytest.mark.parametrize("behaviour", ["builder=garbage", "builder=crash"])
def test_a_broken_builder_fails_its_experiment_not_the_run(make_repo, behaviour) -> None:
    root = make_repo({"README.md": "# hello\n"})
    scripted_config(root)
    result = run_factory(
        "ceo", str(root), "--headless", "--cycles", "1", env={"SCRIPTED_AGENT": behaviour}
    )
    assert result.returncode == 0, result.stderr
    [experiment] = Store(root).experiments()
    assert experiment.status == "reverted"
    assert "Builder failed" in experiment.verdict.reason


# What each entry point and runtime loads, in a fresh interpreter: the engine and every
# runtime never load the UI, and `factory --help` loads none of the heavy libraries.
UI = ("textual", "rich", "factory_tui.app", "factory_tui.screens", "factory_tui.widgets")
HEAVY = ("pydantic", "git", "textual", "rich", "unidiff", "tenacity", "factory_tui.engine")


@pytest.mark.parametrize(
    ("entry", "never"),
    [
        ("factory_tui.cli", HEAVY),  # what `factory --help` imports before it answers
        ("factory_tui.ceo.run", UI),
        ("factory_tui.headless", ("textual", "factory_tui.app")),
        ("factory_tui.agents.offline", UI),
        ("factory_tui.agents.command", UI),
        ("factory_tui.agents.claude", UI),
        ("factory_tui.eval.evaluator", UI),
        ("factory_tui.engine.store", (*UI, "git", "factory_tui.eval", "factory_tui.agents")),
    ],
)
def test_each_entry_point_loads_only_what_it_needs(entry: str, never: tuple[str, ...]) -> None:
    code = f"import sys, {entry}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert [m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in never)] == []


# -- bad input: one line, exit 2, nothing lost ------------------------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ceo", ""], "the target is empty"),
        (["status", ""], "the path is empty"),
        (["ceo", ".", "--max-cost", "nan"], "not a finite number: 'nan'"),
        (["ceo", ".", "--max-cost", "inf"], "not a finite number: 'inf'"),
        (["run", ".", "--loop", "--interval", "nan"], "not a duration: 'nan'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args, says) -> None:
    result = run_factory(*args)
    assert result.returncode == 2
    assert says in one_line_error(result)


@pytest.mark.parametrize(
    ("weights", "says"),
    [
        ("tests = nan", "eval.weights.tests: Input should be a finite number"),
        ("tests = inf", "eval.weights.tests: Input should be a finite number"),
        ("tests = -1", "weights must be 0 or more: tests"),
        ("speed = 2", "weights for unknown dimension(s) speed"),
    ],
)
def test_weights_are_finite_positive_and_of_known_dimensions(make_repo, weights, says) -> None:
    root = make_repo({"README.md": "# hi\n"})
    (root / ".factory").mkdir()
    (root / ".factory" / "config.toml").write_text(f"[eval.weights]\n{weights}\n")
    result = run_factory("ceo", str(root), "--headless")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "config.toml" in line and says in line


@pytest.mark.parametrize("name", ["backlog.json", "messages.json"])
def test_a_corrupt_backlog_or_messages_file_of_the_old_layout_is_kept_and_the_run_goes_on(
    make_repo, name
) -> None:
    root = make_repo(FIXABLE)
    (root / ".factory").mkdir()
    (root / ".factory" / name).write_text('[{"id": 1, "title": ')
    result = run_factory("ceo", str(root), "--headless", "-q")
    assert result.returncode == 0, result.stderr
    assert f"{name} was not valid and was not read: left as it was" in result.stdout
    assert (root / ".factory" / name).read_text() == '[{"id": 1, "title": '
    [experiment] = Store(root).experiments()
    assert experiment.status == "kept"


@pytest.mark.usefixtures("sandbox")
@pytest.mark.parametrize("read_only", [".factory", ".factory/events.jsonl"])
def test_a_state_folder_the_factory_cannot_write_is_one_line(make_repo, read_only) -> None:
    """Made read-only with a bind mount (root ignores file modes): the same error path a
    chmod 000 or a full disk takes."""
    root = make_repo(FIXABLE)
    assert run_factory("eval", str(root)).returncode == 0  # .factory and its event log exist
    (root / ".factory" / "events.jsonl").touch()
    before = tree_snapshot(root)
    target = str(root / read_only)
    result = subprocess.run(
        [
            *("bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"),
            *("--ro-bind", target, target, sys.executable, "-m", "factory_tui"),
            *("ceo", str(root), "--headless", "-q"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    line = one_line_error(result)
    assert "Read-only file system" in line and str(root / ".factory") in line
    assert tree_snapshot(root) == before


def test_agents_refuse_to_run_unsandboxed_unless_told(make_repo) -> None:
    root = make_repo(FIXABLE)
    scripted_config(root)
    missing = {"FACTORY_BWRAP": "/nonexistent/bwrap"}
    result = run_factory("ceo", str(root), "--headless", "-q", env=missing)
    assert result.returncode == 2
    line = one_line_error(result)
    assert "sandbox" in line and "apt install bubblewrap" in line and 'sandbox = "off"' in line
    assert Store(root).experiments() == []
    config = root / ".factory" / "config.toml"
    config.write_text('sandbox = "off"\n' + config.read_text())
    result = run_factory("ceo", str(root), "--headless", "-q", env=missing)
    assert result.returncode == 0, result.stderr
    assert "UNSANDBOXED" in result.stdout.splitlines()[0]
