"""The keep/revert decision for one experiment: everything that bears on it, on one screen."""

from __future__ import annotations

from typing import Literal

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from factory_tui.run_view import ApprovalView, ExperimentView
from factory_tui.widgets.key_footer import KeyFooter

# "gone": the experiment no longer waits (decided elsewhere); the app closes the dialog.
Answer = Literal["keep", "revert", "diff", "later", "gone"]
# The dialog's buttons, by id.
BUTTON_ANSWERS: dict[str | None, Answer] = {
    "keep": "keep",
    "revert": "revert",
    "diff": "diff",
    "later": "later",
}


def dimension_table(experiment: ExperimentView) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1))
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("dimension", "left"),
        ("before", "right"),
        ("after", "right"),
        ("delta", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, style="bold" if column == "dimension" else "")
    before, after = experiment.before_card, experiment.after_card
    card = after or before
    names = [d.name for d in card.dimensions] if card else []
    for name in names:
        old = before.dimension(name) if before else None
        new = after.dimension(name) if after else None
        old_score = old.score if old else None
        new_score = new.score if new else None
        table.add_row(name, _fmt(old_score), _fmt(new_score), _delta(old_score, new_score))
    table.add_row(
        Text("composite", style="bold"),
        _fmt(experiment.before),
        _fmt(experiment.after),
        _delta(experiment.before, experiment.after),
    )
    return table


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _delta(old: float | None, new: float | None) -> Text:
    if old is None or new is None:
        return Text("n/a", style="dim")
    delta = new - old
    style = "green" if delta > 1e-9 else "red" if delta < -1e-9 else "dim"
    return Text(f"{delta:+.4f}", style=style)


class ApprovalModal(ModalScreen[Answer]):
    """Keep (k), revert (r), open the diff (d) or decide later (escape)."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding(
            "k",
            "answer('keep')",
            "Keep",
            id="approval.keep",
            tooltip="Keep: move the base branch to this experiment",
        ),
        Binding(
            "r",
            "answer('revert')",
            "Revert",
            id="approval.revert",
            tooltip="Revert: drop the change and archive its branch",
        ),
        Binding(
            "d",
            "answer('diff')",
            "Diff",
            id="approval.diff",
            tooltip="Open the experiment's diff and transcripts",
        ),
        Binding(
            "escape,l",
            "answer('later')",
            "Later",
            id="approval.later",
            tooltip="Decide later; the run waits",
        ),
    ]

    def __init__(self, pending: ApprovalView, experiment: ExperimentView) -> None:
        super().__init__(classes="approval-screen")
        self.pending = pending
        self.experiment = experiment

    def compose(self) -> ComposeResult:
        experiment, recommendation = self.experiment, self.pending.recommendation
        with VerticalScroll(classes="dialog approval"):
            yield Label(f"{experiment.id} awaits your decision", classes="dialog-title")
            yield Static(Text(experiment.hypothesis.title, style="bold"), classes="hypothesis")
            if experiment.hypothesis.rationale:
                yield Static(experiment.hypothesis.rationale, classes="rationale")
            yield Label("Changes", classes="section")
            yield Static(self.pending.diffstat or "(no diffstat)", classes="diffstat")
            yield Label("Scores", classes="section")
            yield Static(dimension_table(experiment), classes="scores")
            yield Label("Guards and precheck", classes="section")
            checks = Text()
            for check in recommendation.checks:
                mark, style = ("✓", "green") if check.ok else ("✗", "red")
                checks.append(f"{mark} ", style=style)
                checks.append(f"{check.name}: ", style="bold")
                checks.append(f"{check.detail}\n")
            yield Static(checks, classes="checks")
            review = experiment.review
            if review is not None:
                yield Label("Reviewer", classes="section")
                style = "green" if review.verdict == "approve" else "red"
                said = Text.assemble((review.verdict, f"bold {style}"), f": {review.summary}")
                for concern in review.concerns:
                    said.append("\n• ", style="yellow")
                    said.append(concern)
                yield Static(said, classes="review")
            yield Label("Recommended", classes="section")
            yield Static(
                Text.assemble(
                    (recommendation.decision.upper(), "bold"), f" — {recommendation.reason}"
                ),
                classes="recommendation",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep (k)", variant="success", id="keep")
                yield Button("Revert (r)", variant="error", id="revert")
                yield Button("Diff (d)", id="diff")
                yield Button("Later (esc)", id="later")
        yield KeyFooter()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(BUTTON_ANSWERS[event.button.id])

    def action_answer(self, answer: Answer) -> None:
        self.dismiss(answer)
