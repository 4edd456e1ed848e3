"""Screenshots of every screen at 120x40 and 80x24, from recorded runs with a pinned clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from factory_tui.app import FactoryApp, quit_confirmation
from factory_tui.screens.experiment_detail import ExperimentDetail

from .support.scenes import approval_scene, idle_scene, running_scene

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def attached_app(tmp_path: Path, scene) -> FactoryApp:
    root = tmp_path / "inventory"
    root.mkdir()
    now = scene(root)
    return FactoryApp(root, clock=lambda: now)


async def caught_up(pilot) -> None:
    app: FactoryApp = pilot.app
    await app.caught_up.wait()
    app.flush()
    app.tick()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_idle(snap_compare, tmp_path: Path, size) -> None:
    assert snap_compare(
        attached_app(tmp_path, idle_scene), terminal_size=size, run_before=caught_up
    )


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_running(snap_compare, tmp_path: Path, size) -> None:
    assert snap_compare(
        attached_app(tmp_path, running_scene), terminal_size=size, run_before=caught_up
    )


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_awaiting_approval(snap_compare, tmp_path: Path, size) -> None:
    async def decide_later(pilot) -> None:
        await caught_up(pilot)
        await pilot.press("escape")
        await pilot.pause()

    assert snap_compare(
        attached_app(tmp_path, approval_scene), terminal_size=size, run_before=decide_later
    )


@pytest.mark.parametrize("size", SIZES)
def test_approval_modal(snap_compare, tmp_path: Path, size) -> None:
    assert snap_compare(
        attached_app(tmp_path, approval_scene), terminal_size=size, run_before=caught_up
    )


@pytest.mark.parametrize("size", SIZES)
def test_experiment_detail(snap_compare, tmp_path: Path, size) -> None:
    async def open_detail(pilot) -> None:
        await caught_up(pilot)
        app: FactoryApp = pilot.app
        screen = ExperimentDetail(app.store, app.view.experiments["exp-0003"])
        await app.push_screen(screen)
        await app.workers.wait_for_complete(w for w in app.workers if w.group == "detail-load")
        await pilot.pause()

    assert snap_compare(
        attached_app(tmp_path, idle_scene), terminal_size=size, run_before=open_detail
    )


@pytest.mark.parametrize("size", SIZES)
def test_history(snap_compare, tmp_path: Path, size) -> None:
    async def open_history(pilot) -> None:
        await caught_up(pilot)
        await pilot.press("h")
        await pilot.pause()

    assert snap_compare(
        attached_app(tmp_path, idle_scene), terminal_size=size, run_before=open_history
    )


def _pressing(*keys: str):
    async def run_before(pilot) -> None:
        await caught_up(pilot)
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        # No blinking cursor in a screenshot (the message prompt's): it would show by timing.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "keys",
    [("e",), ("l",), ("m",), ("z",)],
    ids=["event-feed", "playbooks", "message-prompt", "pane-alone"],
)
def test_every_other_screen(snap_compare, tmp_path: Path, size, keys) -> None:
    """The event feed, the playbooks, the message prompt and the Builder's pane alone."""
    assert snap_compare(
        attached_app(tmp_path, running_scene), terminal_size=size, run_before=_pressing(*keys)
    )


@pytest.mark.parametrize("size", SIZES)
def test_the_quit_confirmation(snap_compare, tmp_path: Path, size) -> None:
    """Asked before quitting a run in progress: its text whole, even in 80 columns."""

    async def ask(pilot) -> None:
        await caught_up(pilot)
        await pilot.app.push_screen(quit_confirmation())
        await pilot.pause()

    assert snap_compare(attached_app(tmp_path, running_scene), terminal_size=size, run_before=ask)
