"""Following the event log across its rotations: every line once, in order, whenever the
follower happens to read (before, during or after a rename)."""

from __future__ import annotations

import random
from pathlib import Path

from factory_tui.engine import events as ev
from factory_tui.engine.errors import FactoryError
from factory_tui.engine.log_tail import LogTail
from factory_tui.engine.store import Store


def writer(root: Path) -> tuple[Store, ev.EventBus]:
    store = Store(root)
    bus = ev.EventBus(store.events_path, store, rotate_bytes=4096)
    bus.emit(
        ev.RunStarted(
            project=str(root), mode="improve", runtime="offline", approval="auto",
            base_branch="main", pid=1,
        )
    )  # fmt: skip
    return store, bus


def say(bus: ev.EventBus, numbers: range) -> None:
    for number in numbers:
        bus.emit(ev.Notice(message=f"line {number:05d} " + "x" * 200))


def numbers(lines: list[bytes]) -> list[int]:
    events = [ev.parse_event(line) for line in lines]
    return [int(e.message.split()[1]) for e in events if isinstance(e, ev.Notice)]


def test_lines_written_while_the_follower_reads_are_not_lost(tmp_path: Path) -> None:
    store, bus = writer(tmp_path)
    tail = LogTail(Store(tmp_path))
    seen = tail.read()
    say(bus, range(5))
    assert tail.handle is not None
    handle, read = tail.handle, tail.handle.read

    def read_while_the_log_rotates(*args: int) -> bytes:
        data = read(*args)
        handle.read = read  # type: ignore[method-assign]
        say(bus, range(5, 30))  # crosses 4 KiB: the file being read is rotated away
        return data

    handle.read = read_while_the_log_rotates  # type: ignore[method-assign]
    seen += tail.read() + tail.read()
    assert numbers(seen) == list(range(30))
    assert store.event_segment() > 1


def test_a_rotation_while_the_follower_starts_is_caught(tmp_path: Path) -> None:
    _, bus = writer(tmp_path)
    say(bus, range(10))
    follower = Store(tmp_path)
    asked = follower.event_segment
    rotated = False

    def rotate_once_while_asked() -> int:
        nonlocal rotated
        segment = asked()
        if not rotated:
            rotated = True
            say(bus, range(10, 40))  # rotates at least once
        return segment

    follower.event_segment = rotate_once_while_asked  # type: ignore[method-assign]
    tail = LogTail(follower)
    assert tail.start()
    say(bus, range(40, 120))  # more rotations
    assert numbers(tail.read())[-80:] == list(range(40, 120))


def test_a_read_during_the_rename_waits_for_the_new_file(tmp_path: Path) -> None:
    store, bus = writer(tmp_path)
    tail = LogTail(Store(tmp_path))
    seen = tail.read()
    rotate = store.rotate_events

    def rotate_and_read_in_between() -> None:
        rotate()  # events.jsonl is renamed; the writer has not opened the new one yet
        seen.extend(tail.read())

    store.rotate_events = rotate_and_read_in_between  # type: ignore[method-assign]
    say(bus, range(40))
    seen += tail.read()
    assert numbers(seen) == list(range(40))


def test_every_line_once_in_order_however_reads_and_writes_interleave(tmp_path: Path) -> None:
    _, bus = writer(tmp_path)
    tail = LogTail(Store(tmp_path))
    chance = random.Random(16)
    seen = tail.read()  # following from the run's start
    written = 0
    while written < 600:
        count = chance.randint(1, 40)
        say(bus, range(written, written + count))
        written += count
        if chance.random() < 0.5:
            seen += tail.read()
    seen += tail.read()
    assert numbers(seen) == list(range(written))
    # One starting now reads the current segment alone: the run's context, then its lines.
    late = LogTail(Store(tmp_path)).read()
    assert ev.parse_event(late[0]).type == "log_continued"
    assert numbers(late) == list(range(written))[-len(numbers(late)) :]


def test_a_rotation_that_fails_leaves_the_run_writing_and_overwrites_nothing(
    tmp_path: Path,
) -> None:
    store, bus = writer(tmp_path)
    rotate = store.rotate_events
    failures = 0

    def locked_once() -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise FactoryError("database is locked")
        rotate()

    store.rotate_events = locked_once  # type: ignore[method-assign]
    say(bus, range(60))  # past 4 KiB: the first rotation fails, a later one succeeds
    bus.close()
    assert failures == 1 and store.event_segment() >= 2
    lines = (
        b"".join(path.read_bytes() for path in [*sorted(tmp_path.glob(".factory/events-*.jsonl"))])
        + store.events_path.read_bytes()
    )
    assert numbers(lines.splitlines()) == list(range(60))
