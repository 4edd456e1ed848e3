"""The user-level registry: every project the factory has run on.

Lives in `$FACTORY_HOME` (default `~/.factory`) as `registry.json`, updated at the start of
every run under a file lock, so concurrent runs on different projects do not lose entries.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .store import write_atomic


def factory_home() -> Path:
    return Path(os.environ.get("FACTORY_HOME") or Path.home() / ".factory").expanduser()


class ProjectEntry(BaseModel):
    path: str
    name: str
    first_run: float = Field(default_factory=time.time)
    last_run: float = Field(default_factory=time.time)
    runs: int = 0


_ENTRIES = TypeAdapter(list[ProjectEntry], config=ConfigDict(defer_build=True))


class Registry:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or factory_home()
        self.path = self.home / "registry.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Every project's runs update the registry: one at a time, across processes."""
        self.home.mkdir(parents=True, exist_ok=True)
        with FileLock(self.home / "registry.lock", thread_local=False):
            yield

    def projects(self) -> list[ProjectEntry]:
        try:
            return _ENTRIES.validate_json(self.path.read_bytes())
        except (OSError, ValidationError):
            return []

    def record_run(self, project: Path) -> ProjectEntry:
        key = str(project.resolve())
        with self.locked():
            entries = self.projects()
            entry = next((e for e in entries if e.path == key), None)
            if entry is None:
                entry = ProjectEntry(path=key, name=project.name)
                entries.append(entry)
            entry.last_run, entry.runs = time.time(), entry.runs + 1
            write_atomic(self.path, _ENTRIES.dump_json(entries, indent=2).decode())
        return entry

    def prune(self) -> list[ProjectEntry]:
        """Forget the projects whose folder no longer exists; returns them."""
        with self.locked():
            entries = self.projects()
            gone = [entry for entry in entries if not Path(entry.path).is_dir()]
            if gone:
                kept = [entry for entry in entries if entry not in gone]
                write_atomic(self.path, _ENTRIES.dump_json(kept, indent=2).decode())
        return gone
