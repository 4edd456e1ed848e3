"""Textual's Footer, rebuilt only when the keys it shows change.

The stock Footer recomposes on every bindings signal: each focus move, screen push and
`refresh_bindings`. A recompose mounts and styles a dozen key widgets, and a dashboard
starting up sends ten such signals for the same keys: a third of its first paint.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple[tuple[str, str, str, bool, str], ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    def _keys_shown(self) -> tuple[tuple[str, str, str, bool, str], ...]:
        return tuple(
            (binding.key, binding.description, binding.action, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show or binding.key == self.app.COMMAND_PALETTE_BINDING
        )

    async def _recompose_if_changed(self) -> None:
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
