"""What an unattended loop costs once it has nothing left to try, on the bundled example.

Runs `factory run PATH --loop --interval 0 --max-cycles N` as a whole process, the way
cron or tmux would, and reads each cycle's wall time from the run's own event log: the
cycles that make experiments, the cycle that finds nothing new (the base's scores come
from the cache, the Researcher reads the cached measurement), and the cycles after the
plateau, which run no tool at all while nothing has changed.

    python benchmarks/plateau_loop.py [--cycles 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from factory_tui.engine.events import read_events

ROOT = Path(__file__).resolve().parents[1]
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as scratch:
        root = Path(scratch) / "inventory"
        shutil.copytree(ROOT / "examples" / "inventory", root)
        repo = git.Repo.init(root, initial_branch="main")
        repo.git.add("-A")
        with repo.git.custom_environment(**IDENTITY):
            repo.git.commit("-q", "-m", "initial")
        started = time.monotonic()
        subprocess.run(
            [
                *(sys.executable, "-m", "factory_tui", "run", str(root)),
                *("--loop", "--interval", "0", "--max-cycles", str(args.cycles), "-q"),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "FACTORY_HOME": scratch},
        )
        total = time.monotonic() - started
        events = read_events(root / ".factory" / "events.jsonl")
    # One loop iteration: from the run going "running" to its going "idle" for the wait.
    spans, began = [], None
    for event in events:
        if event.type == "run_state" and event.state == "running":
            began = event.ts
        elif event.type == "run_state" and event.state == "idle" and began is not None:
            spans.append((began, event.ts))
            began = None
    print(f"factory run --loop on the example, {args.cycles} cycles: {total:.2f} s in all")
    for index, (first, last) in enumerate(spans, 1):
        inside = [e for e in events if first <= e.ts <= last]
        if any(e.type == "notice" and "still at the plateau" in e.message for e in inside):
            kind = "at the plateau, nothing changed: no tool runs"
        elif any(e.type == "experiment_finished" for e in inside):
            kind = "an experiment"
        else:
            kind = "nothing new: a plateau (base scores from the cache)"
        print(f"  cycle {index:>2}: {(last - first) * 1000:8.1f} ms  {kind}")


if __name__ == "__main__":
    main()
