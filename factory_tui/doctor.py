"""`factory doctor`: what this machine has for each runtime, and how to fix what is missing."""

from __future__ import annotations

import json
import shutil
import socket
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


# Asked in a child process: connecting to a cluster that is not there can take a while.
RAY_PROBE = """
import json, logging, sys
import ray
ray.init(address=sys.argv[1] or "auto", logging_level=logging.ERROR, log_to_driver=False)
nodes = [node for node in ray.nodes() if node["Alive"]]
print(json.dumps({"nodes": len(nodes), "cpus": ray.cluster_resources().get("CPU", 0)}))
"""


def ray_cluster(executor: str, address: str | None) -> Finding:
    """Ray, and the cluster a run would build experiments on (`[run] executor = "ray"`)."""
    try:
        import ray
    except ImportError:
        return Finding(
            "ray",
            executor != "ray",
            "not installed" + (", and [run] executor is ray" if executor == "ray" else ""),
            "pip install 'factory-tui[ray]' (on every node of the cluster)",
            required=executor == "ray",
        )
    where = address or "auto (a cluster started on this machine)"
    if executor != "ray" and not address:
        return Finding("ray", True, f"ray {ray.__version__}; not used: [run] executor is local")
    fix = (
        "start one (`ray start --head`, then `ray start --address HEAD:6379` on each node) "
        "or set [run] ray_address / RAY_ADDRESS"
    )
    if address and not _reachable(address):  # Ray itself would retry for a minute
        return Finding(
            "ray", False, f"no Ray cluster at {where}: nothing answers", fix, executor == "ray"
        )
    try:
        probe = subprocess.run(
            [sys.executable, "-c", RAY_PROBE, address or ""],
            capture_output=True,
            text=True,
            timeout=30,
        )
        answer = json.loads(probe.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        last = ""
        if "probe" in locals():
            lines = [line for line in probe.stderr.splitlines() if line.strip()]
            last = f": {lines[-1][:160]}" if lines else ""
        return Finding("ray", False, f"no Ray cluster at {where}{last}", fix, executor == "ray")
    return Finding(
        "ray",
        True,
        f"ray {ray.__version__}; the cluster at {where}: {answer['nodes']} node(s), "
        f"{answer['cpus']:g} CPU(s)" + ("" if executor == "ray" else " (executor local)"),
    )


def _reachable(address: str) -> bool:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return True
    except (OSError, ValueError):
        return False


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
