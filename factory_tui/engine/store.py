"""The project's `.factory/` folder: config, the state database, the experiments' files,
the event log and the run lock.

Records (experiments, backlog, messages, the event index) are rows of `state.db`, changed in
transactions (see database.py); files are written atomically (a temporary file renamed over
the target). A killed process leaves the old record or the new one, never half of one.
Nothing here is needed to undo the user's git history: git holds that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import FactoryConfig, load_config
from .database import Database, upsert_experiment
from .errors import FactoryError, UsageError
from .models import (
    BacklogItem,
    CeoMessage,
    Experiment,
    ExperimentOutline,
    ExperimentRow,
    ExperimentStatus,
    Hypothesis,
    LockInfo,
)

FACTORY_DIR = ".factory"
FINAL = tuple(s.value for s in ExperimentStatus if s.final)
OUTLINE = (
    "SELECT id, status, hypothesis, files_changed, before_score, after_score, before_values, "
    "after_values, cost_usd, started_at, finished_at, measured, playbooks, version, number "
    "FROM experiments "
    "WHERE status != 'reserved'"
)
# A word of the history's filter matches an experiment's id, hypothesis or status.
WORD_MATCHES = (
    "(id LIKE ? ESCAPE '\\' OR casefold(title) LIKE ? ESCAPE '\\' OR status LIKE ? ESCAPE '\\')"
)
# The columns the history lists, and how each sorts.
SORT_COLUMNS = {
    "id": "number",
    "hypothesis": "lower(title)",
    "status": "status",
    "before": "coalesce(before_score, -1)",
    "after": "coalesce(after_score, -1)",
    "delta": "coalesce(after_score - before_score, -9)",
    "ran": "runner",
}


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise FactoryError(f"cannot write {path}: {error.strerror or error}") from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """One engine per project, enforced with an OS lock the kernel drops when we die.

    The file also records the owner's pid, so `factory status` can name the holder and a
    new run can tell a crashed predecessor (its pid is left in the file) from a clean exit.
    That is why this one lock is fcntl's own, not filelock's: the lock file is its record.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, command: str = "") -> str | None:
        """Take the lock. Returns a warning when a stale lock was taken over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.holder()
            who = f"pid {holder.pid}" if holder else "another process"
            raise UsageError(
                f"another factory run ({who}) is working on this project; "
                f"watch it with `factory watch` or stop it first"
            ) from None
        previous = self._read(fd)
        info = LockInfo(
            pid=os.getpid(), started_at=time.time(), host=socket.gethostname(), command=command
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.model_dump_json().encode(), 0)
        self._fd = fd
        if previous is not None and previous.pid != os.getpid():
            return f"took over a stale lock left by pid {previous.pid}, which is no longer running"
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        # An empty file means the last owner left cleanly.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def holder(self) -> LockInfo | None:
        """The live process holding the lock, if any."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return None
        info = _parse_lock(text)
        if info is None or not pid_alive(info.pid):
            return None
        return info

    @staticmethod
    def _read(fd: int) -> LockInfo | None:
        return _parse_lock(os.pread(fd, 4096, 0).decode("utf-8", "replace"))


def _parse_lock(text: str) -> LockInfo | None:
    try:
        return LockInfo.model_validate_json(text) if text.strip() else None
    except ValidationError:
        return None


class Store:
    """Typed access to one project's `.factory/` folder."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.root = project / FACTORY_DIR
        self.db = Database(self.root / "state.db")

    def take_set_aside(self) -> list[str]:
        """What opening the database had to say (an earlier layout read in), said once."""
        self.db.connection()
        said, self.db.said = self.db.said, []
        return said

    # -- layout ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    def event_segment_path(self, segment: int) -> Path:
        """A rotated part of the event log; the current part is `events.jsonl`."""
        return self.root / f"events-{segment:06d}.jsonl"

    @property
    def experiments_dir(self) -> Path:
        return self.root / "experiments"

    @property
    def worktrees_dir(self) -> Path:
        return self.root / "worktrees"

    @property
    def spec_path(self) -> Path:
        return self.root / "spec.md"

    @property
    def lock(self) -> RunLock:
        return RunLock(self.root / "lock")

    def ensure(self) -> None:
        try:
            self.experiments_dir.mkdir(parents=True, exist_ok=True)
            self.worktrees_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create {self.root}: {error.strerror}") from None

    def config(self) -> FactoryConfig:
        return load_config(self.config_path)

    # -- experiments -------------------------------------------------------------------------
    def experiment_dir(self, experiment_id: str) -> Path:
        return self.experiments_dir / experiment_id

    def allocate_experiment_id(self) -> str:
        """The next `exp-NNNN`, reserved in the database (a transaction: safe against races),
        and its folder for the files."""
        with self.db.transaction() as db:
            (last,) = db.execute("SELECT coalesce(max(number), 0) FROM experiments").fetchone()
            number = last + 1
            # A folder left by something else (an older version, a hand) is never reused.
            while self.experiment_dir(f"exp-{number:04d}").exists():
                number += 1
            experiment_id = f"exp-{number:04d}"
            db.execute(
                "INSERT INTO experiments (number, id, status) VALUES (?, ?, 'reserved')",
                (number, experiment_id),
            )
        # After the commit: a kill in between leaves a reserved row, which the next run
        # gives back, never a folder that no row accounts for.
        try:
            self.experiment_dir(experiment_id).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FactoryError(
                f"cannot create {self.experiment_dir(experiment_id)}: {error.strerror or error}"
            ) from None
        return experiment_id

    def release_experiment_id(self, experiment_id: str) -> None:
        """Give back an id whose cycle ended before any experiment was recorded."""
        with self.db.transaction() as db:
            gone = db.execute(
                "DELETE FROM experiments WHERE id = ? AND status = 'reserved'", (experiment_id,)
            ).rowcount
        if gone:
            shutil.rmtree(self.experiment_dir(experiment_id), ignore_errors=True)

    def release_reserved(self) -> None:
        """Give back every id reserved by a run that ended before recording its experiment."""
        for row in self.db.query("SELECT id FROM experiments WHERE status = 'reserved'"):
            self.release_experiment_id(row["id"])

    def save_experiment(self, experiment: Experiment) -> None:
        self.experiment_dir(experiment.id).mkdir(parents=True, exist_ok=True)
        with self.db.transaction() as db:
            upsert_experiment(db, experiment)

    def load_experiment(self, experiment_id: str) -> Experiment:
        rows = self.db.query(
            "SELECT record FROM records JOIN experiments USING (number) WHERE id = ?",
            (experiment_id,),
        )
        if not rows:
            raise FactoryError(f"no experiment {experiment_id} in {self.db.path}")
        return _record(rows[0]["record"], experiment_id)

    def experiments(self, last: int | None = None) -> list[Experiment]:
        """Recorded experiments, whole, oldest first: every one, or the `last` few."""
        sql = "SELECT number, record FROM records ORDER BY number"
        if last is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(last)}) ORDER BY number"
        found = []
        for row in self.db.query(sql):
            with contextlib.suppress(FactoryError):
                found.append(_record(row["record"], f"exp-{row['number']:04d}"))
        return found

    def decided_ids(self) -> list[str]:
        """The ids of the kept and reverted experiments, oldest first."""
        rows = self.db.query(
            "SELECT id FROM experiments WHERE status IN ('kept', 'reverted') ORDER BY number"
        )
        return [row[0] for row in rows]

    def outcomes(self) -> list[tuple[int, str, set[str], set[str]]]:
        """Every kept or reverted experiment, oldest first, as (number, status, the files it
        targeted or touched, the files it touched): what telling which outcomes still stand
        needs, and no more."""
        rows = self.db.query(
            "SELECT number, status, json_extract(hypothesis, '$.files'), files_changed "
            "FROM experiments WHERE status IN ('kept', 'reverted') ORDER BY number"
        )
        # A cycle reads this over the whole history.
        lists = _parse_json_columns((targeted or "[]", changed) for *_, targeted, changed in rows)
        outcomes = []
        for (number, status, *_), (targeted, changed) in zip(rows, lists, strict=True):
            touched = set(changed)
            outcomes.append((number, status, touched.union(targeted), touched))
        return outcomes

    def outlines_of(self, numbers: Iterable[int]) -> list[ExperimentOutline]:
        """The outlines of these experiments, oldest first."""
        wanted = sorted(set(numbers))
        rows: list[sqlite3.Row] = []
        for start in range(0, len(wanted), 500):  # under SQLite's limit on parameters
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows += self.db.query(f"{OUTLINE} AND number IN ({marks})", tuple(chunk))
        return _outlines(sorted(rows, key=lambda row: row["number"]))

    def last_finished(self, count: int, statuses: tuple[str, ...] = FINAL) -> list[int]:
        """The numbers of the last `count` experiments that ended one of these ways."""
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.query(
            f"SELECT number FROM experiments WHERE status IN ({marks}) "
            "ORDER BY number DESC LIMIT ?",
            (*statuses, count),
        )
        return [row[0] for row in rows]

    def best_value(self, name: str, direction: str) -> float | None:
        """The best of a project metric the project reached: at the first experiment's
        baseline or in a kept result (research mode's best, asked of the database)."""
        key = f'$."{name}"'
        return self._best(
            "json_extract(before_values, ?)",
            "json_extract(after_values, ?)",
            "max" if direction == "higher" else "min",
            (key, key),
        )

    def decided_outlines(self, last: int) -> list[ExperimentOutline]:
        """The `last` kept or reverted experiments in outline, oldest first."""
        rows = self.db.query(
            f"{OUTLINE} AND status IN ('kept', 'reverted') ORDER BY number DESC LIMIT ?",
            (last,),
        )
        return _outlines(rows[::-1])

    def outcome_counts(self) -> list[tuple[str, str, int, float]]:
        """(status, category, how many, their cost) over every finished experiment."""
        rows = self.db.query(
            "SELECT status, category, count(*), coalesce(sum(cost_usd), 0) FROM experiments "
            "WHERE status IN ('kept', 'reverted', 'aborted') GROUP BY status, category"
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def playbook_counts(self) -> list[tuple[str, dict[str, str], int]]:
        """(status, the playbook versions, how many) over the kept and reverted."""
        rows = self.db.query(
            "SELECT status, playbooks, count(*) FROM experiments "
            "WHERE status IN ('kept', 'reverted') GROUP BY status, playbooks"
        )
        return [(row[0], json.loads(row[1]), row[2]) for row in rows]

    def predictions(self, last: int) -> list[tuple[float, dict[str, float], dict[str, float]]]:
        """The last `last` decided experiments that predicted their effect, oldest first:
        each one's expected gain, its predicted change per dimension and what each
        dimension's score did (the hypothesis was validated when saved: only its numbers
        are read back)."""
        # One JSON path call a row (the report reads this at the end of each run).
        rows = self.db.query(
            "SELECT json_extract(hypothesis, '$.expected_gain', '$.predicted'), measured "
            "FROM experiments WHERE status IN ('kept', 'reverted') AND measured != '{}' "
            "AND json_extract(hypothesis, '$.predicted') != '{}' ORDER BY number DESC LIMIT ?",
            (last,),
        )
        rows.reverse()
        return [
            (float(gain or 0.0), predicted, measured)
            for (gain, predicted), measured in _parse_json_columns(rows)
        ]

    def unfinished_experiments(self) -> list[Experiment]:
        marks = ", ".join("?" for _ in FINAL)
        rows = self.db.query(
            "SELECT id, record FROM experiments JOIN records USING (number) "
            f"WHERE status NOT IN ('reserved', {marks}) ORDER BY number",
            FINAL,
        )
        return [_record(row["record"], row["id"]) for row in rows]

    def experiment_rows(
        self,
        text: str = "",
        sort: str = "id",
        descending: bool = False,
        limit: int = 500,
        offset: int = 0,
    ) -> tuple[list[ExperimentRow], int]:
        """A page of the history: the experiments whose id, hypothesis or status holds
        `text`, sorted by a column; and how many match in all."""
        where, parameters = "status != 'reserved'", []
        for word in text.casefold().split():
            where += f" AND {WORD_MATCHES}"
            parameters += [f"%{_escape_like(word)}%"] * 3
        order = SORT_COLUMNS.get(sort, "number") + (" DESC" if descending else "")
        rows = self.db.query(
            f"SELECT id, title, status, before_score, after_score, runner, waited FROM experiments "
            f"WHERE {where} ORDER BY {order}, number LIMIT ? OFFSET ?",
            (*parameters, limit, offset),
        )
        (total,) = self.db.query(
            f"SELECT count(*) FROM experiments WHERE {where}", tuple(parameters)
        )[0]
        return [ExperimentRow(*row) for row in rows], total

    def experiment_totals(self) -> dict[str, int]:
        """How many experiments ended each way (and run or wait now), by status."""
        rows = self.db.query(
            "SELECT status, count(*) FROM experiments WHERE status != 'reserved' GROUP BY status"
        )
        return {status: count for status, count in rows}

    def record_baseline(self, tree: str, composite: float) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO baselines (tree, composite, measured_at) VALUES (?, ?, ?)",
                (tree, composite, time.time()),
            )

    def baseline_of(self, tree: str) -> float | None:
        """The composite last measured for `tree` (a cycle's baseline or `factory eval`),
        if either measured it."""
        rows = self.db.query("SELECT composite FROM baselines WHERE tree = ?", (tree,))
        score: float | None = rows[0][0] if rows else None
        return score

    def best_composite(self) -> float | None:
        """The best composite the project reached: the first experiment's baseline or a kept
        result (`stats.best_score` over the whole history, asked of the database)."""
        return self._best("before_score", "after_score", "max")

    def _best(
        self, before: str, after: str, best: str, parameters: tuple[str, ...] = ()
    ) -> float | None:
        """The `best` (max or min) of `before` at the first experiment and `after` of every
        kept one: the two SQL expressions name the value to compare."""
        rows = self.db.query(
            f"SELECT {best}(value) FROM ("
            f"SELECT * FROM (SELECT {before} AS value FROM experiments "
            "WHERE status != 'reserved' ORDER BY number LIMIT 1) "
            f"UNION ALL SELECT {after} FROM experiments WHERE status = 'kept')",
            parameters,
        )
        value: float | None = rows[0][0]
        return value

    def write_artifact(self, experiment_id: str, name: str, text: str) -> Path:
        path = self.experiment_dir(experiment_id) / name
        write_atomic(path, text)
        return path

    def read_artifact(self, experiment_id: str, name: str) -> str | None:
        try:
            return (self.experiment_dir(experiment_id) / name).read_text(encoding="utf-8")
        except OSError:
            return None

    def agent_log_path(self, experiment_id: str | None, role: str) -> Path:
        folder = self.experiment_dir(experiment_id) if experiment_id else self.root
        return folder / "logs" / f"{role}.log"

    # -- backlog -----------------------------------------------------------------------------
    def backlog(self) -> list[BacklogItem]:
        rows = self.db.query(
            "SELECT id, title, detail, status, created_at FROM backlog ORDER BY position"
        )
        return [BacklogItem(**dict(row)) for row in rows]

    def backlog_version(self) -> tuple[int, int, int]:
        """Changes whenever the backlog does: cheap enough to ask on every redraw."""
        row = self.db.query(
            "SELECT count(*), coalesce(max(position), 0), "
            "coalesce(sum(status = 'done'), 0) FROM backlog"
        )[0]
        return (row[0], row[1], row[2])

    def add_backlog_item(self, title: str, detail: str = "") -> BacklogItem:
        if not title.strip():
            raise UsageError("a backlog item needs a title")
        item = BacklogItem(id=uuid.uuid4().hex[:8], title=title.strip(), detail=detail)
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO backlog (id, title, detail, status, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (item.id, item.title, item.detail, item.status, item.created_at),
            )
        return item

    def find_backlog_item(self, text: str) -> BacklogItem | None:
        """The item with this id, or the open item whose title contains `text`."""
        needle = text.strip().lower()
        items = self.backlog()
        by_id = next((item for item in items if item.id == needle), None)
        if by_id is not None:
            return by_id
        matches = [item for item in items if needle in item.title.lower()]
        open_matches = [item for item in matches if item.status == "open"]
        found = open_matches or matches
        return found[0] if found else None

    def set_backlog_status(self, item_id: str, status: str) -> BacklogItem:
        with self.db.transaction() as db:
            changed = db.execute(
                "UPDATE backlog SET status = ? WHERE id = ?", (status, item_id)
            ).rowcount
        if not changed:
            raise UsageError(f"no backlog item {item_id}")
        return next(item for item in self.backlog() if item.id == item_id)

    def remove_backlog_item(self, item_id: str) -> BacklogItem:
        with self.db.transaction() as db:
            row = db.execute(
                "SELECT id, title, detail, status, created_at FROM backlog WHERE id = ?",
                (item_id,),
            ).fetchone()
            if row is None:
                raise UsageError(f"no backlog item {item_id}")
            db.execute("DELETE FROM backlog WHERE id = ?", (item_id,))
        return BacklogItem(**dict(row))

    # -- messages to the CEO -----------------------------------------------------------------
    def messages(self) -> list[CeoMessage]:
        rows = self.db.query("SELECT id, text, created_at, read_at FROM messages ORDER BY position")
        return [CeoMessage(**dict(row)) for row in rows]

    def add_message(self, text: str) -> CeoMessage:
        if not text.strip():
            raise UsageError("a message to the CEO cannot be empty")
        message = CeoMessage(id=uuid.uuid4().hex[:8], text=text.strip())
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO messages (id, text, created_at) VALUES (?, ?, ?)",
                (message.id, message.text, message.created_at),
            )
        return message

    def pending_messages(self) -> list[CeoMessage]:
        return [message for message in self.messages() if message.read_at is None]

    def mark_read(self, ids: list[str]) -> None:
        with self.db.transaction() as db:
            db.executemany(
                "UPDATE messages SET read_at = ? WHERE id = ? AND read_at IS NULL",
                [(time.time(), message_id) for message_id in ids],
            )

    # -- the event log's index ---------------------------------------------------------------
    def event_segment(self) -> int:
        """The number the current `events.jsonl` will have once rotated."""
        rows = self.db.query("SELECT value FROM settings WHERE key = 'event_segment'")
        return int(rows[0]["value"]) if rows else 1

    def rotate_events(self) -> None:
        """Close the current part of the event log: it becomes `events-NNNNNN.jsonl`."""
        with self.db.transaction() as db:
            segment = self.event_segment()
            db.execute(
                "INSERT INTO settings (key, value) VALUES ('event_segment', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(segment + 1),),
            )
        # After the commit: a kill in between leaves a number unused, never a segment
        # overwritten by the next rotation.
        if self.events_path.exists():
            self.events_path.replace(self.event_segment_path(segment))

    def record_run(self, offset: int, event_json: str, pid: int, mode: str) -> None:
        """Where a run's events begin: `factory watch` starts there without a scan."""
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO runs (started_at, pid, mode, segment, offset, event) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), pid, mode, self.event_segment(), offset, event_json),
            )

    def last_run(self) -> tuple[int, int, str] | None:
        """The last run's start: (segment, offset, its run_started event as JSON)."""
        rows = self.db.query("SELECT segment, offset, event FROM runs ORDER BY number DESC LIMIT 1")
        return (rows[0]["segment"], rows[0]["offset"], rows[0]["event"]) if rows else None


def _parse_json_columns(rows: Iterable[Iterable[str]]) -> list[list[Any]]:
    """Rows of JSON texts (columns the database holds as JSON), each parsed into a list of
    its values: one parse for all of them, not one a cell, for reads over the whole history."""
    parsed: list[list[Any]] = json.loads(
        "[" + ",".join("[" + ",".join(cells) + "]" for cells in rows) + "]"
    )
    return parsed


def _record(text: str, experiment_id: str) -> Experiment:
    try:
        return Experiment.model_validate_json(text)
    except ValidationError as error:
        raise FactoryError(
            f"{experiment_id}: invalid record: {error.error_count()} problem(s)"
        ) from None


def _escape_like(word: str) -> str:
    """`word` matched as written: LIKE's wildcards in it are plain characters."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _outlines(rows: list[sqlite3.Row]) -> list[ExperimentOutline]:
    return [
        ExperimentOutline(
            id=row["id"],
            status=ExperimentStatus(row["status"]),
            hypothesis=Hypothesis.model_validate_json(row["hypothesis"]),
            files_changed=json.loads(row["files_changed"]),
            before=row["before_score"],
            after=row["after_score"],
            before_values=json.loads(row["before_values"]),
            after_values=json.loads(row["after_values"]),
            cost_usd=row["cost_usd"],
            started_at=row["started_at"] or 0.0,
            finished_at=row["finished_at"],
            measured=json.loads(row["measured"]),
            playbooks=json.loads(row["playbooks"]),
        )
        for row in rows
    ]
