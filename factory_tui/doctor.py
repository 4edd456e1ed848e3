"""`factory doctor`: what this machine has for each runtime, and how to fix what is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass

from factory_tui.agents.claude import claude_credentials, claude_version, installed_elsewhere
from factory_tui.engine.sandbox import INSTALL_HINT, Sandbox
from factory_tui.eval import tools


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # False: needed only for the claude and command runtimes


def _version(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0] if result.returncode == 0 and text else None


def diagnose(claude: str = "claude") -> list[Finding]:
    found: list[Finding] = []
    git = _version(["git", "--version"])
    found.append(
        Finding("git", git is not None, git or "not found", "install git (e.g. `apt install git`)")
    )
    ruff = tools.ruff_binary()
    ruff_version = _version([ruff, "--version"]) if ruff else None
    found.append(
        Finding(
            "ruff",
            ruff_version is not None,
            ruff_version or "not found",
            "reinstall factory-tui (`pip install factory-tui`), which brings ruff",
        )
    )
    pytest = _version([sys.executable, "-m", "pytest", "--version"])
    found.append(
        Finding(
            "pytest",
            pytest is not None,
            pytest or "not found",
            "reinstall factory-tui, which brings pytest",
        )
    )
    sandbox = Sandbox("auto")
    bwrap = _version([sandbox.binary, "--version"]) if sandbox.binary else None
    found.append(
        Finding(
            "sandbox",
            sandbox.enabled,
            f"{bwrap}: agents run sandboxed" if sandbox.enabled else str(sandbox.problem),
            INSTALL_HINT,
            required=False,
        )
    )
    # Found exactly as the runtime finds it: the configured name, on PATH or as a path.
    binary = shutil.which(claude)
    version = claude_version(binary) if binary else None
    elsewhere = [path for path in installed_elsewhere() if path != binary]
    fix = "npm install -g @anthropic-ai/claude-code, or set [agents] claude in .factory/config.toml"
    if version is None and elsewhere:
        fix = (
            f'one is installed at {elsewhere[0]}: set claude = "{elsewhere[0]}" under '
            "[agents] in .factory/config.toml, or put its folder on PATH"
        )
    found.append(
        Finding(
            "claude",
            version is not None,
            f"{version} at {binary} (as [agents] claude = {claude!r})"
            if version
            else f"{claude!r} not found on PATH",
            fix,
            required=False,
        )
    )
    credentials = claude_credentials()
    found.append(
        Finding(
            "claude credentials",
            credentials is not None,
            f"from {credentials}" if credentials else "no API key and no login",
            "export ANTHROPIC_API_KEY=... or run `claude` once and /login",
            required=False,
        )
    )
    return found
