"""Key latency as the user sees it: press to redraw, while 8 agent panes stream 200,000 lines.

The dashboard runs in a child process on a real pseudo-terminal (160x45, xterm-256color, the
real terminal driver), fed as in `tui_stream.py`: eight child processes print their lines,
each read by `stream_process` on an engine thread with its own event loop and emitted on the
bus as an `AgentOutput` event. This process plays the user: once the dashboard has painted it
presses `z` (maximise the focused pane, again to restore) every 100 ms, or as soon as the
previous press was drawn when that took longer, and times each press from the write to the
terminal until the app's output shows the new layout. Unlike `tui_stream.py`, which presses
from inside the app's event loop, a stalled loop shows here. Prints presses measured, key
latency while streaming and with nothing streaming (median, p95, max), lines streamed and
wall time; `--lines 0` is the baseline.

    python benchmarks/key_latency.py [--lines 200000] [--panes 8] [--presses 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import math
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

COLUMNS, ROWS = 160, 45
KEY = b"z"  # maximise / restore the focused pane: no escape-key timeout, toggles forever
PRESS_TIMEOUT = 5.0  # a press not drawn by then counts as lost
# Colour, cursor and mode sequences between the characters Textual draws.
ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# The two layouts, as text Textual draws in one piece. Maximised, the focused pane's top
# border spans the terminal (a title, then more rule than any pane of the grid has); restored,
# the pipeline bar is back above the panes. Agent output is lower case: it matches neither.
MAXIMISED = re.compile(r"\w (?:─){100,}".encode())
RESTORED = re.compile("Researcher › Strategist".encode())
LAYOUTS = (MAXIMISED, RESTORED)

# The same agents as tui_stream.py's (this folder is on the path when a benchmark runs).
from tui_stream import CHILD  # noqa: E402


# -- the child: the dashboard on the terminal it was given ---------------------------------------
def child(total: int, panes: int, go_fd: int, status_fd: int) -> None:
    from factory_tui import startup

    startup.hold()  # as `factory` does: collection resumes, start-up frozen, at first paint
    from factory_tui.app import FactoryApp
    from factory_tui.engine.events import AgentOutput, EventBus
    from factory_tui.engine.process import stream_process
    from factory_tui.run_view import PANE_ROLES

    roles = PANE_ROLES[:panes]
    per_pane = total // len(roles)
    status = os.fdopen(status_fd, "w", buffering=1)
    with tempfile.TemporaryDirectory(prefix="factory-tui-bench-") as scratch:
        root = Path(scratch) / "project"
        root.mkdir()
        bus = EventBus(root / ".factory" / "events.jsonl")
        app = FactoryApp(root, follow=False)  # fed in-process, like a live run
        bus.subscribe(app.receive)
        emitted = 0

        async def agent(role) -> None:
            def on_line(line: str, role=role) -> None:
                nonlocal emitted
                bus.emit(AgentOutput(role=role, line=line, experiment="exp-0001"))
                emitted += 1

            await stream_process(
                [sys.executable, "-c", CHILD, role.value, str(per_pane)], root, on_line
            )

        running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []

        async def engine() -> None:
            task = asyncio.current_task()
            assert task is not None
            running.append((asyncio.get_running_loop(), task))
            await asyncio.gather(*(agent(role) for role in roles))

        def engine_thread() -> None:
            # The parent says go once it sees the dashboard, so every press meets the flood.
            if not os.read(go_fd, 1):
                return
            started = time.perf_counter()
            try:
                if per_pane:
                    asyncio.run(engine())
            except asyncio.CancelledError:
                pass
            finally:  # even failed: the parent presses until it hears this
                with contextlib.suppress(OSError):
                    status.write(f"done {emitted} {time.perf_counter() - started:.3f}\n")

        thread = threading.Thread(target=engine_thread, daemon=True)
        thread.start()
        app.run()
        # Quit mid-stream (the parent was stopped): end the agents before the project goes.
        for loop, task in running:
            with contextlib.suppress(RuntimeError):  # the loop has finished already
                loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10)
        bus.close()


# -- the parent: a user at the terminal ------------------------------------------------------------
class Terminal:
    """The pty's master side, drained all the time so the app never blocks on a full buffer.

    What the app writes is kept as text, ANSI sequences stripped as it arrives (a sequence
    cut by a read waits for the next one), so each press searches only what is new.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0  # bytes the app wrote, sequences and all
        self.text = bytearray()
        self.changed = threading.Condition()
        self.closed = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        carry = b""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed its side
                data = b""
            chunk = carry + data
            cut = chunk.rfind(b"\x1b")
            carry = b""
            if data and cut >= max(0, len(chunk) - 64) and not ANSI.match(chunk, cut):
                chunk, carry = chunk[:cut], chunk[cut:]
            with self.changed:
                self.written += len(data)
                self.text += ANSI.sub(b"", chunk)
                self.closed = not data
                self.changed.notify_all()
            if not data:
                return

    def press(self, key: bytes) -> int:
        """Send a key; returns where the text written after it starts."""
        with self.changed:
            start = len(self.text)
        os.write(self.fd, key)
        return start

    def wait_for(self, pattern: re.Pattern[bytes], start: int, timeout: float) -> bool:
        """Whether `pattern` shows in the text written since `start`, within `timeout`."""
        deadline = time.perf_counter() + timeout
        searched = start
        with self.changed:
            while True:
                # Back a little: a match may straddle what was searched and what is new.
                if pattern.search(self.text, max(start, searched - 2048)):
                    return True
                searched = len(self.text)
                left = deadline - time.perf_counter()
                if self.closed or left <= 0:
                    return False
                self.changed.wait(left)

    def layout(self) -> re.Pattern[bytes] | None:
        """The layout drawn last, judged from the recent text."""
        with self.changed:
            text = bytes(self.text[-(2**20) :])
        ends = {p: max((m.end() for m in p.finditer(text)), default=-1) for p in LAYOUTS}
        last = max(ends, key=ends.__getitem__)
        return last if ends[last] >= 0 else None

    def tail(self) -> str:
        with self.changed:
            return bytes(self.text[-4000:]).decode(errors="replace")


def run(total: int, panes: int, presses: int, interval: float) -> None:
    # Killed (a timeout, CI), still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    go_read, go_write = os.pipe()
    status_read, status_write = os.pipe()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    argv = [sys.executable, __file__, "--child", "--lines", str(total), "--panes", str(panes)]
    argv += ["--fds", str(go_read), str(status_write)]
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        pass_fds=(go_read, status_write),
        # A session of its own with the pty as its terminal: killed whole at the end, and
        # hung up by the kernel should this process die first.
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    os.close(go_read)
    os.close(status_write)
    terminal = Terminal(master)
    streamed: list[str] = []
    done = threading.Event()

    def read_status() -> None:
        with os.fdopen(status_read) as status:
            for line in status:
                streamed.append(line)
                done.set()

    threading.Thread(target=read_status, daemon=True).start()
    streaming: list[float] = []  # presses made before the last line was in
    idle: list[float] = []  # the baseline's, and those after the stream
    lost = 0
    opened: list[float] = []  # streaming presses, by what they drew
    closed: list[float] = []
    try:
        if not terminal.wait_for(RESTORED, 0, 60):
            raise SystemExit("the dashboard never painted:\n" + terminal.tail())
        time.sleep(0.5)  # let the first frames settle
        started = time.perf_counter()
        os.write(go_write, b"g")
        shown = RESTORED
        next_press = time.perf_counter()
        while len(streaming) + len(idle) + lost < presses or not done.is_set():
            # One press in flight at a time: a toggle pressed again before it was drawn
            # could not be told from one never drawn.
            time.sleep(max(0.0, next_press - time.perf_counter()))
            sample = idle if done.is_set() or not total else streaming
            expected = MAXIMISED if shown is RESTORED else RESTORED
            pressed = time.perf_counter()
            start = terminal.press(KEY)
            if terminal.wait_for(expected, start, PRESS_TIMEOUT):
                sample.append(time.perf_counter() - pressed)
                if sample is streaming:
                    (opened if expected is MAXIMISED else closed).append(sample[-1])
                shown = expected
            else:
                lost += 1
                if terminal.closed:
                    raise SystemExit("the dashboard exited:\n" + terminal.tail())
                shown = terminal.layout() or shown  # back in step with the screen
            next_press = max(next_press + interval, time.perf_counter())
        wall = time.perf_counter() - started
    finally:
        os.close(go_write)  # an engine still waiting for go gives up
        stop(process, terminal)
    report(total, panes, streaming, idle, lost, streamed, wall, terminal.written)
    for label, sample in (("maximise", opened), ("restore", closed)):
        if sample:
            ms = sorted(latency * 1000 for latency in sample)
            print(
                f"  of which {label}, {len(ms)} presses: median "
                f"{statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms"
            )


def stop(process: subprocess.Popen[bytes], terminal: Terminal) -> None:
    """Quit as a user would, then make sure nothing of the child's group is left."""
    with contextlib.suppress(OSError):
        os.write(terminal.fd, b"q")
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Stray agents of a child that died mid-stream are in their own groups: they end when
    # their stdout closes (SIGPIPE), so only the app's own group needs killing here.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.close(terminal.fd)


def percentile(ms: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value at least `share` of them reach."""
    if not ms:
        return float("nan")
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * share) - 1))]


def report(
    total: int,
    panes: int,
    streaming: list[float],
    idle: list[float],
    lost: int,
    status: list[str],
    wall: float,
    written: int,
) -> None:
    lines, seconds = 0, 0.0
    for line in status:  # "done <lines> <seconds>"
        _, count, took = line.split()
        lines, seconds = int(count), float(took)
    if total:
        print(f"streamed {lines:,} lines across {panes} panes in {seconds:.2f} s")
    presses = len(streaming) + len(idle)
    print(
        f"{presses} presses measured ({lost} not drawn within {PRESS_TIMEOUT:.0f} s) in "
        f"{wall:.2f} s; the app wrote {written / 2**20:.1f} MiB to the terminal"
    )
    for label, sample in (("while streaming", streaming), ("with nothing streaming", idle)):
        if sample:
            ms = sorted(latency * 1000 for latency in sample)
            print(
                f"key latency {label}, {len(ms)} presses: median "
                f"{statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms, "
                f"max {ms[-1]:.1f} ms"
            )
    print("target: p95 under 100 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="0 for the baseline")
    parser.add_argument("--panes", type=int, default=8)
    parser.add_argument("--presses", type=int, default=100, help="at least; more if streaming")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between presses")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fds", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.lines, args.panes, *args.fds)
    else:
        run(args.lines, args.panes, args.presses, args.interval)


if __name__ == "__main__":
    main()
