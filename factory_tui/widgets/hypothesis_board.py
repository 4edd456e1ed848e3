"""Backlog, proposed, running, kept and reverted hypotheses in one list; pick one to open it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from factory_tui.engine.models import BacklogItem
from factory_tui.run_view import ExperimentView, RunView

# Experiments listed under each status, newest first; the history (h) has every one. A
# month of reverted experiments would otherwise be wrapped and laid out on each redraw.
LISTED = 20

COLUMNS = (
    ("running", "RUNNING", "bold green"),
    ("awaiting_approval", "AWAITING APPROVAL", "bold magenta"),
    ("kept", "KEPT", "green"),
    ("reverted", "REVERTED", "yellow"),
    ("aborted", "ABORTED", "red"),
)


class HypothesisBoard(OptionList):
    """The hypothesis board. Selecting an experiment posts `ExperimentSelected`."""

    # OptionList's own border changes with focus: the board keeps its round one.
    DEFAULT_CSS = """
    HypothesisBoard, HypothesisBoard:focus {
        border: round $primary-darken-1;
        border-title-color: $text;
    }
    """

    @dataclass
    class ExperimentSelected(Message):
        board: HypothesisBoard
        experiment_id: str

        @property
        def control(self) -> HypothesisBoard:
            return self.board

    @dataclass
    class BacklogSelected(Message):
        board: HypothesisBoard
        item_id: str

        @property
        def control(self) -> HypothesisBoard:
            return self.board

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Hypotheses"
        self._signature: tuple[object, ...] = ()

    def show(self, view: RunView, backlog: list[BacklogItem]) -> None:
        open_items = [item for item in backlog if item.status == "open"]
        by_status: dict[str, list[ExperimentView]] = {key: [] for key, _, _ in COLUMNS}
        for experiment in reversed(view.experiments.values()):
            by_status.setdefault(experiment.status, []).append(experiment)
        waiting = set(view.out_of_reach)
        signature = (
            tuple(item.id for item in open_items),
            tuple(view.out_of_reach),
            tuple(h.title for h in view.proposed),
            tuple((e.id, e.status, e.after) for e in view.experiments.values()),
        )
        if signature == self._signature:
            return
        self._signature = signature
        highlighted = self.highlighted_option.id if self.highlighted_option else None
        options: list[Option] = []

        def header(title: str, count: int, style: str) -> None:
            options.append(Option(Text(f"{title} ({count})", style=style), disabled=True))

        header("BACKLOG", len(open_items), "bold")
        for item in open_items:
            label = Text(f"  {item.title}")
            if item.title in waiting:  # the runtime cannot build it: say so where it is
                label.append("  needs a model", style="dim italic")
            options.append(Option(label, id=f"backlog:{item.id}"))
        header("PROPOSED", len(view.proposed), "bold cyan")
        options += [
            Option(f"  {h.title}  +{h.expected_gain:.3f}", id=f"proposed:{index}")
            for index, h in enumerate(view.proposed)
        ]
        for key, title, style in COLUMNS:
            items = by_status.get(key, [])
            if not items and key in ("awaiting_approval", "aborted"):
                continue
            header(title, len(items), style)
            for experiment in items[:LISTED]:
                delta = "" if experiment.delta is None else f"  {experiment.delta:+.4f}"
                options.append(
                    Option(
                        f"  {experiment.id} {experiment.hypothesis.title}{delta}",
                        id=f"exp:{experiment.id}",
                    )
                )
            if len(items) > LISTED:
                more = Text(f"  … {len(items) - LISTED} more: h lists them all", style="dim")
                options.append(Option(more, disabled=True))
        self.set_options(options)
        if highlighted is not None:
            # The item highlighted may be gone (a backlog item done): keep the place then.
            with contextlib.suppress(OptionDoesNotExist, LookupError):
                self.highlighted = self.get_option_index(highlighted)
        else:
            # Nothing picked yet: show the board from its top, whatever the redraw timing.
            self.highlighted = None
            self.scroll_home(animate=False, immediate=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id.startswith("exp:"):
            event.stop()
            self.post_message(self.ExperimentSelected(self, option_id.removeprefix("exp:")))
        elif option_id.startswith("backlog:"):
            event.stop()
            self.post_message(self.BacklogSelected(self, option_id.removeprefix("backlog:")))
