"""The .factory/ folder: the state database, its migration from the files before it,
atomic records, experiment ids, config validation, the run lock."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factory_tui.engine.config import load_config
from factory_tui.engine.database import SCHEMA_VERSION
from factory_tui.engine.errors import UsageError
from factory_tui.engine.models import Experiment, ExperimentStatus, Hypothesis, Scorecard
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


LAYOUT_V0 = Path(__file__).parent / "fixtures" / "layout-v0"


def test_a_factory_folder_of_the_layout_before_the_database_is_read_in_once(
    tmp_path: Path,
) -> None:
    # Recorded from a real run of the version before state.db: one experiment.json per
    # experiment, backlog.json and messages.json.
    shutil.copytree(LAYOUT_V0, tmp_path / ".factory")
    old = {p: p.read_bytes() for p in (tmp_path / ".factory").rglob("*.json")}
    store = Store(tmp_path)
    experiments = store.experiments()
    assert [(e.id, e.status.value) for e in experiments] == [
        ("exp-0001", "kept"),
        ("exp-0002", "reverted"),
    ]
    assert experiments[0].hypothesis.title == "Add a smoke test for inventory/report.py"
    assert store.best_composite() == pytest.approx(experiments[0].after.composite)
    assert [(i.title, i.status) for i in store.backlog()] == [
        ("Add a CSV export of the inventory", "open"),
        ("Handle a negative quantity", "done"),
    ]
    assert [m.text for m in store.pending_messages()] == ["Look at the report module next"]
    assert len(store.messages()) == 2
    assert any("moved 4 record file(s)" in line for line in store.take_set_aside())
    # Nothing is lost: every old file is kept, byte for byte, as *.migrated.
    for path, content in old.items():
        assert not path.exists()
        assert path.with_name(path.name + ".migrated").read_bytes() == content
    # Read in once: a second open (another process) finds the same, and ids count on.
    again = Store(tmp_path)
    assert len(again.experiments()) == 2 and len(again.backlog()) == 2
    assert again.take_set_aside() == []
    assert again.allocate_experiment_id() == "exp-0003"


def test_a_process_killed_while_writing_leaves_every_record_whole(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from factory_tui.engine.models import Experiment, Hypothesis\n"
        "from factory_tui.engine.store import Store\n"
        "store = Store(Path(sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    eid = store.allocate_experiment_id()\n"
        "    store.save_experiment(Experiment(id=eid, hypothesis=Hypothesis(title='x' * 5000),\n"
        "                                     branch='b', base_commit='c'))\n"
        "    store.add_backlog_item(eid)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    time.sleep(1.0)
    writer.kill()
    writer.wait(timeout=30)
    store = Store(tmp_path)
    assert store.db.query("PRAGMA integrity_check")[0][0] == "ok"
    experiments = store.experiments()
    assert len(experiments) > 5
    assert all(e.hypothesis.title == "x" * 5000 for e in experiments)
    # The one it was on when killed is at most reserved, and a run gives it back.
    store.release_reserved()
    assert store.allocate_experiment_id() == f"exp-{len(experiments) + 1:04d}"


def _experiment(number: int, title: str, status: str, before: float, after: float) -> Experiment:
    def card(score: float) -> Scorecard:
        return Scorecard(tree="t", dimensions=[], composite=score)

    return Experiment(
        id=f"exp-{number:04d}",
        hypothesis=Hypothesis(title=title),
        branch="b",
        base_commit="c",
        status=ExperimentStatus(status),
        before=card(before),
        after=card(after),
    )


def test_the_history_is_filtered_sorted_and_paged_by_the_database(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in range(1, 1201):
        status = "kept" if number % 3 == 0 else "reverted"
        title = f"Fix 100% of the lint in module_{number}" if number % 2 else f"Add test {number}"
        store.save_experiment(_experiment(number, title, status, 0.5, 0.5 + number / 10_000))
    page, total = store.experiment_rows(limit=500)
    assert total == 1200 and len(page) == 500 and page[0].id == "exp-0001"
    rest, _ = store.experiment_rows(limit=500, offset=1000)
    assert [row.id for row in rest][-1] == "exp-1200" and len(rest) == 200
    kept, total = store.experiment_rows("kept", limit=10_000)
    assert total == 400 and {row.status for row in kept} == {"kept"}
    # Words narrow the match, and LIKE's wildcards in them are plain characters.
    both, total = store.experiment_rows("100% module_11", limit=10_000)
    odd_with_11 = [n for n in range(1, 1201, 2) if str(n).startswith("11")]
    assert total == len(odd_with_11) == 56 and all("module_11" in row.title for row in both)
    assert store.experiment_rows("1_0", limit=10)[1] == 0
    best, _ = store.experiment_rows(sort="delta", descending=True, limit=1)
    assert best[0].id == "exp-1200" and best[0].delta == pytest.approx(0.12)
    assert store.experiment_totals() == {"kept": 400, "reverted": 800}
    assert store.best_composite() == pytest.approx(0.62)


def test_a_damaged_database_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.add_backlog_item("keep me")
    store.db.close()
    path = tmp_path / ".factory" / "state.db"
    for leftover in ("state.db-wal", "state.db-shm"):
        (tmp_path / ".factory" / leftover).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 300)
    with pytest.raises(UsageError, match=r"file is not a database .*move it aside"):
        Store(tmp_path).backlog()
    assert path.read_bytes() == b"this is not a database" * 300  # left as it was


def test_the_history_filter_folds_any_scripts_capitals(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_experiment(_experiment(1, "ÜBER-Modul entschlacken", "kept", 0.5, 0.6))
    store.save_experiment(_experiment(2, "Rename ÉTAT to state", "reverted", 0.5, 0.4))
    assert [row.id for row in store.experiment_rows("über")[0]] == ["exp-0001"]
    assert [row.id for row in store.experiment_rows("état")[0]] == ["exp-0002"]


def test_a_database_of_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_experiment(_experiment(1, "idea", "kept", 0.5, 0.6))
    store.db.close()
    old = sqlite3.connect(tmp_path / ".factory" / "state.db")  # as the first schema had it
    old.executescript(
        "DROP TABLE baselines; ALTER TABLE experiments DROP COLUMN runner; "
        "ALTER TABLE experiments DROP COLUMN waited; ALTER TABLE experiments DROP COLUMN "
        "measured; ALTER TABLE experiments DROP COLUMN playbooks; PRAGMA user_version = 1;"
    )
    old.close()
    again = Store(tmp_path)
    assert again.baseline_of("t") == 0.5  # filled in from the record
    assert again.db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 4
    assert [e.id for e in again.experiments()] == ["exp-0001"]
    # Where an experiment ran and how long it waited: columns of their own from schema 3.
    ran = _experiment(2, "another", "kept", 0.6, 0.7).model_copy(
        update={"runner": "slot-2", "waited": 4.2}
    )
    again.save_experiment(ran)
    rows, _ = again.experiment_rows(sort="id", descending=True)
    assert (rows[0].runner, rows[0].waited, rows[0].ran) == ("slot-2", 4.2, "slot-2 +4s")
    # What each dimension's score did and the playbooks it ran with: columns from schema 4.
    [outline] = again.outlines_of([2])
    assert outline.measured == {"composite": pytest.approx(0.1)}
    assert again.outlines_of([1])[0].playbooks == {}
