"""The bundled example project, copied into a fresh git repository for `factory demo`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from factory_tui.engine.errors import UsageError
from factory_tui.engine.workspace import init_repository

EXAMPLE = "inventory"


def example_source() -> Path:
    """The example's folder: in a source checkout, or inside the installed package."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "examples" / EXAMPLE, package / "_examples" / EXAMPLE):
        if candidate.is_dir():
            return candidate
    raise UsageError("the bundled example project is missing from this installation")


def make_demo_repository(where: Path | None = None) -> Path:
    """Copy the example into `where` (or a new temp folder) and commit it; returns the repo."""
    parent = where.expanduser() if where else Path(tempfile.mkdtemp(prefix="factory-demo-"))
    target = parent / EXAMPLE
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty")
    shutil.copytree(
        example_source(),
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    init_repository(target)
    return target
