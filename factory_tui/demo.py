"""The bundled example project, copied into a fresh git repository for `factory demo`."""

from __future__ import annotations

import shutil
from pathlib import Path

from factory_tui.engine.errors import UsageError
from factory_tui.engine.registry import factory_home
from factory_tui.engine.store import Store
from factory_tui.engine.workspace import init_repository

EXAMPLE = "inventory"


def example_source() -> Path:
    """The example's folder: in a source checkout, or inside the installed package."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "examples" / EXAMPLE, package / "_examples" / EXAMPLE):
        if candidate.is_dir():
            return candidate
    raise UsageError("the bundled example project is missing from this installation")


def demo_home() -> Path:
    """One demo project per user, made afresh by every `factory demo` (so `factory
    projects` lists it once, however often the demo runs)."""
    return factory_home() / "demo"


def make_demo_repository(where: Path | None = None) -> Path:
    """Copy the example into `where` (or the user's demo folder, reset) and commit it;
    returns the repository."""
    parent = where.expanduser() if where else demo_home()
    target = parent / EXAMPLE
    if where is None and target.exists():
        holder = Store(target).lock.holder()
        if holder is not None:
            raise UsageError(
                f"{target}: a demo is running there (pid {holder.pid}); stop it first, or "
                "give --dir for another one"
            )
        shutil.rmtree(target)
    elif target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty")
    shutil.copytree(
        example_source(),
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    init_repository(target)
    return target
