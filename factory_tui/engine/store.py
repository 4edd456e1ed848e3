"""The project's `.factory/` folder: config, backlog, experiments, event log and the run lock.

Writes are atomic (a temporary file renamed over the target), so a killed process leaves
either the old record or the new one, never half of one. Nothing here is needed to undo the
user's git history: git holds that.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from filelock import FileLock
from pydantic import BaseModel, TypeAdapter, ValidationError

from .config import FactoryConfig, load_config
from .errors import FactoryError, UsageError
from .models import BacklogItem, CeoMessage, Experiment, LockInfo

FACTORY_DIR = ".factory"
M = TypeVar("M", bound=BaseModel)
_BACKLOG = TypeAdapter(list[BacklogItem])
_MESSAGES = TypeAdapter(list[CeoMessage])


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
        # Files found corrupt and set aside, said once by whoever shows notices.
        self.set_aside: list[str] = []

    def take_set_aside(self) -> list[str]:
        said, self.set_aside = self.set_aside, []
        return said

    def _read_list(self, path: Path, adapter: TypeAdapter[list[M]], what: str) -> list[M]:
        """A JSON list file; a corrupt one is moved aside as `*.corrupt` and read as empty,
        so a run goes on and nothing of it is lost."""
        if not path.exists():
            return []
        try:
            return adapter.validate_json(path.read_bytes())
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from None
        except ValidationError:
            aside = path.with_name(path.name + ".corrupt")
            if aside.exists():
                aside = path.with_name(f"{path.name}.{int(time.time())}.corrupt")
            path.replace(aside)
            self.set_aside.append(
                f"{path} was not a valid {what} file: moved aside as {aside.name}; "
                "starting from an empty one"
            )
            return []

    # -- layout ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def experiments_dir(self) -> Path:
        return self.root / "experiments"

    @property
    def worktrees_dir(self) -> Path:
        return self.root / "worktrees"

    @property
    def backlog_path(self) -> Path:
        return self.root / "backlog.json"

    @property
    def spec_path(self) -> Path:
        return self.root / "spec.md"

    @property
    def messages_path(self) -> Path:
        return self.root / "messages.json"

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
        """The next free `exp-NNNN`, claimed by creating its folder (safe against races)."""
        self.experiments_dir.mkdir(parents=True, exist_ok=True)
        numbers = [_number(p.name) for p in self.experiments_dir.iterdir()]
        number = max((n for n in numbers if n is not None), default=0) + 1
        while True:
            experiment_id = f"exp-{number:04d}"
            try:
                self.experiment_dir(experiment_id).mkdir()
                return experiment_id
            except FileExistsError:
                number += 1

    def release_experiment_id(self, experiment_id: str) -> None:
        """Give back an id whose cycle ended before any experiment was recorded."""
        folder = self.experiment_dir(experiment_id)
        if not (folder / "experiment.json").exists():
            shutil.rmtree(folder, ignore_errors=True)

    def save_experiment(self, experiment: Experiment) -> None:
        path = self.experiment_dir(experiment.id) / "experiment.json"
        write_atomic(path, experiment.model_dump_json(indent=2))

    def load_experiment(self, experiment_id: str) -> Experiment:
        path = self.experiment_dir(experiment_id) / "experiment.json"
        return _load_model(path, Experiment)

    def experiments(self) -> list[Experiment]:
        """Every recorded experiment, oldest first."""
        if not self.experiments_dir.is_dir():
            return []
        found = []
        # By number, not by name: exp-10000 comes after exp-9999, not after exp-1000.
        for folder in sorted(self.experiments_dir.iterdir(), key=lambda p: _number(p.name) or 0):
            path = folder / "experiment.json"
            if _number(folder.name) is not None and path.exists():
                with contextlib.suppress(FactoryError):
                    found.append(_load_model(path, Experiment))
        return found

    def unfinished_experiments(self) -> list[Experiment]:
        return [e for e in self.experiments() if not e.status.final]

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
        return self._read_list(self.backlog_path, _BACKLOG, "backlog")

    def save_backlog(self, items: list[BacklogItem]) -> None:
        write_atomic(self.backlog_path, _BACKLOG.dump_json(items, indent=2).decode())

    @contextlib.contextmanager
    def _updating(self) -> Iterator[None]:
        """One read-modify-write of the backlog or the messages at a time, across processes:
        the CLI, the TUI and the run all change them, and none may lose another's update."""
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / "lists.lock", thread_local=False):
            yield

    def add_backlog_item(self, title: str, detail: str = "") -> BacklogItem:
        if not title.strip():
            raise UsageError("a backlog item needs a title")
        item = BacklogItem(id=uuid.uuid4().hex[:8], title=title.strip(), detail=detail)
        with self._updating():
            self.save_backlog([*self.backlog(), item])
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
        with self._updating():
            items = self.backlog()
            for index, item in enumerate(items):
                if item.id == item_id:
                    items[index] = item.model_copy(update={"status": status})
                    self.save_backlog(items)
                    return items[index]
        raise UsageError(f"no backlog item {item_id}")

    def remove_backlog_item(self, item_id: str) -> BacklogItem:
        with self._updating():
            items = self.backlog()
            for item in items:
                if item.id == item_id:
                    self.save_backlog([other for other in items if other.id != item_id])
                    return item
        raise UsageError(f"no backlog item {item_id}")

    # -- messages to the CEO -----------------------------------------------------------------
    def messages(self) -> list[CeoMessage]:
        return self._read_list(self.messages_path, _MESSAGES, "messages")

    def add_message(self, text: str) -> CeoMessage:
        if not text.strip():
            raise UsageError("a message to the CEO cannot be empty")
        message = CeoMessage(id=uuid.uuid4().hex[:8], text=text.strip())
        with self._updating():
            self._save_messages([*self.messages(), message])
        return message

    def pending_messages(self) -> list[CeoMessage]:
        return [message for message in self.messages() if message.read_at is None]

    def mark_read(self, ids: list[str]) -> None:
        now = time.time()
        with self._updating():
            updated = [
                m.model_copy(update={"read_at": now}) if m.id in ids and m.read_at is None else m
                for m in self.messages()
            ]
            self._save_messages(updated)

    def _save_messages(self, messages: list[CeoMessage]) -> None:
        write_atomic(self.messages_path, _MESSAGES.dump_json(messages, indent=2).decode())


def _number(name: str) -> int | None:
    prefix, _, digits = name.partition("-")
    return int(digits) if prefix == "exp" and digits.isdigit() else None


def _load_model(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate_json(path.read_bytes())
    except OSError as error:
        raise FactoryError(f"cannot read {path}: {error.strerror}") from None
    except ValidationError as error:
        raise FactoryError(f"{path}: invalid record: {error.error_count()} problem(s)") from None
