"""The collector held while `factory` starts, and always released."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, time
from factory_tui import startup
startup.RELEASE_AFTER = {after}
startup.hold()
assert not gc.isenabled()
{then}
print(gc.isenabled(), gc.get_freeze_count() > 0)
"""


def run(after: float, then: str) -> str:
    script = SCRIPT.format(after=after, then=then)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_command_that_never_says_start_up_is_over_collects_again_soon() -> None:
    assert run(0.2, "time.sleep(1)") == "True True"


def test_start_up_over_collects_again_at_once_with_what_it_made_frozen() -> None:
    assert run(60, "startup.release()") == "True True"


def test_the_dashboard_releases_the_collector_once_it_has_painted(tmp_path) -> None:
    script = f"""
import asyncio, gc
from pathlib import Path
from factory_tui import startup
startup.RELEASE_AFTER = 60
startup.hold()
from factory_tui.app import FactoryApp

async def main():
    app = FactoryApp(Path({str(tmp_path)!r}), follow=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        print(gc.isenabled(), gc.get_freeze_count() > 0)

asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True"
