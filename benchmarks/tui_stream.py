"""The dashboard under a flood: 200,000 lines from 8 agent processes streaming at once.

Eight child processes print their lines as fast as they can; each line goes the production
path: read by `stream_process` on the engine's own thread and event loop (as in a live run),
emitted on the engine's bus as an `AgentOutput` event (appended to `.factory/events.jsonl`),
queued by the app and flushed to the panes 20 times a second. Meanwhile a key is pressed
every 100 ms and the time until its action runs is measured. Prints lines per second taken
in, key latency (median, p95, max), and peak memory.

    python benchmarks/tui_stream.py [--lines 200000] [--panes 8]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from factory_tui.app import FactoryApp
from factory_tui.engine.events import AgentOutput, EventBus
from factory_tui.engine.process import stream_process
from factory_tui.run_view import PANE_ROLES

CHILD = (
    "import sys\n"
    "role, count = sys.argv[1], int(sys.argv[2])\n"
    "write = sys.stdout.write\n"
    "for i in range(count):\n"
    "    write(f'{role} line {i:06d}: compiling module_{i % 97}.py, 3 warnings, ok\\n')\n"
)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(total: int, panes: int) -> None:
    roles = PANE_ROLES[:panes]
    per_pane = total // len(roles)
    with tempfile.TemporaryDirectory(prefix="factory-tui-bench-") as scratch:
        root = Path(scratch) / "project"
        root.mkdir()
        bus = EventBus(root / ".factory" / "events.jsonl")
        app = FactoryApp(root, follow=False)  # fed in-process, like a live run
        latencies: list[float] = []
        pressed: deque[float] = deque()  # keys are handled in order
        original = app.action_follow_pane

        def timed_follow() -> None:
            if pressed:
                latencies.append(time.perf_counter() - pressed.popleft())
            original()

        app.action_follow_pane = timed_follow  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            bus.subscribe(app.receive)
            await pilot.pause()
            rss_before = peak_rss_mib()

            async def agent(role) -> None:
                def on_line(line: str, role=role) -> None:
                    bus.emit(AgentOutput(role=role, line=line, experiment="exp-0001"))

                await stream_process(
                    [sys.executable, "-c", CHILD, role.value, str(per_pane)], root, on_line
                )

            async def engine() -> None:
                await asyncio.gather(*(agent(role) for role in roles))

            started = time.perf_counter()
            streams = asyncio.ensure_future(asyncio.to_thread(asyncio.run, engine()))
            while not streams.done():
                pressed.append(time.perf_counter())
                app.simulate_key("f")
                await asyncio.sleep(0.1)
            await streams
            while app._queue or pressed:
                await asyncio.sleep(0.01)
            await pilot.pause()
            elapsed = time.perf_counter() - started
            shown = sum(app.dashboard.pane(role).log_view.line_count for role in roles)
        bus.close()
        log_size = (root / ".factory" / "events.jsonl").stat().st_size / 2**20
    lines = per_pane * len(roles)
    ms = sorted(latency * 1000 for latency in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1] if ms else float("nan")
    print(f"streamed {lines:,} lines across {len(roles)} panes in {elapsed:.2f} s")
    print(f"taken in: {lines / elapsed:,.0f} lines/s (event log written: {log_size:.1f} MiB)")
    print(
        f"key latency over {len(ms)} presses: median {statistics.median(ms):.1f} ms, "
        f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms (target: under 100 ms)"
    )
    print(
        f"panes hold {shown:,} lines (bounded window); peak RSS {peak_rss_mib():.0f} MiB "
        f"(before streaming {rss_before:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--panes", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.lines, args.panes))


if __name__ == "__main__":
    main()
