"""The spec editor: shape a spec with the Distiller before anything is built.

The spec is markdown in an editable, highlighted text area (ctrl+t shows it rendered); the
Distiller's summary and open questions sit beside it, each answerable in place. Revising
(ctrl+r) sends the spec, your edits and your answers to the Distiller, whose output streams
into its pane and becomes a new version; ctrl+l shows what changed, and any earlier version
can be brought back from the list. Accepting (ctrl+g) writes `.factory/spec.md`. Leaving
keeps the draft; opening the editor again resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import (
    ContentSwitcher,
    Input,
    Label,
    Markdown,
    Select,
    Static,
    TextArea,
)

from factory_tui.agents.base import AgentContext, AgentRequest, AgentRun, Runtime
from factory_tui.agents.contracts import Contract, DistillerOutput, ResearcherOutput
from factory_tui.engine.models import Role
from factory_tui.engine.spec import SpecDraft, diff_text
from factory_tui.run_view import AgentView
from factory_tui.widgets.agent_pane import AgentPane
from factory_tui.widgets.key_footer import KeyFooter

OFFLINE_RESEARCH = (
    "The offline runtime cannot research an idea: it has no model and no "
    "network. With --runtime claude the Researcher looks for similar tools, "
    "good practice and risks, and shows them here."
)


class SpecEditor(Screen[None]):
    CSS_PATH = "spec_editor.tcss"
    BINDINGS = [
        Binding(
            "ctrl+r",
            "revise",
            "Revise",
            id="spec.revise",
            tooltip="Send the spec, your edits and answers to the Distiller",
        ),
        Binding(
            "ctrl+t",
            "view('spec-preview')",
            "Preview",
            id="spec.preview",
            tooltip="Show the spec rendered (again to edit)",
        ),
        Binding(
            "ctrl+l",
            "view('spec-diff')",
            "Changes",
            id="spec.diff",
            tooltip="What changed since the previous version",
        ),
        Binding("ctrl+s", "save", "Save draft", id="spec.save", tooltip="Keep the draft"),
        Binding(
            "ctrl+g",
            "accept",
            "Accept",
            id="spec.accept",
            tooltip="Accept the spec: write .factory/spec.md",
        ),
        Binding(
            "ctrl+o",
            "versions",
            "Versions",
            id="spec.versions",
            tooltip="Bring back any earlier version",
        ),
        Binding(
            "escape",
            "leave",
            "Back",
            id="spec.back",
            tooltip="Leave; the draft is kept and resumes next time",
        ),
    ]

    @dataclass
    class Accepted(Message):
        """The person accepted the spec (already written to `.factory/spec.md`)."""

        text: str

    def __init__(
        self,
        draft: SpecDraft,
        runtime: Runtime,
        project: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.draft = draft
        self.runtime = runtime
        self.project = project
        self.clock = clock
        self.shown_version: int | None = None

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        state = self.draft.state()
        yield Label("", id="spec-title")
        with Horizontal(id="spec-main"):
            with ContentSwitcher(initial="spec-text", id="spec-views"):
                # Tab moves on to the questions rather than indenting: this is prose.
                yield TextArea(
                    self.draft.draft(),
                    language="markdown",
                    id="spec-text",
                    soft_wrap=True,
                    show_line_numbers=True,
                    tab_behavior="focus",
                )
                with VerticalScroll(id="spec-preview"):
                    yield Markdown("", id="spec-rendered")
                with VerticalScroll(id="spec-diff"):
                    yield Static("", id="spec-diff-text")
            with VerticalScroll(id="spec-side", can_focus=False):
                yield Label("Distiller", classes="side-title")
                yield Static(
                    state.summary or "No revision yet: press ctrl+r.", id="distiller-summary"
                )
                yield Label("Open questions", classes="side-title")
                yield Vertical(id="questions")
                yield Label("Research", classes="side-title")
                yield Static("", id="research")
                yield Label("Versions", classes="side-title")
                yield Select([], prompt="bring back a version", id="versions", allow_blank=True)
                yield AgentPane(Role.DISTILLER, max_lines=500)
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        await self.show_questions()
        self.show_versions()
        self.show_title()
        state = self.draft.state()
        if not state.versions and state.idea:
            self.revise()  # the first draft, streaming into the Distiller's pane
        if self.runtime.name == "offline":
            self.query_one("#research", Static).update(Text(OFFLINE_RESEARCH, style="dim"))
        elif state.idea:
            self.research(state.idea)

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    def show_title(self) -> None:
        state = self.draft.state()
        latest = state.versions[-1] if state.versions else None
        edited = latest is not None and self.draft.load(latest.number) != self.text
        parts = [f"Spec · {self.project or 'new project'}"]
        if latest:
            shown = self.shown_version or latest.number
            parts.append(f"version {shown} of {latest.number}")
        if edited:
            parts.append("edited")
        if state.accepted:
            parts.append("accepted")
        self.query_one("#spec-title", Label).update(" · ".join(parts))

    async def show_questions(self) -> None:
        """One answer field per open question (replacing the previous set)."""
        state = self.draft.state()
        box = self.query_one("#questions", Vertical)
        await box.remove_children()
        if not state.questions:
            await box.mount(Static(Text("None open.", style="dim")))
            return
        fields: list[Widget] = []
        for index, question in enumerate(state.questions):
            fields.append(Label(question, classes="question"))
            fields.append(
                Input(
                    value=state.answers.get(question, ""),
                    placeholder="your answer",
                    id=f"answer-{index}",
                    classes="answer",
                )
            )
        await box.mount_all(fields)

    def show_versions(self) -> None:
        state = self.draft.state()
        options = [
            (f"v{v.number} · {v.source} · {v.summary or ''}".rstrip(" ·"), v.number)
            for v in reversed(state.versions)
        ]
        select = self.query_one("#versions", Select)
        with select.prevent(Select.Changed):
            select.set_options(options)

    def answers(self) -> dict[str, str]:
        state = self.draft.state()
        found = {}
        for index, question in enumerate(state.questions):
            inputs = self.query(f"#answer-{index}").results(Input)
            for field in inputs:
                if field.value.strip():
                    found[question] = field.value.strip()
        return found

    # -- actions -----------------------------------------------------------------------------
    def action_save(self) -> None:
        self._keep_answers()
        self.draft.save_draft(self.text)
        self.notify("Draft kept.")

    def _keep_answers(self) -> None:
        state = self.draft.state()
        state.answers.update(self.answers())
        self.draft.save_state(state)

    def action_view(self, view: str) -> None:
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == view:
            switcher.current = "spec-text"
            self.query_one(TextArea).focus()
            return
        if view == "spec-preview":
            self.query_one("#spec-rendered", Markdown).update(self.text)
        else:
            self.query_one("#spec-diff-text", Static).update(self.changes())
        switcher.current = view

    def changes(self) -> Syntax | Text:
        versions = self.draft.state().versions
        if not versions:
            return Text("No version yet.", style="dim")
        latest = versions[-1]
        current = self.text
        if self.draft.load(latest.number) != current:
            old_name, old, new_name = f"v{latest.number}", self.draft.load(latest.number), "edited"
        elif len(versions) > 1:
            before = versions[-2]
            old_name, old, new_name = (
                f"v{before.number}",
                self.draft.load(before.number),
                f"v{latest.number}",
            )
        else:
            return Text("Only one version so far.", style="dim")
        diff = diff_text(old, current, old_name, new_name)
        return Syntax(diff, "diff", theme="ansi_dark") if diff else Text("No changes.")

    def action_versions(self) -> None:
        self.query_one("#versions", Select).focus()

    @on(Select.Changed, "#versions")
    def bring_back(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int):
            return
        self.draft.save_draft(self.text)
        self.query_one(TextArea).text = self.draft.load(event.value)
        self.shown_version = event.value
        self.show_title()
        self.notify(f"Version {event.value} is in the editor; revise or accept from here.")

    @on(TextArea.Changed, "#spec-text")
    def edited(self) -> None:
        self.show_title()

    def action_revise(self) -> None:
        self.revise()

    @work(exclusive=True, group="distiller", exit_on_error=False)
    async def revise(self) -> None:
        self._keep_answers()
        text = self.text
        self.draft.save_draft(text)
        if text.strip():
            self.draft.add_version(text, "you", "your edits")
        state = self.draft.state()
        context = AgentContext(idea=state.idea, spec=text, answers=state.answers)
        request = AgentRequest(
            role=Role.DISTILLER, cwd=self.draft.folder.parent.parent, context=context
        )
        result = (await self._run_agent(request)).as_output(DistillerOutput)
        if not result.ok:
            self.notify(f"The Distiller failed: {result.error}", severity="error")
            return
        output = result.result
        number = self.draft.add_version(output.spec, "distiller", output.summary)
        state = self.draft.state()
        state.summary, state.questions = output.summary, output.questions
        state.answers = {q: a for q, a in state.answers.items() if q in output.questions}
        self.draft.save_state(state)
        self.draft.save_draft(output.spec)
        self.query_one(TextArea).text = output.spec
        self.shown_version = None
        self.query_one("#distiller-summary", Static).update(output.summary)
        await self.show_questions()
        self.show_versions()
        self.show_title()
        if number == 1:
            self.notify(
                "The Distiller drafted a spec from your idea: answer its questions and "
                "revise (ctrl+r), or accept it (ctrl+g)."
            )
        else:
            what = f"version {number}" if number else "no change"
            self.notify(f"The Distiller wrote {what}; ctrl+l shows what changed.")

    @work(exclusive=True, group="spec-research", exit_on_error=False)
    async def research(self, idea: str) -> None:
        box = self.query_one("#research", Static)
        box.update(Text("The Researcher is looking into the idea…", style="dim"))
        request = AgentRequest(
            role=Role.RESEARCHER,
            cwd=self.draft.folder.parent.parent,
            context=AgentContext(idea=idea, spec=self.text),
        )
        result = (await self._run_agent(request)).as_output(ResearcherOutput)
        if not result.ok:
            box.update(Text(f"No research: {result.error}", style="dim"))
            return
        text = Text(result.result.summary + "\n")
        for finding in result.result.findings:
            text.append(f"• {finding.title}", style="bold")
            text.append(f" — {finding.detail}\n")
        box.update(text)

    async def _run_agent(self, request: AgentRequest) -> AgentRun[Contract]:
        """Run a role with its output streaming into the pane and its status beside it."""
        pane = self.query_one(AgentPane)
        agent = AgentView(role=request.role, state="running", started=self.clock())
        pane.show_status(agent, self.clock())
        pane.write_lines([f"── {request.role.label} ──"])
        result = await self.runtime.run(request, lambda line, kind: pane.write_lines([line]))
        agent.state = "done" if result.ok else "failed"
        agent.finished, agent.usage = self.clock(), result.usage
        pane.show_status(agent, self.clock())
        return result

    def action_accept(self) -> None:
        self._keep_answers()
        path = self.draft.accept(self.text)
        self.show_versions()
        self.show_title()
        self.notify(f"Accepted: {path}")
        self.post_message(self.Accepted(self.text))

    def action_leave(self) -> None:
        self._keep_answers()
        self.draft.save_draft(self.text)
        self.dismiss()
