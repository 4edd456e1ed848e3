"""What the sandbox costs per agent launch: `true` started 50 times as it is and 50 times
through `Sandbox.wrap` with an agent's view (a worktree inside a hidden project), each a
whole process from spawn to exit. Prints the medians and the difference (target: < 20 ms).

    python benchmarks/sandbox_cost.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from factory_tui.engine.sandbox import Sandbox, View


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    sandbox = Sandbox("auto")
    if not sandbox.enabled:
        raise SystemExit(f"no sandbox here: {sandbox.problem}")
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as scratch:
        project = Path(scratch) / "project"
        slot = project / ".factory" / "worktrees" / "slot-1"
        slot.mkdir(parents=True)
        (project / ".git").mkdir()
        view = View(writable=(slot,), readable=(slot, project / ".git"), hidden=(project,))
        argv, env = sandbox.wrap(["true"], slot, view)
        bare = timed(["true"], slot, None, args.runs)
        jailed = timed(argv, slot, env, args.runs)
    bare_ms, jailed_ms = statistics.median(bare) * 1000, statistics.median(jailed) * 1000
    print(f"launch of `true`, median of {args.runs} (min / max):")
    print(f"  as it is      {bare_ms:6.2f} ms  ({min(bare) * 1000:.2f} / {max(bare) * 1000:.2f})")
    print(
        f"  sandboxed     {jailed_ms:6.2f} ms  ({min(jailed) * 1000:.2f} / "
        f"{max(jailed) * 1000:.2f})"
    )
    print(f"  sandbox cost  {jailed_ms - bare_ms:6.2f} ms per launch (target: under 20 ms)")


if __name__ == "__main__":
    main()
