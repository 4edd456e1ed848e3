"""Several experiments at once (`--parallel N`): real repositories, the real CLI, and the
scripted agent building a different change for each hypothesis."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import git
import pytest

from factory_tui.engine.events import read_events
from factory_tui.engine.store import Store
from factory_tui.eval.test_env import uv_binary

from .conftest import RUFF_CONFIG, run_factory, scripted_config, start_factory, tree_snapshot
from .support.procs import MARK, new_mark, wait_gone, working_in

# Two modules, each with an unused import: two independent lint fixes.
PAIR = {
    "pyproject.toml": RUFF_CONFIG,
    "calc/__init__.py": "",
    "calc/one.py": "import os\n\n\ndef add(a, b):\n    return a + b\n",
    "calc/two.py": "import sys\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/test_calc.py": """
        from calc.one import add
        from calc.two import sub


        def test_add():
            assert add(2, 3) == 5


        def test_sub():
            assert sub(3, 2) == 1
        """,
}
FIX_ONE = "Drop the unused import from calc/one.py"
FIX_TWO = "Drop the unused import from calc/two.py"
ONE_FIXED = "def add(a, b):\n    return a + b\n"
TWO_FIXED = "def sub(a, b):\n    return a - b\n"


def hypothesis(title: str, *files: str, category: str = "lint") -> dict[str, object]:
    return {"title": title, "files": list(files), "category": category}


# The Strategist's two independent fixes, and what the Builder does for each.
BOTH_FIXES = [hypothesis(FIX_ONE, "calc/one.py"), hypothesis(FIX_TWO, "calc/two.py")]
FIXED = {
    FIX_ONE: {"files": {"calc/one.py": ONE_FIXED}},
    FIX_TWO: {"files": {"calc/two.py": TWO_FIXED}},
}


def scripted(
    root: Path, hypotheses: list[dict[str, object]], builds: dict[str, object], extra: str = ""
) -> dict[str, str]:
    scripted_config(root, extra)
    return {
        "SCRIPTED_HYPOTHESES": json.dumps(hypotheses),
        "SCRIPTED_BUILDS": json.dumps(builds),
    }


def run_parallel(root: Path, env: dict[str, str], parallel: int = 2) -> str:
    result = run_factory("ceo", str(root), "--headless", "--parallel", str(parallel), "-q", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_two_independent_changes_both_land_each_measured_on_the_base_it_joins(make_repo):
    root = make_repo(PAIR)
    base = git.Repo(root).head.commit.hexsha
    env = scripted(
        root,
        BOTH_FIXES,
        {
            FIX_ONE: {"files": {"calc/one.py": ONE_FIXED}},
            # Finishes later: decided after the first was kept, on the base that keep made.
            FIX_TWO: {"files": {"calc/two.py": TWO_FIXED}, "sleep": 1},
        },
    )
    output = run_parallel(root, env)
    store = Store(root)
    first, second = store.load_experiment("exp-0001"), store.load_experiment("exp-0002")
    assert (first.status, second.status) == ("kept", "kept"), output
    assert (first.runner, second.runner) == ("slot-1", "slot-2")
    # Both ran at once: the second started before the first was decided.
    assert first.finished_at is not None and second.started_at < first.finished_at
    # The second was replayed onto the first's keep and measured there, not on the old base.
    assert second.base_commit == first.commit
    assert first.before is not None and first.after is not None and second.before is not None
    assert second.before.composite == first.after.composite
    assert "replayed onto it and measured again" in output
    repo = git.Repo(root)
    history = [c.hexsha for c in repo.iter_commits("main")]
    assert history == [second.commit, first.commit, base]  # a line, nothing rewritten
    assert "import" not in (root / "calc/one.py").read_text()
    assert "import" not in (root / "calc/two.py").read_text()
    assert not repo.is_dirty(untracked_files=True)


def test_two_changes_to_the_same_lines_end_with_one_kept_and_one_reverted_for_the_conflict(
    make_repo,
):
    root = make_repo(PAIR)
    env = scripted(
        root,
        # Listed as different targets; the Builder of the second edits the first's lines.
        [hypothesis(FIX_ONE, "calc/one.py"), hypothesis("Tidy calc", "calc/two.py")],
        {
            FIX_ONE: {"files": {"calc/one.py": ONE_FIXED}},
            "Tidy calc": {
                "files": {"calc/one.py": "def add(first, second):\n    return first + second\n"},
                "sleep": 1,
            },
        },
    )
    output = run_parallel(root, env)
    store = Store(root)
    first, second = store.load_experiment("exp-0001"), store.load_experiment("exp-0002")
    assert first.status == "kept" and second.status == "reverted", output
    assert second.verdict is not None
    assert second.verdict.reason.startswith("conflicts with exp-0001"), second.verdict.reason
    repo = git.Repo(root)
    assert repo.head.commit.hexsha == first.commit
    assert (root / "calc/one.py").read_text() == ONE_FIXED
    # What the second tried stays on its archived branch, as it was built.
    archived = repo.git.show("factory/reverted/exp-0002:calc/one.py")
    assert archived.startswith("def add(first, second):")
    assert not repo.is_dirty(untracked_files=True)


def test_a_later_change_that_stops_improving_once_the_first_is_kept_is_reverted(make_repo):
    # A project metric that only says whether there is any guide: one guide is the gain,
    # a second adds nothing.
    files = {
        **PAIR,
        "metric.py": "import json, pathlib\n"
        "print(json.dumps({'score': int(any(pathlib.Path('guides').glob('*.md')))}))\n",
    }
    root = make_repo(files)
    metric = f'[eval.metrics.guides]\ncommand = "{sys.executable} metric.py"\nmin = 0\nmax = 1\n'
    env = scripted(
        root,
        [
            hypothesis("Write a guide to adding", "guides/add.md", category="docs"),
            hypothesis("Write a guide to subtracting", "guides/sub.md", category="docs"),
        ],
        {
            "Write a guide to adding": {"files": {"guides/add.md": "# Adding\n"}},
            "Write a guide to subtracting": {
                "files": {"guides/sub.md": "# Subtracting\n"},
                "sleep": 1,
            },
        },
        metric,
    )
    output = run_parallel(root, env)
    store = Store(root)
    first, second = store.load_experiment("exp-0001"), store.load_experiment("exp-0002")
    assert first.status == "kept", output
    # Alone on the old base it was as good as the first; on the new one it adds nothing.
    assert second.status == "reverted", output
    assert second.base_commit == first.commit and second.before is not None
    assert second.before.values()["guides"] == 1.0 and second.after is not None
    assert second.after.values()["guides"] == 1.0
    assert second.verdict is not None and "improves the project failed" in second.verdict.reason
    assert not (root / "guides/sub.md").exists()


def test_ctrl_c_with_four_running_leaves_the_branch_and_tree_as_they_were(make_repo):
    root = make_repo(PAIR)
    titles = [f"Change number {n}" for n in range(1, 5)]
    env = scripted(
        root,
        [hypothesis(title, f"calc/part{n}.py") for n, title in enumerate(titles, 1)],
        {
            title: {"files": {f"calc/part{n}.py": f"PART = {n}\n"}, "hang": True}
            for n, title in enumerate(titles, 1)
        },
    )
    env[MARK] = new_mark()
    repo = git.Repo(root)
    before, base = tree_snapshot(root), repo.head.commit.hexsha
    refs = {ref.path: ref.commit.hexsha for ref in repo.refs}
    process = start_factory("ceo", str(root), "--headless", "--parallel", "4", env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = read_events(Store(root).events_path)
        building = {
            e.experiment for e in events if e.type == "agent_output" and e.role == "builder"
        }
        if len(building) == 4:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    else:
        raise AssertionError("four Builders never ran at once")
    worktrees = root / ".factory" / "worktrees"
    assert len(working_in(worktrees)) >= 4  # the four Builders, seen from outside
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert process.returncode == 130, process.communicate()
    assert wait_gone(env[MARK]) == []
    assert working_in(worktrees) == []
    store = Store(root)
    assert [store.load_experiment(f"exp-000{n}").status for n in range(1, 5)] == ["aborted"] * 4
    assert repo.head.commit.hexsha == base and repo.active_branch.name == "main"
    assert tree_snapshot(root) == before
    assert {r.path: r.commit.hexsha for r in repo.refs if "factory/" not in r.path} == refs
    assert not list(worktrees.glob("slot-*"))  # every agent's checkout is gone
    assert store.lock.holder() is None


@pytest.mark.slow
def test_experiments_scored_side_by_side_share_the_projects_test_environment(make_repo):
    """Both run their tests in the environment built from the project's test group (one
    at a time): neither is left unmeasured because the other held it."""
    if uv_binary() is None:
        pytest.skip("uv is not installed: no test environment is built")
    pyproject = (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "calc"\nversion = "1.0"\n\n'
        '[project.optional-dependencies]\ntests = ["pytest"]\n\n' + RUFF_CONFIG
    )
    root = make_repo({**PAIR, "pyproject.toml": pyproject})
    env = scripted(
        root,
        BOTH_FIXES,
        FIXED,
    )
    output = run_parallel(root, env)
    store = Store(root)
    for number in ("exp-0001", "exp-0002"):
        experiment = store.load_experiment(number)
        assert experiment.status == "kept", output
        assert experiment.after is not None
        tests = experiment.after.dimension("tests")
        assert tests is not None and tests.score == 1.0, tests
        assert ".factory/envs/" in tests.reason


def test_one_experiment_failing_on_its_own_is_aborted_and_the_others_go_on(make_repo):
    root = make_repo(PAIR)
    repo = git.Repo(root)
    # A branch left where the second experiment's would go: starting it fails.
    repo.create_head("factory/exp-0002")
    env = scripted(
        root,
        BOTH_FIXES,
        FIXED,
    )
    output = run_parallel(root, env)
    store = Store(root)
    first, second = store.load_experiment("exp-0001"), store.load_experiment("exp-0002")
    assert first.status == "kept" and second.status == "aborted", output
    assert "exp-0002 failed and was aborted; the others go on" in output
    assert second.verdict is not None and "already exists" in second.verdict.reason
    assert repo.head.commit.hexsha == first.commit
    assert not repo.is_dirty(untracked_files=True)
