"""The sandbox every agent process runs in, and every eval process that runs code an agent
wrote: bubblewrap (`bwrap`, the tool Flatpak and Claude Code's own Linux sandbox use).

Inside, the whole filesystem is read-only. The user's project (its tree, `.git`,
`.factory`) and the user's home are hidden behind empty folders; what a process must see is
put back on top of them: the worktree or checkout it works in (writable only where it
must write), the worktree's git metadata (read-only, so `git diff`, `status` and `log`
work), the interpreters and tools it runs. HOME and TMPDIR are private and empty. The
process gets new pid, ipc and uts namespaces, a new session (no terminal to inject keys
into), no capabilities, and dies with the engine: nothing it starts outlives it. Processes
that need no network (the eval) get none.

One class owns it; every launch that must be sandboxed goes through `Sandbox.wrap`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from .errors import UsageError

SandboxMode = Literal["auto", "off"]
INSTALL_HINT = (
    "install bubblewrap (`sudo apt install bubblewrap` on Debian or Ubuntu, `sudo dnf install "
    'bubblewrap` on Fedora), or set sandbox = "off" in .factory/config.toml to run the agents '
    "unsandboxed"
)
# Toolchains that live in a home folder: shown read-only, the rest of the home stays hidden.
TOOL_HOMES = (
    ".pyenv",
    ".local/bin",
    ".local/share/uv",
    ".local/pipx",
    ".cargo",
    ".rustup",
    "go",
    ".nvm",
    ".volta",
    ".bun",
    ".deno",
)
# Secrets inside those toolchains, covered even so.
TOOL_SECRETS = (".cargo/credentials", ".cargo/credentials.toml")
PRIVATE_HOME = "/tmp/home"
MASKED = (Path("/tmp"), Path("/var/tmp"), Path("/run"))  # private to each sandbox


@dataclass(frozen=True)
class View:
    """What one sandboxed process may see and touch beyond the read-only system."""

    writable: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()  # trees to hide (the user's project)
    network: bool = True
    home: Path | None = None  # a private home kept between launches (Claude's sessions)
    env: Mapping[str, str] = field(default_factory=dict)  # set inside, over the parent's


@functools.cache
def probe(binary: str) -> str | None:
    """None when bwrap can make a sandbox here, else why not (asked once per process)."""
    try:
        result = subprocess.run(
            [binary, *_namespaces(network=False), "--ro-bind", "/", "/", "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{binary} does not run: {error}"
    if result.returncode != 0:
        return f"{binary} cannot make a sandbox here: {result.stderr.strip()[:200]}"
    return None


def _namespaces(network: bool) -> list[str]:
    flags = [
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--cap-drop",
        "ALL",
    ]
    return flags if network else [*flags, "--unshare-net"]


class Sandbox:
    """A bubblewrap policy: `wrap` turns a command into the same command, sandboxed.

    `mode = "off"` (or no usable bwrap with `required=False`) runs commands as they are;
    `enabled` says which it is, so the front ends can say UNSANDBOXED.
    """

    def __init__(self, mode: SandboxMode = "auto", binary: str | None = None) -> None:
        self.mode = mode
        # $FACTORY_BWRAP names a bwrap elsewhere than on PATH.
        chosen = binary or os.environ.get("FACTORY_BWRAP") or "bwrap"
        self.binary = shutil.which(chosen)
        self.problem: str | None = None
        if mode == "off":
            self.problem = 'the sandbox is off (sandbox = "off")'
        elif self.binary is None:
            self.problem = f"bubblewrap ({chosen}) is not installed"
        else:
            self.problem = probe(self.binary)

    @property
    def enabled(self) -> bool:
        return self.problem is None

    def require(self, what: str) -> None:
        """Refuse to go on without a sandbox, unless the user turned it off."""
        if self.mode != "off" and not self.enabled:
            raise UsageError(f"{what} run in a sandbox, but {self.problem}: {INSTALL_HINT}")

    def wrap(
        self, argv: list[str], cwd: Path, view: View, env: Mapping[str, str] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """(argv, env) that run `argv` in `cwd` inside the sandbox `view` describes."""
        environment = dict(os.environ if env is None else env)
        if not self.enabled:
            return argv, {**environment, **view.env}
        assert self.binary is not None
        home = Path.home()
        args = [self.binary, *_namespaces(view.network), "--ro-bind", "/", "/"]
        args += ["--dev", "/dev", "--proc", "/proc"]
        hidden = _outermost(
            [*MASKED, *(p for p in (*view.hidden, home) if p != Path("/") and p.is_dir())]
        )
        for path in hidden:
            args += ["--tmpfs", str(path)]
        # Put back, read-only, what lies in a hidden tree and the process needs; writable
        # last, so a worktree inside the hidden project is writable.
        shown = [*_tools(argv, hidden, home), *_tool_homes(home), *view.readable]
        for path in _outermost(p for p in _existing(shown) if _inside(p, hidden)):
            args += ["--ro-bind", str(path), str(path)]
        for path in _existing([home / name for name in TOOL_SECRETS]):
            args += ["--ro-bind", "/dev/null", str(path)]
        for path in _outermost(_existing(view.writable)):
            args += ["--bind", str(path), str(path)]
        for path in hidden:  # the emptied trees stay empty: nothing may be written there
            if path not in MASKED:
                args += ["--remount-ro", str(path)]
        private_home = str(view.home or PRIVATE_HOME)
        if view.home is not None:
            args += ["--bind", private_home, private_home]
        else:
            args += ["--dir", private_home]
        args += ["--chdir", str(cwd)]
        environment.update({"HOME": private_home, "TMPDIR": "/tmp", **view.env})
        for key in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
            environment.pop(key, None)
        return [*args, "--", *argv], environment


def _existing(paths: Iterable[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.exists():
            seen.setdefault(str(path), path)
    return list(seen.values())


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """The paths that are not inside another one, outermost first."""
    ordered = sorted({Path(os.path.abspath(p)) for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in ordered:
        if not any(path == other or other in path.parents for other in kept):
            kept.append(path)
    return kept


def _tools(argv: list[str], hidden: list[Path], home: Path) -> list[Path]:
    """What the command needs to start: our own interpreter, the program and each existing
    absolute path among its arguments (a script, a prompt file, an interpreter), each with
    the virtualenv and the installation it belongs to, so a program kept in a hidden tree
    (a project's .venv, a home's pyenv) still runs. A script comes with its folder (the
    modules beside it), unless that folder is the user's project or home, or holds them."""
    paths = [Path(sys.executable), Path(sys.prefix), Path(sys.base_prefix)]
    program = shutil.which(argv[0]) if argv else None
    named = [program] if program else []
    named += [arg for arg in argv[1:] if os.path.isabs(arg) and os.path.exists(arg)]
    projects = [p for p in hidden if p not in MASKED]
    for name in named:
        path = Path(name)
        paths.append(path)
        folder = path.parent
        holds_private = any(folder == p or folder in p.parents for p in [*projects, home])
        if path.is_file() and not holds_private and not _inside(folder, projects):
            paths.append(folder)
        if (path.parent.parent / "pyvenv.cfg").is_file():  # .../venv/bin/python
            paths.append(path.parent.parent)
        if path.is_file() and os.access(path, os.X_OK):
            real = path.resolve()
            paths += [real.parent, *list(real.parents)[1:2]]
    return paths


def _tool_homes(home: Path) -> list[Path]:
    return [home / name for name in TOOL_HOMES]


@dataclass(frozen=True)
class Jail:
    """A sandbox with the view of one kind of process (an eval tool in its checkout),
    handed to the code that launches it; each launch may add what it alone needs."""

    sandbox: Sandbox
    view: View

    def wrap(
        self,
        argv: list[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        writable: Iterable[Path] = (),
        readable: Iterable[Path] = (),
    ) -> tuple[list[str], dict[str, str]]:
        view = replace(
            self.view,
            writable=(*self.view.writable, *writable),
            readable=(*self.view.readable, *readable),
        )
        return self.sandbox.wrap(argv, cwd, view, env)


def wrap(
    jail: Jail | None,
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    writable: Iterable[Path] = (),
    readable: Iterable[Path] = (),
) -> tuple[list[str], dict[str, str]]:
    """`argv` in `jail`, or as it is when there is none."""
    if jail is None:
        return argv, dict(env)
    return jail.wrap(argv, cwd, env, writable, readable)
