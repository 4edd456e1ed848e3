"""The garbage collector held while the process starts.

Start-up makes hundreds of thousands of objects that live as long as the process: modules,
pydantic's schemas, Textual's styles and widgets. The collector's passes over them while the
dashboard started were a quarter of its first paint (two full passes of about 70 ms each,
and thirty-odd middle ones). So `factory` holds collection at its start and releases it
once start-up is over: the front ends at their first paint, a headless run when its pipeline
starts, anything else after `RELEASE_AFTER` seconds at the latest. Released, what start-up
made is frozen: later full passes skip it. The price: a cycle start-up made and dropped is
frozen with the rest and never freed (the dashboard's peak memory grew by about 1 MiB).
"""

from __future__ import annotations

import gc
import threading

RELEASE_AFTER = 10.0  # seconds: a command that never says start-up is over still collects

_timer: threading.Timer | None = None
_lock = threading.Lock()  # released by the timer's thread and the main one, maybe at once


def hold() -> None:
    global _timer
    with _lock:
        if _timer is not None:
            return
        gc.disable()
        _timer = threading.Timer(RELEASE_AFTER, release)
        _timer.daemon = True
        _timer.start()


def release() -> None:
    """Start-up is over: collect again, and leave what start-up made out of full passes."""
    global _timer
    with _lock:
        timer, _timer = _timer, None
        if timer is not None:
            timer.cancel()
        if not gc.isenabled():
            gc.freeze()
            gc.enable()
