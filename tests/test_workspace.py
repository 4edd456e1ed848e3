"""Git mechanics on real repositories: opening, slots, commits, keep and revert."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from factory_tui.engine.errors import UsageError
from factory_tui.engine.workspace import BaseMoved, KeepRefused, Workspace, init_repository

from .conftest import commit_all


def test_open_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such directory"):
        Workspace.open(tmp_path / "nope")


def test_open_refuses_a_folder_that_is_not_a_repository_and_suggests_init(tmp_path):
    with pytest.raises(UsageError, match=r"not a git repository.*--init"):
        Workspace.open(tmp_path)


def test_open_refuses_a_repository_without_commits(tmp_path: Path) -> None:
    git.Repo.init(tmp_path)
    with pytest.raises(UsageError, match="no commits"):
        Workspace.open(tmp_path)


def test_open_refuses_a_detached_head(make_repo) -> None:
    root = make_repo({"a.txt": "a"})
    repo = git.Repo(root)
    repo.git.checkout("--detach")
    with pytest.raises(UsageError, match="detached"):
        Workspace.open(root)


def test_init_makes_a_repository_with_a_first_commit(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("print('hi')\n")
    init_repository(tmp_path)
    workspace = Workspace.open(tmp_path)
    assert "hello.py" in workspace.repo.git.ls_files().splitlines()


def test_factory_folder_is_excluded_through_info_exclude_not_gitignore(make_repo) -> None:
    root = make_repo({".gitignore": "*.log\n", "a.txt": "a"})
    workspace = Workspace.open(root)
    workspace.ensure_excluded()
    workspace.ensure_excluded()
    exclude = (root / ".git" / "info" / "exclude").read_text()
    assert exclude.count("/.factory/") == 1
    assert (root / ".gitignore").read_text() == "*.log\n"
    (root / ".factory").mkdir()
    (root / ".factory" / "x.json").write_text("{}")
    assert workspace.repo.git.status("--porcelain") == ""


def _experiment(workspace: Workspace, name: str, files: dict[str, str]) -> tuple[Path, str]:
    base = workspace.base_commit()
    slot = workspace.prepare_slot("slot-1", base)
    workspace.start_branch(slot, f"factory/{name}")
    for path, text in files.items():
        (slot / path).write_text(text)
    commit = workspace.commit_slot(slot, f"experiment {name}")
    assert commit is not None
    return slot, commit


def test_commit_leaves_tool_droppings_out(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    workspace = Workspace.open(root)
    slot = workspace.prepare_slot("slot-1", workspace.base_commit())
    workspace.start_branch(slot, "factory/exp-0001")
    (slot / "__pycache__").mkdir()
    (slot / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (slot / ".coverage").write_text("")
    assert workspace.commit_slot(slot, "nothing real") is None
    (slot / "a.py").write_text("x = 2\n")
    commit = workspace.commit_slot(slot, "real")
    assert workspace.changed_files(workspace.base_commit(), commit) == ["a.py"]


def test_keep_fast_forwards_the_base_branch_and_the_working_tree(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    _, commit = _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    assert workspace.keep("factory/exp-0001", base) == commit
    assert workspace.base_commit() == commit
    assert (root / "a.py").read_text() == "x = 2\n"
    assert git.Repo(root).head.commit.parents[0].hexsha != commit


def test_keep_is_refused_when_the_base_moved_meanwhile(make_repo) -> None:
    """The change was measured against the old base: it is not kept, nothing moves."""
    root = make_repo({"a.py": "x = 1\n", "b.py": "y = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    (root / "b.py").write_text("y = 2\n")
    user_commit = commit_all(root, "user work")
    with pytest.raises(BaseMoved, match="moved from"):
        workspace.keep("factory/exp-0001", base)
    assert workspace.base_commit() == user_commit
    assert (root / "a.py").read_text() == "x = 1\n" and (root / "b.py").read_text() == "y = 2\n"


def test_keep_is_a_compare_and_swap_when_the_branch_is_not_checked_out(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    _, commit = _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    git.Repo(root).git.switch("-q", "-c", "elsewhere")
    other = commit_all(root, "moved on main's behalf")
    git.Repo(root).git.update_ref("refs/heads/main", other)
    with pytest.raises(BaseMoved):
        workspace.keep("factory/exp-0001", base)
    assert git.Repo(root).commit("main").hexsha == other
    git.Repo(root).git.update_ref("refs/heads/main", base)
    assert workspace.keep("factory/exp-0001", base) == commit
    assert git.Repo(root).commit("main").hexsha == commit


def test_keep_is_refused_with_uncommitted_tracked_changes_and_changes_nothing(make_repo):
    root = make_repo({"a.py": "x = 1\n", "b.py": "y = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    (root / "b.py").write_text("y = 'mine'\n")
    with pytest.raises(KeepRefused, match="uncommitted changes"):
        workspace.keep("factory/exp-0001", base)
    assert workspace.base_commit() == base
    assert (root / "b.py").read_text() == "y = 'mine'\n"
    assert (root / "a.py").read_text() == "x = 1\n"


def test_an_archived_branch_is_never_archived_again(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    workspace.keep("factory/exp-0001", base)
    assert workspace.archive_branch("factory/exp-0001", "factory/kept/") == "factory/kept/exp-0001"
    assert workspace.archive_branch("factory/kept/exp-0001", "factory/reverted/") is None
    assert workspace.branch_exists("factory/kept/exp-0001")
    assert not [b for b in workspace.repo.heads if "reverted" in b.name]


def test_revert_archives_the_branch_and_cleans_the_slot(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    slot, commit = _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    workspace.release_slot(slot, base)
    assert (
        workspace.archive_branch("factory/exp-0001", "factory/reverted/")
        == "factory/reverted/exp-0001"
    )
    assert not workspace.branch_exists("factory/exp-0001")
    assert git.Repo(root).commit("factory/reverted/exp-0001").hexsha == commit
    assert (slot / "a.py").read_text() == "x = 1\n"
    assert workspace.base_commit() == base


def test_a_slot_is_reused_and_follows_the_base(make_repo) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    slot, commit = _experiment(workspace, "exp-0001", {"a.py": "x = 2\n"})
    (slot / "stray.txt").write_text("left by a tool")
    workspace.keep("factory/exp-0001", base)
    again = workspace.prepare_slot("slot-1", workspace.base_commit())
    assert again == slot
    assert not (slot / "stray.txt").exists()
    assert git.Repo(slot).head.commit.hexsha == commit
    workspace.remove_slot("slot-1")
    assert not slot.exists()
    assert len(git.Repo(root).git.worktree("list").splitlines()) == 1


def test_an_agents_ref_check_undoes_its_own_moves_but_not_the_engines_meanwhile(make_repo):
    """Several experiments at once: while one unsandboxed agent runs, the engine starts,
    commits and keeps another experiment's branch. The check after the agent undoes what
    the agent did to the refs, and none of what the engine did."""
    root = make_repo({"a.py": "A = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    before = workspace.git_state()  # the agent starts
    slot = workspace.prepare_slot("slot-2", base)
    workspace.start_branch(slot, "factory/exp-0002")
    (slot / "a.py").write_text("A = 2\n")
    commit = workspace.commit_slot(slot, "another experiment")
    assert commit is not None
    workspace.keep("factory/exp-0002", base)
    workspace.archive_branch("factory/exp-0002", "factory/kept/")
    repo = git.Repo(root)
    repo.create_head("agent-made", base)  # the agent's own doing
    found = workspace.restore_git_state(before)
    assert found == [f"refs/heads/agent-made was created ({base[:10]}): removed"]
    assert workspace.base_commit() == commit
    assert repo.commit("factory/kept/exp-0002").hexsha == commit


def test_a_change_replayed_onto_a_base_that_moved_applies_conflicts_or_is_already_there(
    make_repo,
):
    root = make_repo({"a.py": "A = 1\n", "b.py": "B = 1\n"})
    workspace = Workspace.open(root)
    base = workspace.base_commit()

    def built(name: str, files: dict[str, str]) -> tuple[Path, str]:
        slot = workspace.prepare_slot(name, base)
        workspace.start_branch(slot, f"factory/{name}")
        for path, text in files.items():
            (slot / path).write_text(text)
        commit = workspace.commit_slot(slot, name)
        assert commit is not None
        return slot, commit

    _, first = built("exp-0001", {"a.py": "A = 2\n"})
    workspace.keep("factory/exp-0001", base)
    slot, other = built("exp-0002", {"b.py": "B = 2\n"})
    replayed = workspace.replay(slot, other, first)
    assert replayed.commit is not None and not (replayed.conflict or replayed.empty)
    assert git.Repo(root).commit(replayed.commit).parents[0].hexsha == first
    assert git.Repo(slot).head.ref.name == "factory/exp-0002"
    assert (slot / "a.py").read_text() == "A = 2\n" and (slot / "b.py").read_text() == "B = 2\n"

    slot, clash = built("exp-0003", {"a.py": "A = 3\n"})
    conflicted = workspace.replay(slot, clash, first)
    assert conflicted.conflict and conflicted.commit is None
    assert git.Repo(slot).head.commit.hexsha == clash  # the branch keeps what was tried
    assert not git.Repo(slot).is_dirty(untracked_files=True)

    slot, same = built("exp-0004", {"a.py": "A = 2\n"})
    assert workspace.replay(slot, same, first).empty
