"""What the reporting commands need of a repository, read with one `git rev-parse` and no
GitPython (whose import alone costs more than the rest of `factory status`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

# Every git command the factory runs: no hooks, no fsmonitor, no pager; a hook or an
# fsmonitor planted in .git/config would otherwise run with the factory's rights.
HARDENED = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "core.pager=cat")
GIT = ("git", *(part for option in HARDENED for part in ("-c", option)))


@dataclass(frozen=True)
class Head:
    project: Path
    branch: str
    commit: str
    tree: str
    common_dir: Path  # the repository's own `.git` (shared by its worktrees)


def read_head(path: Path) -> Head:
    """The branch checked out at `path` (a repository's top folder), its commit and tree;
    a UsageError, worded as a run's would be, for every state a run cannot start from."""
    path = path.expanduser()
    if not path.exists():
        raise UsageError(f"{path}: no such directory")
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory")
    try:
        result = subprocess.run(
            [*GIT, "-C", str(path), "rev-parse", "--show-toplevel", "--git-common-dir"],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        raise UsageError(
            "git was not found on PATH; the factory keeps every change in git: "
            "install git and try again"
        ) from None
    found = result.stdout.splitlines()
    if result.returncode != 0 or len(found) != 2 or Path(found[0]).resolve() != path.resolve():
        if "work tree" in result.stderr:
            raise UsageError(f"{path}: a bare repository has no working tree to improve")
        raise UsageError(
            f"{path}: not a git repository (run again with --init to create one "
            "with a first commit)"
        )
    # An option applies to the names after it: the commit, the tree, then the branch.
    names = ("HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD")
    result = subprocess.run(
        [*GIT, "-C", str(path), "rev-parse", *names],
        capture_output=True,
        text=True,
    )
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 3:
        raise UsageError(f"{path}: the repository has no commits yet; commit once first")
    commit, tree, ref = lines
    if not ref.startswith("refs/heads/"):
        raise UsageError(f"{path}: HEAD is detached; check out a branch first")
    common_dir = (path / found[1]).resolve()  # relative to `path` when git says so
    return Head(path.resolve(), ref.removeprefix("refs/heads/"), commit, tree, common_dir)


def exclude_from_git(common_dir: Path, folder: str) -> None:
    """Hide `folder` from git through `info/exclude`, never the user's .gitignore."""
    exclude = common_dir / "info" / "exclude"
    line = f"/{folder}/"
    try:
        existing = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
        if line not in existing.splitlines():
            exclude.parent.mkdir(parents=True, exist_ok=True)
            separator = "" if not existing or existing.endswith("\n") else "\n"
            exclude.write_text(f"{existing}{separator}{line}\n", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {exclude}: {error.strerror}") from None


def tracked_changes(project: Path) -> list[str]:
    """Paths with uncommitted changes to tracked files in the working tree at `project`."""
    result = subprocess.run(
        [*GIT, "-C", str(project), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    return [line[3:] for line in result.stdout.splitlines() if line.strip()]
