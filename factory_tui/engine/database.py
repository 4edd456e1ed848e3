"""`.factory/state.db`: the project's records in one SQLite database (WAL mode).

Experiments (with the columns the views filter and sort on), the backlog, the messages to
the CEO and the index of the event log live here. Every change is one transaction, so the
CLI, the TUI and a run can all write without losing each other's updates, and a process
killed at any point leaves the database as it was before or after a change, never between.
Diffs, transcripts and notes stay files beside it, in `experiments/exp-NNNN/`.

A `.factory/` written by an earlier version (one `experiment.json` per experiment,
`backlog.json`, `messages.json`) is read into the database the first time it is opened;
the old files are kept, renamed `*.migrated`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from .errors import FactoryError, UsageError
from .models import BacklogItem, CeoMessage, Experiment

SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 10_000

# Each tree measured as a base (by a cycle or `factory eval`), with its composite.
BASELINES = (
    "CREATE TABLE baselines (tree TEXT PRIMARY KEY, composite REAL NOT NULL, measured_at REAL)"
)
SCHEMA = (
    """
CREATE TABLE experiments (
    number INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    -- 'reserved' until the cycle records its experiment
    status TEXT NOT NULL,
    -- bumped on every write, so a reader can ask what changed since it last looked
    version INTEGER NOT NULL DEFAULT 0,
    title TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    hypothesis TEXT,
    files_changed TEXT NOT NULL DEFAULT '[]',
    before_score REAL,
    after_score REAL,
    before_values TEXT NOT NULL DEFAULT '{}',
    after_values TEXT NOT NULL DEFAULT '{}',
    cost_usd REAL NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    runner TEXT NOT NULL DEFAULT '',
    waited REAL NOT NULL DEFAULT 0,
    measured TEXT NOT NULL DEFAULT '{}',
    playbooks TEXT NOT NULL DEFAULT '{}'
);
-- runner is where an experiment ran (a worktree slot, a node), waited the seconds it
-- waited for its verdict behind others of its cycle. measured is how much each dimension's
-- score moved (what the Strategist's prediction is compared with), playbooks the version
-- of each role's playbook it ran with: the performance reports add these up.
-- Covers the totals and the best score, so neither reads a row.
CREATE INDEX experiments_status ON experiments (status, after_score);
CREATE INDEX experiments_version ON experiments (version);
-- The whole record, apart: lists and counts never page through ten thousand of them.
CREATE TABLE records (number INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE backlog (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    created_at REAL NOT NULL
);
CREATE TABLE messages (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    read_at REAL
);
-- Where each run's events begin in the log: segment n is events-n.jsonl once rotated.
CREATE TABLE runs (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    pid INTEGER NOT NULL,
    mode TEXT NOT NULL DEFAULT '',
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    event TEXT NOT NULL
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + f"{BASELINES};"
)

Item = TypeVar("Item")
# From each schema to the next, for a database an earlier version made (SCHEMA is the latest).
UPGRADES = {
    1: (
        BASELINES,
        # The recorded experiments' baselines, the latest of each tree winning.
        "INSERT OR REPLACE INTO baselines SELECT json_extract(record, '$.before.tree'), "
        "json_extract(record, '$.before.composite'), NULL FROM records "
        "WHERE json_extract(record, '$.before.tree') IS NOT NULL ORDER BY number",
    ),
    2: (
        "ALTER TABLE experiments ADD COLUMN runner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE experiments ADD COLUMN waited REAL NOT NULL DEFAULT 0",
    ),
    3: (
        "ALTER TABLE experiments ADD COLUMN measured TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE experiments ADD COLUMN playbooks TEXT NOT NULL DEFAULT '{}'",
    ),
}

_BACKLOG = TypeAdapter(list[BacklogItem], config=ConfigDict(defer_build=True))
_MESSAGES = TypeAdapter(list[CeoMessage], config=ConfigDict(defer_build=True))


class Database:
    """One connection per thread to the project's state database, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        # What the migration from an earlier layout had to say, for the run's notices.
        self.said: list[str] = []

    def connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open()
            self._local.connection = connection
        return connection

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Transactions are ours (BEGIN IMMEDIATE below), not the module's implicit ones.
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            connection.row_factory = sqlite3.Row
            # The history's filter matches any script's capitals: LIKE folds ASCII only.
            connection.create_function("casefold", 1, _casefold, deterministic=True)
            connection.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable against a killed process under WAL; only a power cut can
            # lose the last transactions, and even then the database stays consistent.
            connection.execute("PRAGMA synchronous = NORMAL")
            self._prepare(connection)
        except sqlite3.OperationalError as error:  # locked, unreadable, no room
            raise UsageError(f"cannot open {self.path}: {error}") from None
        except sqlite3.DatabaseError as error:  # not a database, or a damaged one
            raise UsageError(
                f"cannot open {self.path}: {error} (move it aside to start a fresh history; "
                "the experiments' diffs, logs and notes stay where they are)"
            ) from None
        except OSError as error:
            raise UsageError(f"cannot open {self.path}: {error.strerror or error}") from None
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """Create the tables on first use and read an earlier layout in, once."""
        if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction(connection):
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:  # another process did it while we waited
                return
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"{self.path} was written by a newer factory (schema {version}); "
                    "upgrade factory-tui to open it"
                )
            migrated: list[Path] = []
            if version == 0:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    connection.execute(statement)
                migrated = _import_files(connection, self.path.parent, self.said)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for statement in UPGRADES[step]:
                        connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        for path in migrated:
            with contextlib.suppress(OSError):
                path.replace(path.with_name(path.name + ".migrated"))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write, whole or not at all; waits for another writer instead of failing."""
        connection = self.connection()
        with self._transaction(connection):
            yield connection

    @contextlib.contextmanager
    def _transaction(self, connection: sqlite3.Connection) -> Iterator[None]:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise FactoryError(f"{self.path}: {error}") from None
        try:
            yield
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back itself (disk full)
                connection.execute("ROLLBACK")
            raise
        try:
            connection.execute("COMMIT")
        except sqlite3.OperationalError as error:  # a full disk, for one
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise FactoryError(f"cannot write {self.path}: {error}") from None

    def query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as error:
            raise FactoryError(f"cannot read {self.path}: {error}") from None

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def experiment_columns(experiment: Experiment) -> dict[str, object]:
    """The columns an experiment is stored under: what the views filter, sort and sum."""
    return {
        "number": experiment.number,
        "id": experiment.id,
        "status": experiment.status.value,
        "title": experiment.hypothesis.title,
        "category": experiment.hypothesis.category,
        "hypothesis": experiment.hypothesis.model_dump_json(),
        "files_changed": json.dumps(experiment.files_changed),
        "before_score": experiment.before.composite if experiment.before else None,
        "after_score": experiment.after.composite if experiment.after else None,
        "before_values": json.dumps(experiment.before.values() if experiment.before else {}),
        "after_values": json.dumps(experiment.after.values() if experiment.after else {}),
        "cost_usd": experiment.cost_usd,
        "started_at": experiment.started_at,
        "finished_at": experiment.finished_at,
        "runner": experiment.runner,
        "waited": experiment.waited,
        "measured": json.dumps(experiment.measured),
        "playbooks": json.dumps(experiment.playbooks),
    }


def upsert_experiment(connection: sqlite3.Connection, experiment: Experiment) -> None:
    columns = experiment_columns(experiment)
    names = ", ".join(columns)
    marks = ", ".join(f":{name}" for name in columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "number")
    connection.execute(
        f"INSERT INTO experiments ({names}, version) VALUES ({marks}, "
        "(SELECT coalesce(max(version), 0) + 1 FROM experiments)) "
        f"ON CONFLICT (number) DO UPDATE SET {updates}, version = excluded.version",
        columns,
    )
    connection.execute(
        "INSERT OR REPLACE INTO records (number, record) VALUES (?, ?)",
        (experiment.number, experiment.model_dump_json()),
    )


def _import_files(connection: sqlite3.Connection, root: Path, said: list[str]) -> list[Path]:
    """Read the files of the layout before the database; returns the files read."""
    read: list[Path] = []
    folder = root / "experiments"
    if folder.is_dir():
        for path in folder.glob("exp-*/experiment.json"):
            try:
                experiment = Experiment.model_validate_json(path.read_bytes())
                experiment.number  # noqa: B018 - an id that is not exp-N is not ours
            except (OSError, ValidationError, ValueError, IndexError):
                said.append(f"{path} could not be read into the database: left as it was")
                continue
            upsert_experiment(connection, experiment)
            read.append(path)
    backlog = _read_old_list(root / "backlog.json", _BACKLOG, said)
    connection.executemany(
        "INSERT OR IGNORE INTO backlog (id, title, detail, status, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(i.id, i.title, i.detail, i.status, i.created_at) for i in backlog or []],
    )
    messages = _read_old_list(root / "messages.json", _MESSAGES, said)
    connection.executemany(
        "INSERT OR IGNORE INTO messages (id, text, created_at, read_at) VALUES (?, ?, ?, ?)",
        [(m.id, m.text, m.created_at, m.read_at) for m in messages or []],
    )
    read += [
        root / name
        for name, found in (("backlog.json", backlog), ("messages.json", messages))
        if found is not None
    ]
    if read:
        said.append(
            f"moved {len(read)} record file(s) of an earlier layout into {root / 'state.db'} "
            "(the files are kept as *.migrated)"
        )
    return read


def _read_old_list(
    path: Path, adapter: TypeAdapter[list[Item]], said: list[str]
) -> list[Item] | None:
    if not path.exists():
        return None
    try:
        return adapter.validate_json(path.read_bytes())
    except (OSError, ValidationError):
        said.append(f"{path} was not valid and was not read: left as it was")
        return None
