"""Where a Python project's tests run: an environment built the way its CI builds one.

A project that declares its test dependencies (a `test`/`tests`/`testing` extra, a dependency
group of those names, or a test requirements file; `dev` when it names nothing narrower)
gets an environment made by uv from exactly those, cached under `.factory/envs/` by the hash
of its dependency files, so an unchanged project pays once. Each checkout under test is then
installed into it (editable, without dependencies: quick, and files generated at install
time, such as a `_version.py` from hatch-vcs, come from the install as in CI). A project
that declares none runs in its own environment, as before; so does one whose environment
cannot be built (no network, a failing build), and the reason says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sys
import time
import tomllib
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from filelock import FileLock

from factory_tui.engine.sandbox import Jail

from . import tools

OnLine = Callable[[str], None]
TEST_NAMES = ("test", "tests", "testing")
FALLBACK_NAMES = ("dev",)
REQUIREMENT_FILES = (
    "requirements-test.txt",
    "requirements-tests.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/testing.txt",
)
FALLBACK_REQUIREMENT_FILES = (
    "requirements-dev.txt",
    "dev-requirements.txt",
    "requirements/dev.txt",
)
DEPENDENCY_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "uv.lock", "requirements.txt")
RETRY_FAILED_AFTER = 3600.0  # seconds before a failed build is tried again


@dataclass(frozen=True)
class TestDependencies:
    """What the project declares for running its tests."""

    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"[{name}] extra" for name in self.extras]
        parts += [f"{name} group" for name in self.groups]
        parts += list(self.requirements)
        return ", ".join(parts)


def declared(root: Path) -> TestDependencies | None:
    """The project's declared test dependencies, or None when it declares none."""
    try:
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        pyproject = {}
    extras = pyproject.get("project", {}).get("optional-dependencies", {}) or {}
    groups = pyproject.get("dependency-groups", {}) or {}
    choices = ((TEST_NAMES, REQUIREMENT_FILES), (FALLBACK_NAMES, FALLBACK_REQUIREMENT_FILES))
    for names, files in choices:
        found = TestDependencies(
            extras=tuple(name for name in names if name in extras),
            groups=tuple(name for name in names if name in groups),
            requirements=tuple(name for name in files if (root / name).is_file()),
        )
        if found.extras or found.groups or found.requirements:
            return found
    return None


def uv_binary() -> str | None:
    """uv from our own environment first (it is a dependency), else from PATH."""
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


@dataclass
class TestEnvironment:
    """The interpreter a checkout's tests run with, why that one, and the sandbox it runs
    in (which must show the environment, read-only)."""

    python: str
    note: str
    pythonpath: list[str] = field(default_factory=list)
    jail: Jail | None = None


def environment_key(root: Path, deps: TestDependencies, base_python: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{deps!r}\n{Path(base_python).resolve()}\n".encode())
    for name in (*DEPENDENCY_FILES, *deps.requirements):
        path = root / name
        digest.update(f"{name}\n".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _builder(jail: Jail | None, folder: Path, cache: Path, root: Path) -> Jail | None:
    if jail is None:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    view = replace(
        jail.view,
        network=True,
        writable=(*jail.view.writable, folder, cache, root),
        env={**jail.view.env, "UV_CACHE_DIR": str(cache)},
    )
    return replace(jail, view=view)


def _reading(jail: Jail | None, folder: Path) -> Jail | None:
    """The tests' sandbox, with the environment they run in shown read-only."""
    if jail is None:
        return None
    return replace(jail, view=replace(jail.view, readable=(*jail.view.readable, folder)))


def own_environment(root: Path, python: str, why: str, jail: Jail | None = None) -> TestEnvironment:
    """The project's own interpreter; a src layout's folder goes first on the path, so the
    code tested is this checkout's even when that environment points at the user's tree."""
    src = root / "src"
    pythonpath = [str(src)] if src.is_dir() else []
    if tools.is_our_python(python):
        return TestEnvironment(
            python, f"the factory's environment (the project has none){why}", pythonpath, jail
        )
    home = Path(python).parent.parent.name
    return TestEnvironment(python, f"the project's {home}{why}", pythonpath, jail)


@asynccontextmanager
async def test_environment(
    root: Path,
    python: str,
    state_dir: Path | None,
    on_line: OnLine = tools.quiet,
    mode: str = "auto",
    timeout: float = 600,
    jail: Jail | None = None,
) -> AsyncIterator[TestEnvironment]:
    """The environment `root`'s tests run in, held (locked) while they run."""
    deps = declared(root) if mode == "auto" and state_dir is not None else None
    uv = uv_binary()
    if deps is None or state_dir is None:
        yield own_environment(root, python, "", jail)
        return
    if uv is None:
        yield own_environment(
            root, python, "; uv is not installed to build a test environment", jail
        )
        return
    key = environment_key(root, deps, python)
    folder = state_dir / "envs" / key
    folder.mkdir(parents=True, exist_ok=True)
    # One checkout at a time is installed into (and tested in) an environment: within this
    # process first (experiments scored side by side; FileLock refuses a second instance of
    # one path in a thread that holds it), then across processes. The file lock is taken in a
    # thread and released here, so it is not tied to a thread.
    turns = _IN_PROCESS.setdefault(asyncio.get_running_loop(), {})
    async with turns.setdefault(key, asyncio.Lock()):
        lock = FileLock(folder.parent / f"{key}.lock", thread_local=False)
        await asyncio.to_thread(lock.acquire)
        try:
            cache = state_dir / "cache" / "uv"
            installing = _installed(uv, root, python, deps, folder, cache, on_line, timeout, jail)
            async with installing as environment:
                yield environment
        finally:
            lock.release()


# Per event loop (a lock serves one loop): environment key -> who tests in it now.
_IN_PROCESS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def _installed(
    uv: str,
    root: Path,
    python: str,
    deps: TestDependencies,
    folder: Path,
    cache: Path,
    on_line: OnLine,
    timeout: float,
    jail: Jail | None,
) -> AsyncIterator[TestEnvironment]:
    """The environment at `folder`, made if needed, with the checkout `root` installed."""
    # Building runs the project's build backend: sandboxed, with the network it needs
    # to fetch packages, writing only the environment, the checkout and uv's cache.
    builder = _builder(jail, folder, cache, root)
    problem = await _ensure(uv, root, python, deps, folder, on_line, timeout, builder)
    if problem is None:
        problem = await _install_checkout(uv, root, folder, on_line, timeout, builder)
    if problem is not None:
        on_line(f"test environment: {problem}; using the project's own")
        yield own_environment(root, python, f"; the test environment failed: {problem}", jail)
        return
    yield TestEnvironment(
        str(folder / "venv" / "bin" / "python"),
        f"a test environment built from its {deps.describe()} (.factory/envs/{folder.name})",
        jail=_reading(jail, folder),
    )


async def _uv(
    uv: str, args: list[str], cwd: Path, on_line: OnLine, timeout: float, jail: Jail | None
) -> str | None:
    """Run uv; None when it succeeded, else the last thing it said."""
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        on_line(line)

    env = tools.tool_env() | {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    result = await tools.run_jailed([uv, *args], cwd, keep, jail, env=env, timeout=timeout)
    if result.timed_out:
        return f"uv {args[0]} timed out after {timeout:.0f}s"
    if result.returncode != 0:
        last = next((line for line in reversed(lines) if line.strip()), "")
        return f"uv {' '.join(args[:2])} exited {result.returncode}: {last.strip()[:200]}"
    return None


async def _ensure(
    uv: str,
    root: Path,
    python: str,
    deps: TestDependencies,
    folder: Path,
    on_line: OnLine,
    timeout: float,
    jail: Jail | None,
) -> str | None:
    """Build the environment unless it is there; a failed build is remembered for an hour."""
    ready, failed = folder / ".ready", folder / ".failed"
    if ready.exists():
        return None
    if failed.exists() and time.time() - failed.stat().st_mtime < RETRY_FAILED_AFTER:
        return failed.read_text(encoding="utf-8").strip()
    on_line(f"building the test environment from the project's {deps.describe()} (uv)")
    venv = folder / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    problem = await _uv(
        uv, ["venv", "--quiet", "--python", python, str(venv)], root, on_line, timeout, jail
    )
    if problem is None:
        target = f".[{','.join(deps.extras)}]" if deps.extras else "."
        args = ["pip", "install", "--python", str(venv / "bin" / "python"), "-e", target]
        for group in deps.groups:
            args += ["--group", group]
        for requirement in deps.requirements:
            args += ["-r", requirement]
        # The factory runs pytest under coverage: both are part of measuring, not the project.
        args += ["pytest", "coverage"]
        problem = await _uv(uv, args, root, on_line, timeout, jail)
    if problem is not None:
        failed.write_text(problem + "\n", encoding="utf-8")
        return problem
    failed.unlink(missing_ok=True)
    ready.touch()
    return None


async def _install_checkout(
    uv: str, root: Path, folder: Path, on_line: OnLine, timeout: float, jail: Jail | None
) -> str | None:
    """This checkout into the environment: editable, without its dependencies."""
    python = str(folder / "venv" / "bin" / "python")
    args = ["pip", "install", "--quiet", "--python", python, "--no-deps", "-e", "."]
    return await _uv(uv, args, root, on_line, timeout, jail)
