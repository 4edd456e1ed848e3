"""The .factory/ folder: atomic records, experiment ids, config validation, the run lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from factory_tui.engine.config import load_config
from factory_tui.engine.errors import UsageError
from factory_tui.engine.models import Experiment, Hypothesis
from factory_tui.engine.store import RunLock, Store, write_atomic


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "record.json"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


def test_experiment_ids_count_up_and_survive_a_gap(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.allocate_experiment_id() == "exp-0001"
    assert store.allocate_experiment_id() == "exp-0002"
    store.release_experiment_id("exp-0002")
    assert store.allocate_experiment_id() == "exp-0002"


def test_experiments_round_trip_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for title in ("first", "second"):
        experiment_id = store.allocate_experiment_id()
        store.save_experiment(
            Experiment(
                id=experiment_id,
                hypothesis=Hypothesis(title=title),
                branch=f"factory/{experiment_id}",
                base_commit="abc",
            )
        )
    assert [e.hypothesis.title for e in store.experiments()] == ["first", "second"]
    assert [e.status for e in store.experiments()] == ["running", "running"]


def test_experiments_after_the_ten_thousandth_stay_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in (999, 1000, 1001, 9999, 10000, 10001):
        experiment_id = f"exp-{number:04d}"
        store.experiment_dir(experiment_id).mkdir(parents=True)
        store.save_experiment(
            Experiment(
                id=experiment_id,
                hypothesis=Hypothesis(title=str(number)),
                branch=f"factory/{experiment_id}",
                base_commit="abc",
            )
        )
    ids = [e.id for e in store.experiments()]
    assert ids == ["exp-0999", "exp-1000", "exp-1001", "exp-9999", "exp-10000", "exp-10001"]
    assert store.allocate_experiment_id() == "exp-10002"


def test_missing_config_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "config.toml")
    assert config.runtime == "offline" and config.eval.min_delta == 0.0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('runtime = "gpt"\n', "runtime"),
        ("[eval]\nmin_delta = -1\n", "eval.min_delta"),
        ("[agents]\nmax_turn = 3\n", "agents.max_turn"),
    ],
)
def test_invalid_config_names_the_field_and_the_file(tmp_path: Path, text: str, field: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as error:
        load_config(path)
    assert str(path) in str(error.value) and field in str(error.value)


def test_unparseable_config_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("runtime = \n")
    with pytest.raises(UsageError, match="cannot read config"):
        load_config(path)


def test_the_lock_admits_one_run_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path; "
                "from factory_tui.engine.store import RunLock; "
                f"RunLock(Path({str(path)!r})).acquire(); "
                "print('locked', flush=True); time.sleep(30)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=f"pid {holder.pid}"):
            RunLock(path).acquire()
        assert RunLock(path).holder().pid == holder.pid
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing: its pid is still in the file, so this is stale.
    lock = RunLock(path)
    warning = lock.acquire()
    assert warning is not None and f"pid {holder.pid}" in warning
    lock.release()
    assert RunLock(path).acquire() is None


def test_a_released_lock_has_no_holder(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "lock")
    lock.acquire()
    assert lock.holder() is not None
    lock.release()
    assert lock.holder() is None


def test_the_readme_config_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("### Configuration: `.factory/config.toml`")[1]
    toml = block.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.toml"
    path.write_text(toml)
    config = load_config(path)
    assert config.eval.metrics["accuracy"].key == "result.accuracy"


def test_the_cli_and_the_tui_adding_at_once_lose_no_update(tmp_path: Path) -> None:
    # Three processes (as the CLI, the TUI and the run would) each add to the backlog and
    # the messages 40 times at once: every update lands.
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from factory_tui.engine.store import Store\n"
        "store = Store(Path(sys.argv[1]))\n"
        "for n in range(40):\n"
        "    store.add_backlog_item(f'{sys.argv[2]} item {n}')\n"
        "    store.add_message(f'{sys.argv[2]} message {n}')\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name])
        for name in ("cli", "tui", "run")
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    store = Store(tmp_path)
    assert len(store.backlog()) == 120
    assert len({message.text for message in store.messages()}) == 120
