"""What one experiment costs outside the agents and the eval, on a repository of 5,000 files.

Times the engine's git work for a kept and for a reverted experiment: prepare the worktree
slot at the base, start the experiment branch, commit the Builder's edit, compute the diff,
then keep (fast-forward the user's branch and working tree) or revert, clean the slot and
archive the branch. Prints min / median / max over several experiments, and the one-time
cost of creating the slot.

    python benchmarks/cycle_overhead.py [--files 5000] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import git

from factory_tui.engine.workspace import KEPT_PREFIX, REVERTED_PREFIX, Workspace

IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def generate(root: Path, files: int) -> None:
    repo = git.Repo.init(root, initial_branch="main")
    for index in range(files):
        folder = root / f"pkg{index % 50:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"module_{index:05d}.py").write_text(
            "".join(f"value_{index}_{line} = {line}\n" for line in range(20))
        )
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "generated")


def experiment(workspace: Workspace, number: int, keep: bool) -> float:
    started = time.perf_counter()
    base = workspace.base_commit()
    slot = workspace.prepare_slot("slot-1", base)
    branch = f"factory/exp-{number:04d}"
    workspace.start_branch(slot, branch)
    target = slot / "pkg00" / "module_00000.py"
    target.write_text(target.read_text() + f"edited_{number} = True\n")  # the Builder's edit
    commit = workspace.commit_slot(slot, f"experiment {number}")
    assert commit is not None
    workspace.diff(base, commit)
    workspace.diffstat(base, commit)
    workspace.changed_files(base, commit)
    if keep:
        new_base = workspace.keep(branch, base)
        workspace.release_slot(slot, new_base)
        workspace.archive_branch(branch, KEPT_PREFIX)
    else:
        workspace.release_slot(slot, base)
        workspace.archive_branch(branch, REVERTED_PREFIX)
    return time.perf_counter() - started


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (
        f"{label:<28} min {ms[0]:7.1f} ms   median {statistics.median(ms):7.1f} ms   "
        f"max {ms[-1]:7.1f} ms   (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.environ.update(IDENTITY)
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as scratch:
        root = Path(scratch) / "repo"
        root.mkdir()
        generate(root, args.files)
        workspace = Workspace.open(root)
        workspace.ensure_excluded()
        started = time.perf_counter()
        workspace.prepare_slot("slot-1", workspace.base_commit())
        first_slot = time.perf_counter() - started
        kept = [experiment(workspace, n, keep=True) for n in range(1, args.runs + 1)]
        reverted = [
            experiment(workspace, n, keep=False) for n in range(args.runs + 1, 2 * args.runs + 1)
        ]
    print(f"cycle overhead on a repository of {args.files} files (target: under 300 ms)")
    print(f"{'first slot (once per project)':<28} {first_slot * 1000:7.1f} ms")
    print(summary("kept experiment", kept))
    print(summary("reverted experiment", reverted))


if __name__ == "__main__":
    main()
