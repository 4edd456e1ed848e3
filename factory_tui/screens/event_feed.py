"""Every engine event as it happened, filterable by kind."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Checkbox, Label, Log

from factory_tui.event_text import CATEGORIES, FEED_KEEP, FeedItem, category, describe
from factory_tui.widgets.key_footer import KeyFooter

FEED_MAX_LINES = 20_000


class EventFeed(Screen[None]):
    CSS_PATH = "event_feed.tcss"
    BINDINGS = [
        Binding(
            "escape", "app.pop_screen", "Back", id="feed.back", tooltip="Back to the dashboard"
        ),
        Binding(
            "1",
            "toggle_filter('agents')",
            "Agents",
            id="feed.agents",
            tooltip="Show or hide agent events and output",
        ),
        Binding(
            "2", "toggle_filter('evals')", "Evals", id="feed.evals", tooltip="Show or hide scores"
        ),
        Binding(
            "3",
            "toggle_filter('experiments')",
            "Experiments",
            id="feed.experiments",
            tooltip="Show or hide hypotheses, experiments and verdicts",
        ),
        Binding(
            "4",
            "toggle_filter('system')",
            "System",
            id="feed.system",
            tooltip="Show or hide run, cycle and stage events",
        ),
    ]

    def __init__(
        self, events: Iterable[FeedItem], added: Signal[list[FeedItem]] | None = None
    ) -> None:
        super().__init__()
        # As many as the app keeps: left open for a week, the feed holds no more.
        self.events: deque[FeedItem] = deque(events, maxlen=FEED_KEEP)
        self.shown = set(CATEGORIES)
        self.added = added  # the app publishes each batch of new events here

    def compose(self) -> ComposeResult:
        yield Label("Events", id="feed-title")
        with Horizontal(id="feed-filters"):
            for name in CATEGORIES:
                yield Checkbox(name, value=True, id=f"filter-{name}")
        yield Log(id="feed-log", max_lines=FEED_MAX_LINES)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.render_feed()
        if self.added is not None:
            self.added.subscribe(self, self.add, immediate=True)

    def on_unmount(self) -> None:
        if self.added is not None:
            self.added.unsubscribe(self)

    def add(self, events: list[FeedItem]) -> None:
        """New events from the run, appended when their kind is shown."""
        self.events.extend(events)
        lines = [describe(e) for e in events if category(e) in self.shown]
        if lines:
            self.query_one(Log).write_lines(lines)

    def render_feed(self) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write_lines([describe(e) for e in self.events if category(e) in self.shown])
        self.query_one("#feed-title", Label).update(
            f"Events: showing {', '.join(c for c in CATEGORIES if c in self.shown) or 'nothing'}"
        )

    @on(Checkbox.Changed)
    def filter_changed(self, event: Checkbox.Changed) -> None:
        name = (event.checkbox.id or "").removeprefix("filter-")
        if event.value:
            self.shown.add(name)
        else:
            self.shown.discard(name)
        self.render_feed()

    def action_toggle_filter(self, name: str) -> None:
        box = self.query_one(f"#filter-{name}", Checkbox)
        box.value = not box.value
