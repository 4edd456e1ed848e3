"""The history as the user sees it: opening it, and each filter keystroke, press to redraw.

`factory watch` runs as a whole process on a real pseudo-terminal (160x45, the real terminal
driver), on a project of N experiments grown as in `history_scale.py` (the example's real
record, copied through the Store API). This process plays the user, as `key_latency.py`
does: it presses `h` and times it to the history's title, then `/` and types digits and
deletes them again, timing each key from the write to the terminal until the title shows
the new number of matching experiments (the database is asked beforehand what that number
is). Nothing is timed inside the app's loop, so a stalled loop shows.

    python benchmarks/filter_latency.py [--size 10000] [--rounds 10]

Targets at 10,000 experiments: the history opens in under 300 ms and a filter keystroke
redraws in under 100 ms.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import git
from history_scale import ENV, ROOT, factory, grow
from key_latency import COLUMNS, RESTORED, ROWS, Terminal, percentile, stop

from factory_tui.engine.store import Store

TYPED = "123"  # digits of the titles' numbers: each narrows the match, each deletion widens it
BACKSPACE = b"\x7f"
TIMEOUT = 10.0


def project(size: int, folder: Path) -> Path:
    root = folder / "inventory"
    shutil.copytree(ROOT / "examples" / "inventory", root)
    repo = git.Repo.init(root, initial_branch="main")
    repo.git.add("-A")
    repo.git.commit("-m", "initial", env=ENV)
    factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    grow(root, size)
    return root


def title(store: Store, text: str) -> re.Pattern[bytes]:
    """The history's title once the rows for `text` are in."""
    _, matching = store.experiment_rows(text, limit=1)
    what = f"{matching} matching" if text else f"{matching}"
    return re.compile(f"History: {what} experiment".encode())


def run(root: Path, rounds: int) -> None:
    store = Store(root)
    states = [TYPED[:n] for n in range(len(TYPED) + 1)]  # "", "1", "12", "123"
    patterns = {text: title(store, text) for text in states}
    counts = [patterns[text].pattern for text in states]
    if len(set(counts)) != len(counts):
        raise SystemExit(f"each state must match a different number of experiments: {counts}")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [sys.executable, "-m", "factory_tui", "watch", str(root)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    terminal = Terminal(master)
    keystrokes: list[float] = []
    try:
        if not terminal.wait_for(RESTORED, 0, 60):
            raise SystemExit("the dashboard never painted:\n" + terminal.tail())
        time.sleep(0.5)  # let the first frames settle
        pressed = time.perf_counter()
        if not terminal.wait_for(patterns[""], terminal.press(b"h"), TIMEOUT):
            raise SystemExit("the history never opened:\n" + terminal.tail())
        opened = time.perf_counter() - pressed
        time.sleep(0.3)
        terminal.press(b"/")
        time.sleep(0.3)
        for _ in range(rounds):
            # Type the digits, then delete them: every key changes what matches.
            steps = [(key, text) for key, text in zip(TYPED, states[1:], strict=True)]
            steps += [(BACKSPACE, text) for text in reversed(states[:-1])]
            for key, text in steps:
                pressed = time.perf_counter()
                start = terminal.press(key.encode() if isinstance(key, str) else key)
                if not terminal.wait_for(patterns[text], start, TIMEOUT):
                    raise SystemExit(f"the filter {text!r} was never drawn:\n{terminal.tail()}")
                keystrokes.append(time.perf_counter() - pressed)
                time.sleep(0.1)
    finally:
        stop(process, terminal)
    ms = sorted(k * 1000 for k in keystrokes)
    total = sum(store.experiment_totals().values())
    print(f"{total:,} experiments; history opened in {opened * 1000:.0f} ms (target 300 ms)")
    print(
        f"filter keystroke, {len(ms)} presses: median {statistics.median(ms):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms, max {ms[-1]:.1f} ms (target 100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="experiments in the project")
    parser.add_argument("--rounds", type=int, default=10, help="times the digits are typed")
    parser.add_argument("--project", type=Path, help="an existing project instead")
    args = parser.parse_args()
    if args.project:
        run(args.project.resolve(), args.rounds)
        return
    with tempfile.TemporaryDirectory() as folder:
        run(project(args.size, Path(folder)), args.rounds)


if __name__ == "__main__":
    main()
