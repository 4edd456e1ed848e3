"""Git mechanics with GitPython: experiment branches, worktree slots, commit, keep, revert.

Each experiment gets its own branch `factory/exp-NNNN`, checked out in a worktree slot under
`.factory/worktrees/`. A slot is reused from one experiment to the next: switching a
checkout of thousands of files to a nearby commit rewrites only what differs, where adding a
fresh worktree writes every file again (measured in `benchmarks/cycle_overhead.py`). Between
experiments a slot sits detached at the base commit, reset and cleaned, so nothing of an
experiment stays on disk once it is decided.

The user's own working tree is touched exactly once per kept experiment: a fast-forward of
the base branch, refused while it has uncommitted changes to tracked files.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from .errors import FactoryError, UsageError
from .git_head import HARDENED, exclude_from_git, tracked_changes
from .store import FACTORY_DIR

EXPERIMENT_PREFIX = "factory/"
REVERTED_PREFIX = "factory/reverted/"
KEPT_PREFIX = "factory/kept/"
# Tool droppings that must never become part of an experiment's commit.
JUNK = (
    "__pycache__/**",
    "*.pyc",
    ".pytest_cache/**",
    ".ruff_cache/**",
    ".mypy_cache/**",
    ".coverage",
    ".coverage.*",
    "coverage.json",
    ".factory/**",
)
FACTORY_ACTOR = git.Actor("Factory Builder", "factory@localhost")
FACTORY_ENV = {
    "GIT_AUTHOR_NAME": FACTORY_ACTOR.name,
    "GIT_AUTHOR_EMAIL": FACTORY_ACTOR.email,
    "GIT_COMMITTER_NAME": FACTORY_ACTOR.name,
    "GIT_COMMITTER_EMAIL": FACTORY_ACTOR.email,
}


# Diffs read as text, never through an external diff or a textconv: `.gitattributes` must
# not hide a change from the guards.
DIFF_FLAGS = ("--no-color", "--no-ext-diff", "--no-textconv", "--text")


@dataclass(frozen=True)
class GitState:
    refs: dict[str, str]
    files: dict[Path, bytes]
    moves_seen: int = 0  # how many of the engine's own ref moves had happened


@dataclass(frozen=True)
class Replayed:
    """An experiment's commit replayed onto a base that moved: the new commit, or None with
    `conflict` (it does not apply) or `empty` (the base holds its change already)."""

    commit: str | None
    conflict: bool = False
    empty: bool = False


def _files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def open_repo(path: Path | str, *, search_parent_directories: bool = False) -> git.Repo:
    """A GitPython repository whose every command runs hardened."""
    repo = git.Repo(path, search_parent_directories=search_parent_directories)
    repo.git.set_persistent_git_options(c=list(HARDENED))
    return repo


class KeepRefused(FactoryError):
    """The base branch could not be moved: nothing was changed."""

    exit_code = 2


class BaseMoved(KeepRefused):
    """The base branch moved since the experiment began: the experiment is reverted."""


def _git_message(error: GitCommandError) -> str:
    text = (error.stderr or error.stdout or str(error)).strip()
    lines = [line.strip().removeprefix("stderr: ").strip("'") for line in text.splitlines()]
    lines = [line for line in lines if line]
    return lines[0].removeprefix("fatal: ").removeprefix("error: ") if lines else str(error)


def init_repository(path: Path) -> None:
    """`--init`: make `path` a git repository with a first commit of what is there."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory")
    repo = git.Repo.init(path)
    repo.git.set_persistent_git_options(c=list(HARDENED))
    repo.git.add("-A")
    with _identity(repo):
        repo.git.commit("--allow-empty", "-m", "Initial commit (factory --init)")


@contextlib.contextmanager
def _identity(repo: git.Repo) -> Iterator[None]:
    """Commit as the user when git knows who they are, else as the Factory."""
    reader = repo.config_reader()
    has_name = reader.has_option("user", "name") and reader.has_option("user", "email")
    if has_name:
        yield
        return
    with repo.git.custom_environment(**FACTORY_ENV):
        yield


class Workspace:
    """One project's git repository, opened on its current branch (the base branch)."""

    def __init__(self, repo: git.Repo, base_branch: str) -> None:
        self.repo = repo
        self.base_branch = base_branch
        self.project = Path(repo.working_tree_dir or ".").resolve()
        self.worktrees = self.project / FACTORY_DIR / "worktrees"
        # Every ref the engine itself moved, in order ((name, commit), None: deleted). With
        # several experiments at once, an unsandboxed agent's ref check must not undo the
        # engine's moves for the others made while it ran.
        self.moves: list[tuple[str, str | None]] = []
        # Several experiments at once, each in threads of its own: one `git worktree` change
        # at a time (a prune drops the records of a worktree another is adding), and no look
        # at the user's tree while a keep moves it.
        self._worktree_changes = threading.Lock()
        self._user_tree = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> Workspace:
        """Open a project for a run, refusing every state a run cannot start from."""
        path = path.expanduser()
        if not path.exists():
            raise UsageError(f"{path}: no such directory")
        if not path.is_dir():
            raise UsageError(f"{path}: not a directory")
        try:
            repo = open_repo(path, search_parent_directories=False)
        except (InvalidGitRepositoryError, NoSuchPathError):
            raise UsageError(
                f"{path}: not a git repository (run again with --init to create one "
                f"with a first commit)"
            ) from None
        if repo.bare:
            raise UsageError(f"{path}: a bare repository has no working tree to improve")
        if not repo.head.is_valid():
            raise UsageError(f"{path}: the repository has no commits yet; commit once first")
        if repo.head.is_detached:
            raise UsageError(f"{path}: HEAD is detached; check out a branch first")
        return cls(repo, repo.active_branch.name)

    # -- reading -----------------------------------------------------------------------------
    def base_commit(self) -> str:
        return str(self.repo.git.rev_parse(f"refs/heads/{self.base_branch}"))

    def tree_of(self, commit: str) -> str:
        return str(self.repo.git.rev_parse(f"{commit}^{{tree}}"))

    def resolve(self, revision: str) -> str:
        """The commit a revision names (a sha, branch, tag, HEAD~2); UsageError if none."""
        try:
            return str(
                self.repo.git.rev_parse(
                    "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"
                )
            )
        except GitCommandError:
            raise UsageError(
                f"{self.project}: no commit named {revision!r} (try a sha, a branch or a tag)"
            ) from None

    def tracked_changes(self) -> list[str]:
        """Paths with uncommitted changes to tracked files in the user's working tree."""
        return tracked_changes(self.project)

    def diff(self, base: str, commit: str) -> str:
        return str(self.repo.git.diff(base, commit, *DIFF_FLAGS))

    def diffstat(self, base: str, commit: str) -> str:
        return str(self.repo.git.diff(base, commit, "--stat", *DIFF_FLAGS))

    def changed_files(self, base: str, commit: str) -> list[str]:
        output = self.repo.git.diff(base, commit, "--name-only", "--no-renames")
        return [line for line in output.splitlines() if line]

    def file_at(self, commit: str, path: str) -> str | None:
        """A file's text at `commit`, or None when it did not exist there."""
        try:
            return str(self.repo.git.show(f"{commit}:{path}"))
        except GitCommandError:
            return None

    def main_tree_state(self) -> dict[str, tuple[int, int]]:
        """(mtime, size) of every changed or untracked file in the user's working tree, and
        HEAD: comparing two of these tells whether anything there changed in between."""
        with self._user_tree:
            head = self.repo.git.rev_parse("HEAD")
            output = self.repo.git.status("--porcelain", "--untracked-files=all", "-z")
        state: dict[str, tuple[int, int]] = {"HEAD": (hash(head), 0)}
        for entry in output.split("\0"):
            if len(entry) > 3:
                path = entry[3:]
                try:
                    info = (self.project / path).stat()
                    state[path] = (info.st_mtime_ns, info.st_size)
                except OSError:
                    state[path] = (-1, -1)
        return state

    def branch_exists(self, branch: str) -> bool:
        """One ref looked up, not every branch listed: after a month of experiments there are
        thousands of archived branches."""
        try:
            self.repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}")
        except GitCommandError:
            return False
        return True

    # -- setup -------------------------------------------------------------------------------
    def ensure_excluded(self) -> None:
        """Hide `.factory/` from git through `.git/info/exclude`, never the user's .gitignore."""
        exclude_from_git(Path(self.repo.common_dir), FACTORY_DIR)

    # -- slots -------------------------------------------------------------------------------
    def slot_path(self, name: str) -> Path:
        return self.worktrees / name

    def prepare_slot(self, name: str, commit: str) -> Path:
        """A clean checkout of `commit` (detached) in the slot, made if it does not exist."""
        path = self.slot_path(name)
        if not (path / ".git").exists():
            self._remove_worktree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._worktree_changes:
                self.repo.git.worktree("add", "--detach", "--force", str(path), commit)
            return path
        slot = open_repo(path)
        # One forced checkout both discards edits and moves to `commit`; clean drops the rest.
        slot.git.checkout("--force", "--detach", "--quiet", commit)
        slot.git.clean("-ffdxq")
        return path

    def prepare_test_slot(
        self, name: str, commit: str, base: str, is_test: Callable[[str], bool]
    ) -> tuple[Path, str]:
        """A checkout of `commit` whose tests are the base's: every path `is_test` selects
        at `base` is put back as it was there (changed or deleted ones included), and the
        tests the experiment adds stay. Returns the checkout and the tree it holds."""
        path = self.prepare_slot(name, commit)
        repo = open_repo(path)
        tests = [p for p in repo.git.ls_tree("-r", "--name-only", base).splitlines() if is_test(p)]
        for start in range(0, len(tests), 500):  # a command line of bounded length
            repo.git.checkout(base, "--", *tests[start : start + 500])
        repo.git.add("--all")
        return path, repo.git.write_tree()

    def hide_paths(self, slot: Path, matches: Callable[[str], bool]) -> list[str]:
        """Take the tracked files `matches` selects out of the slot: gone from disk, and
        flagged skip-worktree so that their absence is not a change anyone can commit."""
        repo = open_repo(slot)
        hidden = [path for path in repo.git.ls_files().splitlines() if matches(path)]
        if hidden:
            repo.git.update_index("--skip-worktree", "--", *hidden)
            for path in hidden:
                with contextlib.suppress(OSError):
                    (slot / path).unlink()
            for folder in sorted({(slot / p).parent for p in hidden}, reverse=True):
                with contextlib.suppress(OSError):  # only the ones left empty
                    folder.rmdir()
        return hidden

    def start_branch(self, slot: Path, branch: str) -> None:
        if self.branch_exists(branch):
            raise FactoryError(f"branch {branch} already exists; the experiment id was reused")
        repo = open_repo(slot)
        repo.git.switch("--quiet", "-c", branch)
        self.moves.append((f"refs/heads/{branch}", repo.head.commit.hexsha))

    def stage_slot(self, slot: Path) -> str:
        """Stage everything the Builder changed in the slot; returns the staged diff (what
        a commit would hold), so it can be refused before it is ever committed."""
        repo = open_repo(slot)
        excludes = [f":(exclude,glob)**/{pattern}" for pattern in JUNK]
        repo.git.add("--all", "--", ".", *excludes)
        return str(repo.git.diff("--cached", *DIFF_FLAGS))

    def commit_slot(self, slot: Path, message: str) -> str | None:
        """Commit everything the Builder changed in the slot; None when nothing changed."""
        repo = open_repo(slot)
        excludes = [f":(exclude,glob)**/{pattern}" for pattern in JUNK]
        repo.git.add("--all", "--", ".", *excludes)
        if not repo.git.diff("--cached", "--name-only"):
            return None
        with repo.git.custom_environment(**FACTORY_ENV):
            repo.git.commit("--quiet", "--no-verify", "-m", message)
        self._moved_head(repo)
        return repo.head.commit.hexsha

    def _moved_head(self, repo: git.Repo) -> None:
        if not repo.head.is_detached:
            self.moves.append((repo.head.ref.path, repo.head.commit.hexsha))

    def replay(self, slot: Path, commit: str, onto: str) -> Replayed:
        """Put the experiment's change (`commit`, one commit on its base) on `onto`, in the
        slot, on the branch checked out there. A change that does not apply leaves the
        branch at `commit`, for the record of what was tried."""
        repo = open_repo(slot)
        branch = repo.head.ref.name
        repo.git.checkout("--force", "--quiet", "-B", branch, onto)
        try:
            with repo.git.custom_environment(**FACTORY_ENV):
                repo.git.cherry_pick("--allow-empty", "--keep-redundant-commits", commit)
        except GitCommandError:
            with contextlib.suppress(GitCommandError):
                repo.git.cherry_pick("--abort")
            repo.git.checkout("--force", "--quiet", "-B", branch, commit)
            self._moved_head(repo)
            return Replayed(None, conflict=True)
        self._moved_head(repo)
        new = repo.head.commit.hexsha
        if repo.git.rev_parse(f"{new}^{{tree}}") == repo.git.rev_parse(f"{onto}^{{tree}}"):
            return Replayed(new, empty=True)
        return Replayed(new)

    def clean_slot(self, slot: Path) -> None:
        """The slot exactly at its commit: what a Builder left uncommitted (ignored files
        included) is gone, so the Reviewer reads the commit and nothing else."""
        repo = open_repo(slot)
        repo.git.checkout("--force", "--quiet", "HEAD")
        repo.git.clean("-ffdxq")

    def release_slot(self, slot: Path, commit: str) -> None:
        """Detach the slot at `commit`, dropping the experiment's edits, so its branch can be
        archived. Untracked droppings go at the next `prepare_slot`."""
        if not (slot / ".git").exists():
            return
        open_repo(slot).git.checkout("--force", "--detach", "--quiet", commit)

    @contextlib.contextmanager
    def temporary_checkout(self, commit: str) -> Iterator[Path]:
        """A throwaway detached worktree of `commit`, removed afterwards."""
        parent = Path(tempfile.mkdtemp(prefix="factory-checkout-"))
        path = parent / self.project.name
        try:
            with self._worktree_changes:
                self.repo.git.worktree("add", "--detach", "--force", str(path), commit)
            yield path
        finally:
            self._remove_worktree(path)
            shutil.rmtree(parent, ignore_errors=True)

    def remove_slot(self, name: str) -> None:
        self._remove_worktree(self.slot_path(name))

    def bundle(self, commit: str, since: str | None = None) -> bytes:
        """A git bundle of `commit` (as `refs/heads/factory/bundled`), with only what `since`
        lacks when given: how an experiment's base goes to another machine and its commit
        comes back."""
        ref = "refs/heads/factory/bundled"
        with tempfile.TemporaryDirectory(prefix="factory-bundle-") as scratch:
            path = Path(scratch) / "bundle"
            repo = self.repo
            repo.git.update_ref(ref, commit)
            try:
                repo.git.bundle(
                    "create", "--quiet", str(path), ref, *([f"^{since}"] if since else [])
                )
            finally:
                repo.git.update_ref("-d", ref)
            return path.read_bytes()

    def import_bundle(self, data: bytes, branch: str) -> str:
        """Fetch a bundle's commit as `branch` (made by `bundle`); returns the commit."""
        with tempfile.TemporaryDirectory(prefix="factory-bundle-") as scratch:
            path = Path(scratch) / "bundle"
            path.write_bytes(data)
            self.repo.git.fetch(
                "--quiet", str(path), f"refs/heads/factory/bundled:refs/heads/{branch}"
            )
        commit = str(self.repo.git.rev_parse(f"refs/heads/{branch}"))
        self.moves.append((f"refs/heads/{branch}", commit))
        return commit

    def check_out_branch(self, slot: Path, branch: str) -> None:
        """Put `branch` (one that exists) in the slot, for its verdict to move and archive."""
        open_repo(slot).git.checkout("--force", "--quiet", branch)

    def slot_names(self) -> list[str]:
        """The slots there are on disk (a parallel run leaves several)."""
        if not self.worktrees.is_dir():
            return []
        return sorted(path.name for path in self.worktrees.iterdir())

    def _remove_worktree(self, path: Path) -> None:
        with self._worktree_changes:
            with contextlib.suppress(GitCommandError):
                self.repo.git.worktree("remove", "--force", "--force", str(path))
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(GitCommandError):
                self.repo.git.worktree("prune")

    # -- verdicts ----------------------------------------------------------------------------
    def keep(self, branch: str, expected: str) -> str:
        """Move the base branch to the experiment's commit; returns it.

        Only when the base branch still points where it did when the experiment began
        (`expected`): the move is a compare-and-swap, and a fast-forward. The user's history
        is never rewritten, and a refused keep changes nothing.
        """
        with self._user_tree:
            return self._keep(branch, expected)

    def _keep(self, branch: str, expected: str) -> str:
        dirty = self.tracked_changes()
        if dirty:
            raise KeepRefused(
                f"{self.project}: uncommitted changes to tracked files ({', '.join(dirty[:3])}"
                f"{', ...' if len(dirty) > 3 else ''}); {branch} was not kept: commit or stash "
                f"your changes, then merge {branch} by hand or run again"
            )
        target = str(self.repo.git.rev_parse(branch))
        ref = f"refs/heads/{self.base_branch}"
        checked_out = (
            not self.repo.head.is_detached and self.repo.active_branch.name == self.base_branch
        )
        try:
            if checked_out:  # the working tree follows: a fast-forward from `expected` only
                if self.base_commit() != expected:
                    raise BaseMoved(self._moved(expected))
                self.repo.git.merge("--ff-only", "--quiet", target)
            else:
                self.repo.git.update_ref(ref, target, expected)
            self.moves.append((ref, target))
        except GitCommandError as error:
            if self.base_commit() != expected:
                raise BaseMoved(self._moved(expected)) from None
            raise KeepRefused(f"cannot move {self.base_branch}: {_git_message(error)}") from None
        return target

    def _moved(self, expected: str) -> str:
        return (
            f"{self.base_branch} moved from {expected[:10]} to {self.base_commit()[:10]} since "
            "the experiment began; its change was measured against the old base and is not kept"
        )

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            # GitPython types the revisions as Commit; it passes them to `git merge-base`,
            # which takes any revision, a sha included.
            return self.repo.is_ancestor(ancestor, descendant)  # type: ignore[arg-type]
        except GitCommandError:
            return False

    # -- what an unsandboxed agent may have touched ------------------------------------------
    def git_state(self) -> GitState:
        """The refs, and the files of .git that make git run things (config, hooks, info)."""
        files = {}
        for path in self._runnable_git_files():
            with contextlib.suppress(OSError):
                files[path] = path.read_bytes()
        return GitState(self.refs(), files, len(self.moves))

    def _runnable_git_files(self) -> list[Path]:
        common = Path(self.repo.common_dir)
        return [common / "config", *_files_below(common / "hooks"), *_files_below(common / "info")]

    def restore_git_state(self, before: GitState) -> list[str]:
        """Put back .git's config, hooks and info files, and undo what happened to the
        refs (see `restore_refs`). Returns what was found, one line each."""
        common = Path(self.repo.common_dir)
        found = []
        now = {p: p.read_bytes() for p in self._runnable_git_files() if p.is_file()}
        for path in sorted(now.keys() - before.files.keys()):
            path.unlink()
            found.append(f"{path.relative_to(common)} was added to .git: removed")
        for path, data in sorted(before.files.items()):
            if now.get(path) != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                found.append(f"{path.relative_to(common)} in .git was changed: restored")
        refs = dict(before.refs)
        for name, commit in self.moves[before.moves_seen :]:  # the engine's, not the agent's
            if commit is None:
                refs.pop(name, None)
            else:
                refs[name] = commit
        return found + self.restore_refs(refs)

    # -- refs an agent may have touched ------------------------------------------------------
    def refs(self) -> dict[str, str]:
        """Every ref of the repository and the commit it points at."""
        output = self.repo.git.for_each_ref("--format=%(objectname) %(refname)")
        return {name: sha for sha, name in (line.split(" ", 1) for line in output.splitlines())}

    def restore_refs(self, before: dict[str, str]) -> list[str]:
        """Undo what happened to the refs since `before`, as far as it cannot be the user's
        own work: created refs removed, deleted ones recreated, refs moved anywhere but
        forward moved back. A fast-forward (perhaps the user committing) is only reported.
        Returns what was found, one line each."""
        after = self.refs()
        found = []
        for name in sorted(after.keys() - before.keys()):
            self.repo.git.update_ref("-d", name, after[name])
            found.append(f"{name} was created ({after[name][:10]}): removed")
        for name in sorted(before.keys() - after.keys()):
            self.repo.git.update_ref(name, before[name])
            found.append(f"{name} was deleted: restored at {before[name][:10]}")
        for name in sorted(before.keys() & after.keys()):
            old, new = before[name], after[name]
            if old == new:
                continue
            if self.is_ancestor(old, new):
                found.append(f"{name} moved forward {old[:10]} -> {new[:10]}: left as it is")
            else:
                self.repo.git.update_ref(name, old, new)
                found.append(f"{name} was moved to {new[:10]}: restored at {old[:10]}")
        return found

    def archive_branch(self, branch: str, prefix: str) -> str | None:
        """Rename `factory/exp-NNNN` to `<prefix>exp-NNNN`; returns the new name. A branch
        already archived (kept or reverted) is never renamed again."""
        if not branch.startswith(EXPERIMENT_PREFIX + "exp-") or not self.branch_exists(branch):
            return None
        name = prefix + branch.removeprefix(EXPERIMENT_PREFIX)
        if self.branch_exists(name):
            self.repo.git.branch("-D", name)
        self.repo.git.branch("-m", branch, name)
        self.moves.append((f"refs/heads/{branch}", None))
        self.moves.append((f"refs/heads/{name}", self.repo.git.rev_parse(f"refs/heads/{name}")))
        return name
