"""`python crash_app.py PROJECT`: the dashboard attached to PROJECT, with a redraw that
raises, run headless: how the app fails on an unhandled exception."""

import sys
from pathlib import Path

from factory_tui.app import FactoryApp


class Crashing(FactoryApp):
    CSS_PATH = str(Path(sys.modules[FactoryApp.__module__].__file__).parent / FactoryApp.CSS_PATH)

    def tick(self) -> None:
        raise RuntimeError("boom in a redraw")


app = Crashing(Path(sys.argv[1]))
app.run(headless=True)
sys.exit(app.return_code or 0)
