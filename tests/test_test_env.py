"""Tests run the way the project's CI runs them: in an environment built from its declared
test dependencies, with files generated at install time, and coverage brought by the
factory. The factory's pass counts equal what the project's own pytest reports.

These build real environments with uv from PyPI (cached by uv after the first run).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import git
import pytest

from factory_tui.eval.test_env import declared, uv_binary
from factory_tui.eval.test_env import test_environment as environment_for  # not a test

from .conftest import commit_all, run_factory, write_files

pytestmark = pytest.mark.slow

# A src layout whose version file hatch-vcs generates at install time (git-ignored, as in
# the real projects), with a test extra that brings a dependency the tests import.
SRC_LAYOUT_VCS = {
    "pyproject.toml": """
        [build-system]
        requires = ["hatchling", "hatch-vcs"]
        build-backend = "hatchling.build"

        [project]
        name = "vpkg"
        dynamic = ["version"]
        requires-python = ">=3.9"

        [project.optional-dependencies]
        tests = ["pytest", "six"]

        [tool.hatch.version]
        source = "vcs"

        [tool.hatch.build.hooks.vcs]
        version-file = "src/vpkg/_version.py"
        """,
    ".gitignore": ".venv/\nsrc/vpkg/_version.py\n",
    "src/vpkg/__init__.py": """
        from ._version import __version__


        def double(x):
            return 2 * x
        """,
    "tests/test_vpkg.py": """
        import six

        import vpkg


        def test_version_comes_from_the_tag():
            assert vpkg.__version__.startswith("1.4")


        def test_double():
            assert vpkg.double(2) == 4


        def test_six_is_there():
            assert six.PY3


        def test_a_real_failure():
            assert vpkg.double(3) == 7
        """,
}

# A flat package whose own environment has pytest but not coverage.
NO_COVERAGE = {
    "pyproject.toml": '[project]\nname = "flat"\nversion = "1.0"\n',
    ".gitignore": ".venv/\n",
    "flat.py": "def inc(x):\n    return x + 1\n\n\ndef dec(x):\n    return x - 1\n",
    "test_flat.py": """
        import pytest

        from flat import dec, inc


        @pytest.mark.parametrize("x", range(20))
        def test_inc(x):
            assert inc(x) == x + 1


        def test_skipped():
            pytest.skip("not here")
        """,
}


def pytest_counts(output: str) -> dict[str, int]:
    """pytest's own summary line, "3 passed, 1 failed, 2 skipped in 0.1s", as counts."""
    summary = output.strip().splitlines()[-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}


def user_venv(root: Path, *requirements: str) -> Path:
    """The project's own .venv, made the way its README would say."""
    uv = uv_binary()
    assert uv is not None, "uv is a dependency of factory-tui"
    subprocess.run([uv, "venv", "--quiet", str(root / ".venv")], check=True, cwd=root)
    python = root / ".venv" / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), *requirements],
        check=True,
        cwd=root,
    )
    return python


def make_project(tmp_path: Path, files: dict[str, str], tag: str | None = None) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git.Repo.init(root, initial_branch="main")
    write_files(root, files)
    commit_all(root, "initial")
    if tag:
        git.Repo(root).create_tag(tag)
    return root


def test_a_src_layout_with_a_generated_version_and_test_extras(tmp_path) -> None:
    root = make_project(tmp_path, SRC_LAYOUT_VCS, tag="v1.4.0")
    assert declared(root).extras == ("tests",)
    python = user_venv(root, "-e", ".[tests]")  # the editable install points at this tree
    own = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert pytest_counts(own.stdout) == {"passed": 3, "failed": 1}, own.stdout

    result = run_factory("eval", str(root), "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    tests = next(d for d in card["dimensions"] if d["name"] == "tests")
    assert (tests["raw"]["passed"], tests["raw"]["failed"]) == (3, 1), tests["reason"]
    assert "test environment built from its [tests] extra" in tests["reason"]
    coverage = next(d for d in card["dimensions"] if d["name"] == "coverage")
    assert coverage["score"] is not None and coverage["raw"]["covered"] > 0
    # An unchanged project builds its environment once.
    envs = list((root / ".factory" / "envs").iterdir())
    assert len([e for e in envs if e.is_dir()]) == 1
    assert git.Repo(root).git.status("--porcelain") == ""  # the user's tree is untouched


def test_an_environment_without_coverage_still_counts_every_test(tmp_path) -> None:
    root = make_project(tmp_path, NO_COVERAGE)
    python = user_venv(root, "pytest")
    missing = subprocess.run([str(python), "-c", "import coverage"], capture_output=True)
    assert missing.returncode != 0  # the project's environment has no coverage.py
    own = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert pytest_counts(own.stdout) == {"passed": 20, "skipped": 1}

    card = json.loads(run_factory("eval", str(root), "--json").stdout)
    tests = next(d for d in card["dimensions"] if d["name"] == "tests")
    assert (tests["raw"]["passed"], tests["raw"]["skipped"]) == (20, 1), tests["reason"]
    assert "the project's .venv" in tests["reason"]
    coverage = next(d for d in card["dimensions"] if d["name"] == "coverage")
    assert coverage["score"] == pytest.approx(0.75)  # dec() never runs: 3 of 4 statements


def test_two_checkouts_of_one_process_take_the_environment_in_turn(tmp_path) -> None:
    """Experiments scored side by side in one process: each waits for the environment in
    turn. (FileLock alone refused the second in a worker thread that had taken it for the
    first: 'Deadlock: lock ... is already held by a different FileLock instance'.)"""
    if uv_binary() is None:
        pytest.skip("uv is not installed: no test environment is built")
    pyproject = (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "turns"\nversion = "1.0"\n\n'
        '[project.optional-dependencies]\ntests = ["pytest"]\n'
    )
    checkouts = []
    for name in ("one", "two"):
        root = tmp_path / name
        write_files(root, {"pyproject.toml": pyproject, "turns/__init__.py": ""})
        checkouts.append(root)
    state = tmp_path / "state"
    held: list[tuple[str, str]] = []

    async def take(root: Path) -> None:
        async with environment_for(root, sys.executable, state) as environment:
            held.append(("in", root.name))
            assert ".factory/envs/" in environment.note, environment.note
            await asyncio.sleep(0.3)  # the other asks meanwhile
            held.append(("out", root.name))

    async def both() -> None:
        await asyncio.gather(*(take(root) for root in checkouts))

    for _ in range(3):  # worker threads are reused at random: more than one try
        held.clear()
        asyncio.run(both())
        assert [step for step, _ in held] == ["in", "out", "in", "out"]  # one at a time
