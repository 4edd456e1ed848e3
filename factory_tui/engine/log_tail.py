"""Following the event log from another process (`factory watch`), across its rotations.

The writer (the run's `EventBus`) closes a full `events.jsonl`, renames it
`events-NNNNNN.jsonl` and opens a new one that starts with a `log_continued` line (the
run's context). A follower knows a segment by its inode, never by a number it read
earlier: it reads its file to the end, then the segments rotated after it, in order, then
the current `events.jsonl`; a rename caught half-way is simply tried again on the next read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from .store import Store

RUN_MARKER = b'"type":"run_started"'
CONTINUED = b'"type":"log_continued"'


def last_run_offset(path: Path) -> int:
    """Where the last run's events begin in a log without an index (written before the
    state database), found by reading it through."""
    offset = position = 0
    with path.open("rb") as handle:
        for line in handle:
            if RUN_MARKER in line:
                offset = position
            position += len(line)
    return offset


class LogTail:
    """The whole lines of the event log, from the last run's start, as they are written."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.events_path
        self.handle: BinaryIO | None = None
        self.buffer = b""
        self.continuing = False  # the next segment's carried context was seen already

    def start(self) -> bool:
        """Open the current segment where the last run begins (asked of the index)."""
        for _ in range(5):  # a rotation between asking and opening: ask again
            start = self.store.last_run()
            segment = self.store.event_segment()
            try:
                handle = self.path.open("rb")
            except FileNotFoundError:
                return False
            if self._is_current(handle) and self.store.event_segment() == segment:
                break
            handle.close()
        else:
            return False
        self.handle = handle
        if start is None:  # a log from before the index
            handle.seek(last_run_offset(self.path))
        elif start[0] == segment:
            handle.seek(start[1])
        # A run begun in an earlier segment: this one starts with the run's context.
        return True

    def read(self) -> list[bytes]:
        """The whole lines written since the last read."""
        if self.handle is None and not self.start():
            return []
        assert self.handle is not None
        lines = self._split(self.handle.read())
        while not self._is_current(self.handle):
            # Rotated away (or being rotated): the writer closed it first, so what it holds
            # now is all it will hold.
            lines += self._split(self.handle.read())
            following = self._following(self.handle)
            if following is None:  # the new events.jsonl is not there yet: next time
                break
            try:
                handle = following.open("rb")
            except FileNotFoundError:  # renamed between the listing and the open
                break
            self.handle.close()
            self.handle = handle
            self.continuing = True
            lines += self._split(self.handle.read())
        return lines

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _is_current(self, handle: BinaryIO) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            return False

    def _following(self, handle: BinaryIO) -> Path | None:
        """The segment written after the one `handle` reads, or None while there is none."""
        inode = os.fstat(handle.fileno()).st_ino
        segments = sorted(self.store.root.glob("events-*.jsonl"))
        for index, segment in enumerate(segments):
            try:
                if segment.stat().st_ino != inode:
                    continue
            except FileNotFoundError:
                continue
            if index + 1 < len(segments):
                return segments[index + 1]
            break
        # The last rotated segment, or a log replaced by hand: the current file, once there.
        return self.path if self.path.exists() else None

    def _split(self, data: bytes) -> list[bytes]:
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        lines = [line for line in lines if line]
        if self.continuing and lines:
            self.continuing = False
            if CONTINUED in lines[0]:
                lines = lines[1:]
        return lines
