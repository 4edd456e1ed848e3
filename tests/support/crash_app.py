"""`python crash_app.py PROJECT`: the dashboard attached to PROJECT, with a redraw that
raises, run headless: how the app fails on an unhandled exception."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's factory_tui

from factory_tui.app import FactoryApp


class Crashing(FactoryApp):
    def tick(self) -> None:
        raise RuntimeError("boom in a redraw")


app = Crashing(Path(sys.argv[1]))
app.run(headless=True)
sys.exit(app.return_code or 0)
