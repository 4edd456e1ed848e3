"""What a month of experiments costs the commands a user waits for.

Runs the bundled example for one real offline cycle, then copies that experiment's record
(scores, verdict, review) through the Store API until the project holds N experiments, and
times whole processes from the shell: `factory status`, `factory status --all` and the warm
`factory eval --json`.

    python benchmarks/history_scale.py [--sizes 0 1000 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from factory_tui.engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def factory(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "factory_tui", *args], env=ENV, capture_output=True, check=True
    )
    return time.perf_counter() - started


def grow(root: Path, size: int) -> None:
    """Copies of the real experiment's record, numbered on, up to `size` experiments."""
    store = Store(root)
    template = store.experiments()[0]
    for number in range(len(store.experiments()) + 1, size + 1):
        experiment_id = f"exp-{number:04d}"
        store.experiment_dir(experiment_id).mkdir(parents=True, exist_ok=True)
        store.save_experiment(
            template.model_copy(
                update={"id": experiment_id, "branch": f"factory/reverted/{experiment_id}"}
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "inventory"
        shutil.copytree(ROOT / "examples" / "inventory", root)
        repo = git.Repo.init(root, initial_branch="main")
        repo.git.add("-A")
        repo.git.commit("-m", "initial", env=ENV)
        factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
        print(f"{'experiments':>11}  {'status':>8}  {'status --all':>12}  {'eval --json':>11}")
        for size in sorted(args.sizes):
            grow(root, size)
            times = {
                name: statistics.median(factory(*command) for _ in range(args.runs))
                for name, command in (
                    ("status", ("status", str(root))),
                    ("all", ("status", str(root), "--all")),
                    ("eval", ("eval", str(root), "--json")),
                )
            }
            print(
                f"{size:>11,}  {times['status']:>7.2f}s  {times['all']:>11.2f}s  "
                f"{times['eval']:>10.2f}s"
            )


if __name__ == "__main__":
    main()
