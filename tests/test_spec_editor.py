"""The spec editor with the Distiller, driven with pilot: editing, answering, revising, going
back a version, accepting, leaving and resuming; and its screenshots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import ContentSwitcher, Input, Select, Static, TextArea

from factory_tui.agents.base import AgentContext, AgentRequest
from factory_tui.agents.offline import OfflineRuntime
from factory_tui.engine.models import Role
from factory_tui.engine.spec import SpecDraft, parse_spec
from factory_tui.spec_app import SpecApp
from factory_tui.widgets.agent_pane import AgentPane

IDEA = "A CLI that renames photos by date"
SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def new_draft(folder: Path) -> SpecDraft:
    """A draft as interactive mode starts one: the idea distilled into version 1."""
    draft = SpecDraft(folder / ".factory")
    request = AgentRequest(role=Role.DISTILLER, cwd=folder, context=AgentContext(idea=IDEA))
    result = asyncio.run(OfflineRuntime().run(request, lambda *_: None))
    draft.add_version(result.output.spec, "idea", result.output.summary)
    state = draft.state()
    state.idea, state.summary, state.questions = (
        IDEA,
        result.output.summary,
        result.output.questions,
    )
    draft.save_state(state)
    return draft


async def still(pilot) -> None:
    """No blinking cursor in a screenshot: it would show or not by timing."""
    pilot.app.screen.query_one(TextArea).cursor_blink = False
    await pilot.pause()


async def distilled(pilot) -> None:
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_answer_revise_go_back_and_accept(tmp_path: Path) -> None:
    draft = new_draft(tmp_path)

    async def scenario() -> str | None:
        app = SpecApp(draft, OfflineRuntime(), "renamer")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            title = screen.query_one("#spec-title")
            assert "version 1 of 1" in str(title.render())
            editor = screen.query_one(TextArea)
            editor.text = editor.text.replace(
                "## Non-goals\n\n_To be decided._", "## Non-goals\n\nVideos."
            )
            await pilot.pause()
            assert "edited" in str(title.render())
            users = screen.query_one("#answer-0", Input)
            assert "Users" in str(screen.query(".question").first().render())
            users.value = "photographers with big archives"
            await pilot.press("ctrl+r")
            await distilled(pilot)
            text = screen.query_one(TextArea).text
            assert "photographers with big archives" in text and "Videos." in text
            versions = draft.state().versions
            assert [v.source for v in versions] == ["idea", "you", "distiller"]
            assert "Users" not in " ".join(draft.state().questions)
            summary = str(screen.query_one("#distiller-summary", Static).render())
            assert "Users from your answers" in summary
            await pilot.press("ctrl+l")
            assert screen.query_one(ContentSwitcher).current == "spec-diff"
            assert "+photographers with big archives" in screen.changes().code
            await pilot.press("ctrl+l")
            select = screen.query_one("#versions", Select)
            select.value = 1
            await pilot.pause()
            assert screen.query_one(TextArea).text == draft.load(1)
            assert "version 1 of 3" in str(title.render())
            select.value = 3
            await pilot.pause()
            await pilot.press("ctrl+g")
            await pilot.pause()
        return app.return_value

    accepted = asyncio.run(scenario())
    assert accepted is not None and "photographers with big archives" in accepted
    assert (tmp_path / ".factory" / "spec.md").read_text() == accepted
    assert draft.state().accepted


def test_leaving_keeps_the_draft_and_reopening_resumes_it(tmp_path: Path) -> None:
    draft = new_draft(tmp_path)

    async def edit_and_leave() -> str | None:
        app = SpecApp(draft, OfflineRuntime(), "renamer")
        async with app.run_test(size=(120, 40)) as pilot:
            app.screen.query_one(TextArea).text = "# Renamer\n\nhalf-written thoughts\n"
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
        return app.return_value

    assert asyncio.run(edit_and_leave()) is None
    assert not (tmp_path / ".factory" / "spec.md").exists()

    async def reopen() -> str:
        app = SpecApp(SpecDraft(tmp_path / ".factory"), OfflineRuntime(), "renamer")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            return app.screen.query_one(TextArea).text

    assert asyncio.run(reopen()) == "# Renamer\n\nhalf-written thoughts\n"


def test_a_new_idea_is_distilled_live_in_the_editor(tmp_path: Path) -> None:
    """Interactive mode opens the editor at once; the Distiller's first draft streams into
    its pane and becomes version 1 (nothing is printed before the app starts)."""
    draft = SpecDraft(tmp_path / ".factory")
    state = draft.state()
    state.idea = IDEA
    draft.save_state(state)

    async def scenario() -> None:
        app = SpecApp(draft, OfflineRuntime(), "renamer")
        async with app.run_test(size=(120, 40)) as pilot:
            await distilled(pilot)
            screen = app.screen
            pane = "\n".join(screen.query_one("#pane-distiller").log_view.lines)
            assert "── Distiller ──" in pane and "Problem: filled" in pane
            assert "version 1 of 1" in str(screen.query_one("#spec-title").render())
            assert screen.query_one(TextArea).text.startswith(f"# {IDEA}")
            assert screen.query("#answer-0")  # the open questions, answerable in place

    asyncio.run(scenario())
    assert [v.number for v in draft.state().versions] == [1]


def test_the_preview_renders_the_markdown(tmp_path: Path) -> None:
    draft = new_draft(tmp_path)

    async def scenario() -> None:
        app = SpecApp(draft, OfflineRuntime(), "renamer")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("ctrl+t")
            screen = app.screen
            assert screen.query_one(ContentSwitcher).current == "spec-preview"
            await pilot.press("ctrl+t")
            assert screen.query_one(ContentSwitcher).current == "spec-text"

    asyncio.run(scenario())
    assert parse_spec(draft.latest()).title == IDEA


def test_the_distillers_pane_looks_as_it_does_in_the_dashboard_app(tmp_path: Path) -> None:
    """The pane brings its own looks: a round border in the spec app as in the factory app."""
    draft = new_draft(tmp_path)

    async def scenario() -> None:
        app = SpecApp(draft, OfflineRuntime(), "renamer")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            pane = app.screen.query_one(AgentPane)
            assert [edge for edge, _ in pane.styles.border] == ["round"] * 4
            assert pane.styles.min_height is not None and pane.styles.min_height.value == 4

    asyncio.run(scenario())


@pytest.mark.parametrize("size", SIZES)
def test_spec_editor_snapshot(snap_compare, tmp_path: Path, size) -> None:
    folder = tmp_path / "renamer"
    folder.mkdir()
    app = SpecApp(new_draft(folder), OfflineRuntime(), "renamer")
    assert snap_compare(app, terminal_size=size, run_before=still)


@pytest.mark.parametrize("size", SIZES)
def test_spec_editor_after_a_revision_snapshot(snap_compare, tmp_path: Path, size) -> None:
    folder = tmp_path / "renamer"
    folder.mkdir()
    app = SpecApp(new_draft(folder), OfflineRuntime(), "renamer")

    async def revise(pilot) -> None:
        await still(pilot)
        pilot.app.screen.query_one("#answer-0", Input).value = "photographers"
        await pilot.press("ctrl+r")
        await distilled(pilot)
        # The pane's timing line would differ between runs: show the spec's changes instead.
        await pilot.press("ctrl+l")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=revise)
