"""What a month of experiments costs what a user waits for.

Runs the bundled example for one real offline cycle, then copies that experiment's record
(scores, verdict, review) through the Store API until the project holds N experiments, and
at each size times, as whole processes from the shell:

- `factory status`, `factory status --all` and the warm `factory eval --json`;
- the dashboard (`factory watch`'s app, headless) from process start to its first idle
  paint, with its peak memory; then opening the history and one filter keystroke, each
  timed to the table's refresh;
- one real offline cycle (`factory ceo --cycles 1`): its wall time, the time its stages
  report (agents and eval) and what is left, the engine's own overhead. The cycle runs in
  `--runs` copies of the project, each doing the same work (a cycle changes what the next
  one would try); the one whose overhead is the median is printed.

    python benchmarks/history_scale.py [--sizes 0 1000 10000] [--runs 3]

Targets at 10,000 experiments: status under 300 ms, dashboard paint under 1 s and 200 MiB,
history under 300 ms, a filter keystroke under 100 ms, and the cycle's overhead within 1.2x
of the same at 0 experiments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from factory_tui.engine.events import StageFinished, parse_event
from factory_tui.engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
# Run in a child process: the dashboard as `factory watch` builds it, timed from the
# child's own start (passed in) to the first paint after catching up.
DASHBOARD = """
import asyncio, json, resource, sys, time
started = float(sys.argv[2])
from factory_tui import startup
startup.hold()  # as `factory` does at its start
from pathlib import Path
from factory_tui.app import FactoryApp
from factory_tui.screens.history import History
from factory_tui.widgets.experiment_table import ExperimentTable

async def main():
    app = FactoryApp(Path(sys.argv[1]))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.caught_up.wait()
        await pilot.pause()
        painted = time.time() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pressed = time.perf_counter()
        await pilot.press("h")
        while not (isinstance(app.screen, History)
                   and app.screen.query_one(ExperimentTable).row_count):
            await asyncio.sleep(0.001)
        await pilot.pause()
        history = time.perf_counter() - pressed
        await pilot.press("slash")
        await pilot.pause()
        pressed = time.perf_counter()
        await pilot.press("k")  # "kept": a filter that matches
        await pilot.pause()
        keystroke = time.perf_counter() - pressed
        print(json.dumps({"paint": painted, "rss": rss, "history": history,
                          "keystroke": keystroke}))

asyncio.run(main())
"""


def factory(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "factory_tui", *args], env=ENV, capture_output=True, check=True
    )
    return time.perf_counter() - started


def dashboard(root: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", DASHBOARD, str(root), str(time.time())],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def cycle(root: Path) -> tuple[float, float]:
    """One real offline cycle: its wall time, and the time its stages took."""
    store = Store(root)
    log_size = store.events_path.stat().st_size if store.events_path.exists() else 0
    wall = factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    with store.events_path.open("rb") as handle:
        handle.seek(log_size)
        new = [line for line in handle.read().splitlines() if b"stage_finished" in line]
    return wall, sum(
        event.elapsed for line in new if isinstance(event := parse_event(line), StageFinished)
    )


def grow(root: Path, size: int) -> None:
    """Copies of the real experiment's record, numbered on, up to `size` experiments."""
    store = Store(root)
    template = store.experiments(last=1)[0]
    count = sum(store.experiment_totals().values())
    for number in range(count + 1, size + 1):
        experiment_id = store.allocate_experiment_id()
        store.save_experiment(
            template.model_copy(
                update={
                    "id": experiment_id,
                    "branch": f"factory/reverted/{experiment_id}",
                    "hypothesis": template.hypothesis.model_copy(
                        update={"title": f"{template.hypothesis.title} ({number})"}
                    ),
                }
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
        print(
            f"{'experiments':>11}  {'status':>7}  {'--all':>7}  {'eval':>6}  {'paint':>6}  "
            f"{'memory':>8}  {'history':>7}  {'filter':>7}  {'cycle':>6}  {'stages':>6}  "
            f"{'overhead':>8}"
        )
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
            screens = [dashboard(root) for _ in range(args.runs)]
            tui = {key: statistics.median(s[key] for s in screens) for key in screens[0]}
            cycles = []
            for run in range(args.runs):
                copy = Path(tmp) / f"cycle-{size}-{run}"
                subprocess.run(["cp", "-a", str(root), str(copy)], check=True)
                cycles.append(cycle(copy))
                shutil.rmtree(copy)
            wall, staged = sorted(cycles, key=lambda c: c[0] - c[1])[len(cycles) // 2]
            print(
                f"{size:>11,}  {times['status']:>6.2f}s  {times['all']:>6.2f}s  "
                f"{times['eval']:>5.2f}s  {tui['paint']:>5.2f}s  {tui['rss']:>5.0f} MiB  "
                f"{tui['history'] * 1000:>5.0f}ms  {tui['keystroke'] * 1000:>5.0f}ms  "
                f"{wall:>5.2f}s  {staged:>5.2f}s  {wall - staged:>7.2f}s"
            )


if __name__ == "__main__":
    main()
