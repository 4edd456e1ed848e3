"""The project's own code passes its linter and formatter."""

from __future__ import annotations

import subprocess

from factory_tui.eval.tools import ruff_binary

from .conftest import ROOT

PATHS = ["factory_tui", "tests", "benchmarks"]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [ruff_binary(), "check", "--no-cache", *PATHS], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_the_code_is_formatted() -> None:
    result = subprocess.run(
        [ruff_binary(), "format", "--check", "--no-cache", *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
