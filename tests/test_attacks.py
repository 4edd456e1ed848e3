"""Hostile agents, through the real command runtime and the sandbox: whatever an agent
tries, the user's refs, tree (tracked, untracked and ignored files), .git/config, .git/hooks
and home come out byte for byte the same, no process is left behind, and the record
matches git after every signal."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from factory_tui.engine.store import Store

from .conftest import (
    FIXABLE,
    ROOT,
    TRAP,
    commit_all,
    run_factory,
    scripted_config,
    start_factory,
)
from .support.procs import MARK, marked, new_mark, wait_gone

pytestmark = pytest.mark.usefixtures("sandbox")
SECRET = "aws_secret_access_key = HOME-SECRET-0123456789"


@dataclass
class UserState:
    """Everything of the user's that no agent may change."""

    refs: str
    files: dict[str, str]
    git: dict[str, str]
    home: dict[str, str]

    @classmethod
    def of(cls, root: Path, home: Path) -> UserState:
        refs = git.Repo(root).git.for_each_ref("--format=%(objectname) %(refname)")
        return cls(
            # The factory's own record of experiments aside: refs/heads/factory/...
            refs="\n".join(
                line for line in refs.splitlines() if " refs/heads/factory/" not in line
            ),
            files=_digests(root, skip=(".git", ".factory")),
            git=_digests(root / ".git", only=("config", "hooks", "info", "HEAD")),
            home=_digests(home),
        )


def _digests(folder: Path, skip=(), only=None) -> dict[str, str]:
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in skip or (only and relative.parts[0] not in only):
            continue
        if path.is_symlink() or path.is_file():
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            found[relative.as_posix()] = hashlib.sha256(data).hexdigest()
    return found


@pytest.fixture
def victim(make_repo, tmp_path) -> tuple[Path, Path]:
    """A project with untracked and ignored files of the user's, and a home with a secret."""
    root = make_repo({**TRAP, ".gitignore": ".venv/\n"})
    (root / "README.md").write_text("# flags\n")
    commit_all(root, "a second commit, for an agent to rewind")
    (root / "notes.txt").write_text("my untracked notes\n")
    (root / "notes").mkdir()
    (root / "notes" / "draft.md").write_text("# draft\n")
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "mine.pth").write_text("# the user's own\n")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(f"[default]\n{SECRET}\n")
    (home / ".bashrc").write_text("# the user's\n")
    scripted_config(root)
    # The factory's own first touch of .git (/.factory/ in info/exclude) happens here.
    assert run_factory("eval", str(root)).returncode == 0
    return root, home


def attack_env(root: Path, home: Path, role: str, attack: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "ATTACK_PROJECT": str(root),
        "ATTACK_HOME": str(home),
        "SCRIPTED_AGENT": f"{role}=attack",
        "SCRIPTED_ATTACK": attack,
        MARK: new_mark(),
    }


ATTACKS = [
    ("archivist", "delete_untracked"),
    ("archivist", "overwrite_tracked"),
    ("researcher", "escape_absolute+overwrite_tracked"),
    ("reviewer", "write_state+delete_untracked"),
    ("builder", "escape_relative"),
    ("builder", "escape_absolute"),
    ("builder", "write_home"),
    ("builder", "poison_venv"),
    ("builder", "write_state"),
    ("builder", "rewind_main"),
    ("builder", "new_refs"),
    ("builder", "plant_hooks"),
    ("builder", "fsmonitor"),
    ("builder", "background_child"),
    ("builder", "evil_test"),
]


@pytest.mark.parametrize(("role", "attack"), ATTACKS, ids=[f"{r}-{a}" for r, a in ATTACKS])
def test_an_attack_changes_nothing_of_the_users(victim, role, attack) -> None:
    root, home = victim
    before = UserState.of(root, home)
    env = attack_env(root, home, role, attack)
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert wait_gone(env[MARK]) == []  # nothing the agent started outlives it
    time.sleep(1.0 if attack == "background_child" else 0)  # a child would write by now
    assert UserState.of(root, home) == before
    for marker in ("hook-ran", "fsmonitor-ran", "escape.txt"):
        assert not (root.parent / marker).exists(), marker
    assert not Path("/tmp/pth-ran").exists()
    [experiment] = Store(root).experiments()
    assert experiment.status == "reverted", experiment.verdict.reason  # greet.py improves nothing


def test_a_secret_in_the_users_home_is_never_seen(victim) -> None:
    root, home = victim
    env = attack_env(root, home, "researcher", "read_secrets")
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    assert result.returncode == 0
    logs = "".join(p.read_text() for p in (root / ".factory").rglob("*.log"))
    events = (root / ".factory" / "events.jsonl").read_text()
    for text in (result.stdout, logs, events):
        assert "HOME-SECRET" not in text


@pytest.mark.parametrize(
    ("attack", "guard"),
    [("symlink_out", "guard: symlinks inside"), ("gitattributes", "guard: how files are read")],
)
def test_what_a_sandbox_cannot_see_a_guard_does(victim, attack, guard) -> None:
    root, home = victim
    before = UserState.of(root, home)
    result = run_factory(
        "ceo",
        str(root),
        "--headless",
        "--cycles",
        "1",
        env=attack_env(root, home, "builder", attack),
    )
    assert result.returncode == 0
    [experiment] = Store(root).experiments()
    failed = [c.name for c in experiment.verdict.checks if not c.ok]
    assert any(name.startswith(guard) for name in failed), experiment.verdict.reason
    assert UserState.of(root, home) == before


def test_escape_sequences_never_reach_the_terminal(victim) -> None:
    root, home = victim
    env = {
        **attack_env(root, home, "builder", "escape_sequences"),
        "SCRIPTED_SUMMARY": "done \x1b]0;owned\x07\x1b[5mblink",
    }
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    assert result.returncode == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "red" in result.stdout and "cleared" in result.stdout  # the text itself stays
    # Stored as plain text too: the raw sequences the agent printed are not in the log
    # (JSON would show them as \u001b), nor in the record of what its JSON said.
    events = (root / ".factory" / "events.jsonl").read_text()
    assert "pwned title" not in events  # an OSC sequence goes whole, with its payload
    assert "red \\u001b" not in events and "red  cleared" in events
    [experiment] = Store(root).experiments()
    assert experiment.builder_summary == "done blink"


def test_an_agent_dies_with_the_engine(victim) -> None:
    root, home = victim
    env = attack_env(root, home, "builder", "hang_after_writing")
    process = start_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    slot = root / ".factory" / "worktrees" / "slot-1"
    deadline = time.monotonic() + 60
    while not (slot / "still-here.txt").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    assert marked(env[MARK])
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_gone(env[MARK]) == []  # --die-with-parent: gone with the engine
    written = (slot / "still-here.txt").read_text()
    time.sleep(0.5)
    assert (slot / "still-here.txt").read_text() == written  # nobody writes any more
    assert not (root / "still-here.txt").exists()


# -- the record matches git after every signal ----------------------------------------------
SIGNAL_AT = Path(__file__).parent / "support" / "signal_at.py"


@pytest.mark.parametrize("point", ["keep", "release_slot", "archive_branch"])
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_a_signal_during_a_keep_leaves_a_record_that_matches_git(make_repo, point, sig) -> None:
    root = make_repo(FIXABLE)
    command = [sys.executable, str(SIGNAL_AT), point, sig, "ceo", str(root), "--headless", "-q"]
    subprocess.run(command, capture_output=True, timeout=120, cwd=ROOT)
    # The next run reconciles what the killed one could not record.
    run_factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    repo = git.Repo(root)
    [first, *_] = Store(root).experiments()
    assert repo.head.commit.hexsha != first.base_commit  # the keep happened...
    assert repo.is_ancestor(first.commit, repo.head.commit)
    assert first.status == "kept", first.verdict  # ...and the record says so
    heads = [head.name for head in repo.heads]
    assert "factory/kept/exp-0001" in heads
    assert not [name for name in heads if name.startswith("factory/reverted/")]
    assert repo.git.status("--porcelain") == ""


def test_unsandboxed_the_factory_undoes_what_an_agent_did_to_git(victim) -> None:
    """sandbox = "off": the agent reaches .git; the factory puts back the refs, the config
    and the hooks it changed, and says so."""
    root, home = victim
    config = root / ".factory" / "config.toml"
    config.write_text(
        config.read_text().replace(
            'runtime = "command"\n', 'runtime = "command"\nsandbox = "off"\n'
        )
    )
    before = UserState.of(root, home)
    env = attack_env(root, home, "builder", "rewind_main+new_refs+plant_hooks+fsmonitor")
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert "UNSANDBOXED" in result.stdout
    assert (
        "refs/heads/main was moved" in result.stdout and "refs/tags/attacker-tag" in result.stdout
    )
    assert "hooks/post-commit was added to .git: removed" in result.stdout
    after = UserState.of(root, home)
    assert (after.refs, after.git) == (before.refs, before.git)
    assert not (root.parent / "hook-ran").exists() and not (root.parent / "fsmonitor-ran").exists()
