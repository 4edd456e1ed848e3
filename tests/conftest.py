"""Shared fixtures: real git repositories in temporary folders, and the `factory` CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from factory_tui.engine.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "inventory"
SCRIPTED_AGENT = Path(__file__).parent / "support" / "scripted_agent.py"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
# Only rules whose results do not move between ruff releases.
RUFF_CONFIG = '[tool.ruff.lint]\nselect = ["E4", "E7", "E9", "F"]\n'


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    # Keep the user's ~/.factory out of tests.
    monkeypatch.setenv("FACTORY_HOME", str(tmp_path / "factory-home"))


def commit_all(path: Path, message: str = "commit") -> str:
    repo = git.Repo(path)
    repo.git.add("-A")
    repo.git.commit("-m", message, "--allow-empty")
    return repo.head.commit.hexsha


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A git repository with the given files committed on branch `main`."""

    def make(files: dict[str, str], name: str = "project") -> Path:
        root = tmp_path / name
        root.mkdir()
        git.Repo.init(root, initial_branch="main")
        write_files(root, files)
        commit_all(root, "initial")
        return root

    return make


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    root = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, root)
    git.Repo.init(root, initial_branch="main")
    commit_all(root, "initial")
    return root


# A project whose only offline hypothesis is a safe fix: the experiment is kept.
FIXABLE = {
    "pyproject.toml": RUFF_CONFIG,
    "calc/__init__.py": "",
    "calc/core.py": """
        import os


        def add(a, b):
            return a + b
        """,
    "tests/test_core.py": """
        from calc.core import add


        def test_add():
            assert add(2, 3) == 5
        """,
}

# A project whose only offline hypothesis breaks a test: the experiment is reverted.
TRAP = {
    "pyproject.toml": RUFF_CONFIG,
    "flags/__init__.py": "",
    "flags/core.py": """
        def is_on(value):
            return value == True
        """,
    "tests/test_core.py": """
        from flags.core import is_on


        def test_integer_flags_read_as_booleans():
            assert is_on(1) is True
        """,
}


def run_factory(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The real `factory` CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "factory_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class FactoryProcess(subprocess.Popen[str]):
    """A factory process in the background. Its output goes to files, not pipes: a test that
    only waits for it must never leave it blocked on a full pipe (a headless run prints more
    than a pipe holds before its Builder starts)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        # Open as long as the process object lives (Popen has its own `errors`, hence names).
        self.out_file = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.err_file = tempfile.TemporaryFile("w+")  # noqa: SIM115
        super().__init__(
            argv,
            text=True,
            stdout=self.out_file,
            stderr=self.err_file,
            env=env,
            # A suite started in the background (`make test &`) ignores SIGINT, and a child
            # inherits that: the factory must get Ctrl-C the way a terminal sends it.
            preexec_fn=_default_sigint,
        )

    def communicate(
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str, str]:
        self.wait(timeout)
        texts = []
        for handle in (self.out_file, self.err_file):
            handle.seek(0)
            texts.append(handle.read())
        return texts[0], texts[1]


def start_factory(*args: str, env: dict[str, str] | None = None) -> FactoryProcess:
    return FactoryProcess(
        [sys.executable, "-m", "factory_tui", *args], env={**os.environ, **(env or {})}
    )


def sandbox_usable() -> bool:
    """Whether bubblewrap can sandbox agents here; `make test` requires it where it could
    install it (FACTORY_REQUIRE_SANDBOX=1), and a test run without it says so."""
    if Sandbox("auto").enabled:
        return True
    if os.environ.get("FACTORY_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"the sandbox is required but unusable: {Sandbox('auto').problem}")
    return False


@pytest.fixture
def sandbox() -> None:
    """For the tests of the sandbox itself: skipped, visibly, where bwrap cannot run."""
    if not sandbox_usable():
        pytest.skip(f"bubblewrap cannot sandbox here: {Sandbox('auto').problem}")


def scripted_config(root: Path, extra: str = "") -> None:
    """Point the project at the scripted agent through the command runtime (sandboxed; on a
    machine where bubblewrap cannot run, unsandboxed, as `sandbox = "off"` would)."""
    config = root / ".factory" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    off = "" if sandbox_usable() else 'sandbox = "off"\n'
    config.write_text(
        f'runtime = "command"\n{off}[agents]\n'
        f'command = "{sys.executable} {SCRIPTED_AGENT} {{role}} {{prompt_file}}"\n' + extra,
        encoding="utf-8",
    )


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the working tree outside .git and .factory, byte for byte."""
    snapshot = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in (".git", ".factory") or not path.is_file():
            continue
        snapshot[relative.as_posix()] = path.read_bytes()
    return snapshot


CLAUDE_BIN = ROOT / ".tools" / "node_modules" / ".bin" / "claude"


@pytest.fixture
def claude_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pinned Claude Code CLI, isolated in a throwaway home and kept off the network.

    Point it at a scripted server by setting ANTHROPIC_BASE_URL. Skipped (visibly) when the
    CLI is not installed; `make test` installs it wherever npm exists and then requires it.
    """
    if not CLAUDE_BIN.exists():
        if os.environ.get("FACTORY_REQUIRE_CLAUDE") == "1":
            pytest.fail(f"the Claude Code CLI is required but missing at {CLAUDE_BIN}")
        pytest.skip("the Claude Code CLI is not installed (`make tools` needs npm)")
    home = tmp_path / "claude-home"
    for folder in ("config", "run", "tmp"):
        (home / folder).mkdir(parents=True)
    isolated = {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / "config"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "CLAUDE_CODE_TMPDIR": str(home / "tmp"),
        "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "API_TIMEOUT_MS": "30000",
    }
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    return CLAUDE_BIN


def claude_config(root: Path, extra: str = "") -> None:
    """Point a project at the pinned CLI through the claude runtime."""
    config = root / ".factory" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'runtime = "claude"\n[agents]\nclaude = "{CLAUDE_BIN}"\nretry_backoff = 0\n{extra}',
        encoding="utf-8",
    )
