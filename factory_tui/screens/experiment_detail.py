"""One experiment in full: its diff with syntax highlighting, every agent's transcript, the
scores, the verdict and the Archivist's note."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Label,
    Log,
    Markdown,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from factory_tui.engine.models import Experiment, Role
from factory_tui.engine.store import Store
from factory_tui.run_view import ExperimentView
from factory_tui.widgets.key_footer import KeyFooter

from .approval import dimension_table

MAX_DIFF_LINES = 5_000
TRANSCRIPT_TAIL = 5_000


@dataclass
class ExperimentFiles:
    record: Experiment | None
    diff: str
    note: str
    transcripts: dict[str, list[str]]


def load_experiment_files(store: Store, experiment_id: str) -> ExperimentFiles:
    """Everything on disk about one experiment (read in a worker thread)."""
    try:
        record = store.load_experiment(experiment_id)
    except Exception:
        record = None
    transcripts: dict[str, list[str]] = {}
    logs = store.experiment_dir(experiment_id) / "logs"
    for role in Role:
        path = logs / f"{role.value}.log"
        if path.exists():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            transcripts[role.value] = lines[-TRANSCRIPT_TAIL:]
    return ExperimentFiles(
        record=record,
        diff=store.read_artifact(experiment_id, "diff.patch") or "",
        note=store.read_artifact(experiment_id, "note.md") or "",
        transcripts=transcripts,
    )


_NAME = re.compile(r"(?<![`\w])([\w./-]*__[\w./-]*__[\w./-]*)(?![`\w])")


def literal_names(note: str) -> str:
    """File and function names with double underscores (`__init__.py`) as code, so the
    Markdown view shows them as written instead of reading them as bold."""
    return _NAME.sub(r"`\1`", note)


class ExperimentDetail(Screen[None]):
    CSS_PATH = "experiment_detail.tcss"
    BINDINGS = [
        Binding(
            "escape,q",
            "app.pop_screen",
            "Back",
            id="detail.back",
            tooltip="Back to the previous screen",
        ),
        Binding("1", "tab('diff')", "Diff", id="detail.diff", tooltip="The experiment's diff"),
        Binding(
            "2",
            "tab('transcripts')",
            "Transcripts",
            id="detail.transcripts",
            tooltip="Each agent's transcript",
        ),
        Binding(
            "3",
            "tab('scores')",
            "Scores",
            id="detail.scores",
            tooltip="Every dimension before and after",
        ),
        Binding(
            "4",
            "tab('note')",
            "Note",
            id="detail.note",
            tooltip="The verdict and the Archivist's note",
        ),
    ]

    def __init__(self, store: Store, experiment: ExperimentView) -> None:
        super().__init__()
        self.store = store
        self.experiment = experiment
        self.files: ExperimentFiles | None = None

    def compose(self) -> ComposeResult:
        experiment = self.experiment
        yield Label(
            Text.assemble(
                (f" {experiment.id} ", "bold reverse"),
                " ",
                (experiment.hypothesis.title, "bold"),
                ("  " + experiment.status, "italic"),
            ),
            id="detail-title",
        )
        with TabbedContent(initial="diff"):
            with TabPane("Diff", id="diff"), VerticalScroll():
                yield Static("loading…", id="diff-view")
            with TabPane("Transcripts", id="transcripts"):
                yield Select([], prompt="agent", id="transcript-role", allow_blank=True)
                yield Log(id="transcript", max_lines=TRANSCRIPT_TAIL)
            with TabPane("Scores", id="scores"), VerticalScroll():
                yield Static(dimension_table(experiment), id="score-table")
                yield Static("", id="checks")
            with TabPane("Note", id="note"), VerticalScroll():
                yield Static("", id="verdict")
                yield Markdown("", id="note-view")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="detail-load", exit_on_error=False)
    def load(self) -> None:
        files = load_experiment_files(self.store, self.experiment.id)
        self.app.call_from_thread(self._show, files)

    def _show(self, files: ExperimentFiles) -> None:
        from rich.syntax import Syntax  # and pygments: loaded when a diff is first shown

        self.files = files
        diff_lines = files.diff.splitlines()
        shown = "\n".join(diff_lines[:MAX_DIFF_LINES])
        if len(diff_lines) > MAX_DIFF_LINES:
            shown += f"\n… {len(diff_lines) - MAX_DIFF_LINES} more lines in diff.patch"
        view = self.query_one("#diff-view", Static)
        view.update(
            Syntax(shown, "diff", theme="ansi_dark", word_wrap=False)
            if shown
            else Text("No diff: the Builder changed nothing.", style="dim")
        )
        select = self.query_one("#transcript-role", Select)
        roles = [role for role in Role if role.value in files.transcripts]
        select.set_options([(role.label, role.value) for role in roles])
        if roles:
            select.value = (Role.BUILDER if Role.BUILDER in roles else roles[0]).value
        verdict = files.record.verdict if files.record else self.experiment.verdict
        text = Text()
        if verdict is not None:
            text.append(f"{verdict.decision.upper()} ", style="bold")
            text.append(f"by {verdict.decided_by}: {verdict.reason}\n")
            for check in verdict.checks:
                mark, style = ("✓", "green") if check.ok else ("✗", "red")
                text.append(f"{mark} ", style=style)
                text.append(f"{check.name}: {check.detail}\n")
        self.query_one("#verdict", Static).update(text or Text("No verdict yet.", style="dim"))
        self.query_one("#checks", Static).update(text)
        self.query_one("#note-view", Markdown).update(
            literal_names(files.note) if files.note else "_No note yet._"
        )

    @on(Select.Changed, "#transcript-role")
    def show_transcript(self, event: Select.Changed) -> None:
        log = self.query_one("#transcript", Log)
        log.clear()
        if self.files is not None and isinstance(event.value, str):
            log.write_lines(self.files.transcripts.get(event.value, []))
            log.scroll_home(animate=False)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
