"""A Static that skips updates to what it already shows.

The dashboard redraws from the run view many times a second; an `update` with unchanged
content would still cost a layout pass, and a dozen of them per frame add up.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ChangingStatic(Static):
    _shown: Text | str | None = None

    @property
    def shown(self) -> Text | str:
        return self._shown or ""

    def show_text(self, content: Text | str) -> None:
        if content != self._shown:
            self._shown = content
            self.update(content)
