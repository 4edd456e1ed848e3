"""The TUI driven like a person would, with pilot, on real repositories and real runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from textual.events import Key
from textual.widgets import Log, Static

from factory_tui import app as app_module
from factory_tui.app import QUEUE_HIGH, FactoryApp
from factory_tui.ceo.decide import Decision
from factory_tui.ceo.run import Pipeline, RunOptions
from factory_tui.engine import build
from factory_tui.engine import events as ev
from factory_tui.engine.models import AgentUsage, Role, Stage, Verdict
from factory_tui.engine.store import Store
from factory_tui.screens.approval import ApprovalModal
from factory_tui.screens.confirm import Confirm
from factory_tui.screens.event_feed import EventFeed
from factory_tui.screens.experiment_detail import ExperimentDetail
from factory_tui.screens.history import History
from factory_tui.screens.pane_alone import PaneAlone
from factory_tui.screens.spec_editor import SpecEditor
from factory_tui.screens.text_prompt import TextPrompt
from factory_tui.widgets.agent_pane import AgentPane
from factory_tui.widgets.pipeline_bar import PipelineBar
from factory_tui.widgets.run_header import RunHeader

from .conftest import FIXABLE, TRAP, scripted_config, start_factory
from .support.procs import MARK, marked, new_mark, wait_gone
from .support.scenes import Scene, idle_scene, running_scene

SIZE = (120, 40)


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 60) -> None:
    """Let the app run until `condition` holds (the engine works in real subprocesses)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)
    pilot.app.flush()
    await pilot.pause()


def live_app(root: Path, cycles: int = 1, approval: str = "auto", autostart=True) -> FactoryApp:
    pipeline = Pipeline.open(root, RunOptions(cycles=cycles, approval=approval))
    return FactoryApp(root, pipeline=pipeline, autostart=autostart)


async def engine_done(pilot) -> None:
    app: FactoryApp = pilot.app
    await app.workers.wait_for_complete(w for w in app.workers if w.group == "engine")
    app.flush()
    await pilot.pause()


def test_a_full_kept_cycle_shows_in_every_part_of_the_dashboard(make_repo) -> None:
    root = make_repo(FIXABLE)

    async def scenario() -> None:
        app = live_app(root)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.engine_running)
            await engine_done(pilot)
            dashboard = app.dashboard
            assert app.view.experiments["exp-0001"].status == "kept"
            lines = "\n".join(dashboard.query_one("#pane-builder").log_view.lines)
            assert "changed calc/core.py" in lines
            board = dashboard.query_one("#board")
            prompts = [str(board.get_option_at_index(i).prompt) for i in range(board.option_count)]
            assert any("KEPT (1)" in p for p in prompts)
            assert any("exp-0001" in p for p in prompts)
            assert app.view.state == "idle" and app.view.best is not None
            log = Store(root).agent_log_path("exp-0001", "builder").read_text()
            assert "changed calc/core.py" in log
        assert git.Repo(root).head.commit.message.startswith("Apply ruff's safe fixes")

    asyncio.run(scenario())


def test_manual_approval_revert_from_the_modal(make_repo) -> None:
    root = make_repo(FIXABLE)
    base = git.Repo(root).head.commit.hexsha

    async def scenario() -> None:
        app = live_app(root, approval="manual")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal))
            assert app.view.state == "awaiting_approval"
            await pilot.press("r")
            await engine_done(pilot)
        experiment = Store(root).load_experiment("exp-0001")
        assert experiment.status == "reverted"
        assert experiment.verdict.decided_by == "human"
        assert git.Repo(root).head.commit.hexsha == base
        assert "factory/reverted/exp-0001" in [h.name for h in git.Repo(root).heads]

    asyncio.run(scenario())


def test_decide_later_then_keep_with_a(make_repo) -> None:
    root = make_repo(FIXABLE)

    async def scenario() -> None:
        app = live_app(root, approval="manual")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal))
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ApprovalModal)
            assert app.engine_running and app.view.pending is not None
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal))
            await pilot.press("k")
            await engine_done(pilot)
        assert Store(root).load_experiment("exp-0001").status == "kept"

    asyncio.run(scenario())


def test_pause_holds_the_run_between_stages_and_resume_finishes_it(make_repo) -> None:
    root = make_repo(TRAP)

    async def scenario() -> None:
        app = live_app(root)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")
            await wait_until(pilot, lambda: app.view.state == "paused")
            # Held between stages: wherever it was, nothing moves on while paused.
            held = (app.view.stage, [e.status for e in Store(root).experiments()])
            await pilot.pause(1.0)
            app.flush()
            assert app.engine_running
            assert (app.view.stage, [e.status for e in Store(root).experiments()]) == held
            assert "reverted" not in held[1]
            await pilot.press("p")
            await engine_done(pilot)
            assert app.view.state == "idle"
        assert [e.status for e in Store(root).experiments()] == ["reverted"]

    asyncio.run(scenario())


def test_next_cycle_and_approval_toggle(make_repo) -> None:
    root = make_repo(TRAP)

    async def scenario() -> None:
        app = live_app(root, autostart=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t")
            assert app.pipeline.gate.mode == "manual" and app.view.approval == "manual"
            await pilot.press("t")
            assert app.pipeline.gate.mode == "auto"
            await pilot.press("n")
            await wait_until(pilot, lambda: app.engine_running)
            await pilot.press("n")  # already running: refused, not doubled
            await engine_done(pilot)
        assert len(Store(root).experiments()) == 1

    asyncio.run(scenario())


def test_backlog_and_message_prompts_write_the_store(make_repo) -> None:
    root = make_repo(TRAP)

    async def scenario() -> None:
        app = live_app(root, autostart=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("b")
            assert isinstance(app.screen, TextPrompt)
            await pilot.press(*"Format flags/core.py with ruff format", "enter")
            await pilot.pause()
            await pilot.press("m")
            await pilot.press(*"look at flags first", "enter")
            await pilot.pause()
            board = app.dashboard.query_one("#board")
            prompts = [str(board.get_option_at_index(i).prompt) for i in range(board.option_count)]
            assert "BACKLOG (1)" in prompts[0]
            await pilot.press("b", "escape")
        store = Store(root)
        assert [item.title for item in store.backlog()] == ["Format flags/core.py with ruff format"]
        assert [m.text for m in store.pending_messages()] == ["look at flags first"]

    asyncio.run(scenario())


def test_a_backlog_item_done_from_the_board_leaves_the_app_running(make_repo) -> None:
    """It was highlighted when it left the board: the redraw raised OptionDoesNotExist."""
    root = make_repo(TRAP)
    item = Store(root).add_backlog_item("write better docs")

    async def scenario() -> None:
        app = live_app(root, autostart=False)
        async with app.run_test(size=SIZE) as pilot:
            app.redraw()
            await pilot.pause()
            board = app.dashboard.query_one("#board")
            board.focus()
            board.highlighted = board.get_option_index(f"backlog:{item.id}")
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()
            app.redraw()
            await pilot.pause(0.3)
            prompts = [str(board.get_option_at_index(i).prompt) for i in range(board.option_count)]
            assert "BACKLOG (0)" in prompts[0]
            assert app.is_running
        assert [i.status for i in Store(root).backlog()] == ["done"]

    asyncio.run(scenario())


def test_a_message_reaches_the_next_cycle_and_is_marked_read(make_repo) -> None:
    root = make_repo(TRAP)
    Store(root).add_message("Format flags/core.py with ruff format")

    async def scenario() -> None:
        app = live_app(root)
        async with app.run_test(size=SIZE) as pilot:
            await engine_done(pilot)
            await wait_until(pilot, lambda: not app.engine_running)
            strategist = "\n".join(app.dashboard.query_one("#pane-strategist").log_view.lines)
            assert "message from you: Format flags/core.py with ruff format" in strategist
        assert Store(root).pending_messages() == []
        [first] = Store(root).experiments()
        assert first.hypothesis.title == "Format flags/core.py with ruff format"
        assert first.hypothesis.source == "user"

    asyncio.run(scenario())


def test_maximise_search_and_follow_a_pane(make_repo) -> None:
    root = make_repo(FIXABLE)

    async def scenario() -> None:
        app = live_app(root)
        async with app.run_test(size=SIZE) as pilot:
            await engine_done(pilot)
            pane = app.dashboard.query_one("#pane-researcher")
            pane.log_view.focus()
            layout = [(p.id, p.region) for p in app.dashboard.query(AgentPane)]
            await pilot.press("z")
            await pilot.pause()
            alone = app.screen
            assert isinstance(alone, PaneAlone) and alone.role is Role.RESEARCHER
            assert alone.pane.region.width == SIZE[0] and alone.pane.region.height >= SIZE[1] - 2
            assert alone.pane.log_view.lines == pane.log_view.lines  # all it had
            assert alone.pane.log_view.has_focus
            # Output goes on arriving on the pane shown alone.
            app.enqueue([ev.AgentOutput(role=Role.RESEARCHER, line="arrived while alone")])
            app.flush()
            await pilot.pause()
            assert alone.pane.log_view.lines[-1] == "arrived while alone"
            await pilot.press("z")
            await pilot.pause()
            assert app.screen is app.dashboard and pane.log_view.has_focus
            assert [(p.id, p.region) for p in app.dashboard.query(AgentPane)] == layout
            assert pane.log_view.lines[-1] == "arrived while alone"
            await pilot.press("z", "escape")  # escape restores too
            await pilot.pause()
            assert app.screen is app.dashboard and pane.region.width < SIZE[0] // 2
            await pilot.press("z", "slash", *"F401", "enter")  # searching the pane alone
            await pilot.pause()
            assert app.screen is alone and alone.pane.log_view.auto_scroll is False
            assert "F401" in alone.pane.log_view.lines[alone.pane._search_from]
            await pilot.press("z")
            await pilot.pause()
            await pilot.press("slash", *"F401", "enter")
            await pilot.pause()
            assert pane.log_view.auto_scroll is False
            assert "F401" in pane.log_view.lines[pane._search_from]
            await pilot.press("f", "slash", *"lint", "enter")
            await pilot.pause()
            first = pane._search_from
            await pilot.press("slash")  # again: the next match, no new prompt
            await pilot.pause()
            assert not isinstance(app.screen, TextPrompt)
            assert pane._search_from > first and "lint" in pane.log_view.lines[pane._search_from]
            await pilot.press("f")
            assert pane.log_view.auto_scroll is True
            await pilot.press("slash")  # a new search after following
            await pilot.pause()
            assert isinstance(app.screen, TextPrompt)
            await pilot.press("escape")

    asyncio.run(scenario())


def recorded_app(tmp_path: Path) -> tuple[Path, FactoryApp]:
    """An app attached to a recorded, finished run of three experiments."""
    root = tmp_path / "inventory"
    root.mkdir()
    now = idle_scene(root)
    return root, FactoryApp(root, clock=lambda: now)


async def caught_up(app: FactoryApp) -> None:
    await app.caught_up.wait()
    app.flush()


def test_feed_history_detail_and_spec_screens(tmp_path: Path) -> None:
    root, app = recorded_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            await pilot.press("e")
            feed = app.screen
            assert isinstance(feed, EventFeed)
            lines = feed.query_one("#feed-log").lines
            everything = len(lines)
            # Agent output is kept as plain text for the feed, and shown as any event is.
            assert any(" exp-0001 Builder │ " in line for line in lines)
            await pilot.press("1")  # hide agents
            await pilot.pause()
            assert 0 < feed.query_one("#feed-log").line_count < everything
            assert not any(" Builder │ " in line for line in feed.query_one("#feed-log").lines)
            await pilot.press("escape", "h")
            history = app.screen
            assert isinstance(history, History)
            assert history.query_one("#history-table").row_count == 3
            await pilot.press("slash", *"revert", "enter")
            await pilot.pause()
            assert history.query_one("#history-table").row_count == 1
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ExperimentDetail)
            await app.workers.wait_for_complete(w for w in app.workers if w.group == "detail-load")
            await pilot.press("2")
            await pilot.pause()
            transcript = app.screen.query_one("#transcript")
            assert transcript.line_count > 0
            await pilot.press("escape", "escape", "s")
            assert isinstance(app.screen, SpecEditor)
            await pilot.press(*"# Inventory spec", "ctrl+g")
            await pilot.pause()
        assert (root / ".factory" / "spec.md").read_text().startswith("# Inventory spec")

    asyncio.run(scenario())


def test_selecting_an_experiment_on_the_board_opens_it(tmp_path: Path) -> None:
    _, app = recorded_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            await pilot.pause()
            board = app.dashboard.query_one("#board")
            board.focus()
            index = next(
                i
                for i in range(board.option_count)
                if board.get_option_at_index(i).id == "exp:exp-0002"
            )
            board.highlighted = index
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ExperimentDetail)
            assert app.screen.experiment.id == "exp-0002"

    asyncio.run(scenario())


def test_quit_while_a_cycle_runs_asks_then_aborts_cleanly(make_repo, tmp_path, monkeypatch):
    root = make_repo({"README.md": "# hello\n"})
    scripted_config(root)
    base = git.Repo(root).head.commit.hexsha
    mark = new_mark()
    monkeypatch.setenv("SCRIPTED_AGENT", "builder=hang")
    monkeypatch.setenv(MARK, mark)

    async def scenario() -> None:
        app = live_app(root)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot, lambda: app.view.agents[Role.BUILDER].state == "running" and marked(mark)
            )
            await pilot.press("q")
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")
            assert app.engine_running
            await pilot.press("q")
            await pilot.press("y")
            await pilot.pause()
        assert app.return_value == 0

    asyncio.run(scenario())
    assert wait_gone(mark) == []
    assert Store(root).load_experiment("exp-0001").status == "aborted"
    assert not (root / ".factory" / "worktrees" / "slot-1").exists()
    assert git.Repo(root).head.commit.hexsha == base


def test_watch_follows_a_headless_run_and_approves_it_from_here(make_repo) -> None:
    root = make_repo(FIXABLE)
    process = start_factory(
        "ceo", str(root), "--headless", "--approval", "manual", "--cycles", "1", "-q"
    )

    async def scenario() -> None:
        app = FactoryApp(root)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal), timeout=90)
            assert app.view.pending.experiment == "exp-0001"
            lines = "\n".join(app.dashboard.query_one("#pane-builder").log_view.lines)
            assert "changed calc/core.py" in lines
            await pilot.press("k")
            await wait_until(pilot, lambda: app.view.finished_status == "completed", timeout=60)
            assert app.view.experiments["exp-0001"].status == "kept"

    try:
        asyncio.run(scenario())
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    experiment = Store(root).load_experiment("exp-0001")
    assert experiment.status == "kept" and experiment.verdict.decided_by == "human"


def test_an_unhandled_error_exits_non_zero_with_one_line_and_a_traceback_file(make_repo):
    root = make_repo(TRAP)
    script = Path(__file__).parent / "support" / "crash_app.py"
    result = subprocess.run(
        [sys.executable, str(script), str(root)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "factory: the dashboard stopped on RuntimeError: boom in a redraw" in line
    [crash] = (root / ".factory" / "crashes").iterdir()
    assert str(crash) in line
    assert "Traceback" in crash.read_text() and "boom in a redraw" in crash.read_text()


def test_the_note_shows_dunder_names_as_written() -> None:
    from factory_tui.screens.experiment_detail import literal_names

    note = "Format inventory/__init__.py and 3 more files; `__main__` kept"
    assert literal_names(note) == "Format `inventory/__init__.py` and 3 more files; `__main__` kept"


def test_approvals_are_a_queue_answered_once_and_closed_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "inventory"
    root.mkdir()
    scene = Scene(root)
    scene.store.lock.acquire(command="a run with two experiments waiting")
    scene.start(approval="manual")
    scene.experiment(1)
    scene.experiment(2, manual=True)
    scene.experiment(3, manual=True)
    app = FactoryApp(root, clock=lambda: scene.now)
    decisions = scene.store.experiments_dir

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            await pilot.pause()
            assert isinstance(app.screen, ApprovalModal)
            assert app.screen.pending.experiment == "exp-0002"  # the first to ask, by itself
            # The Reviewer's concerns are in front of the person deciding.
            said = str(app.screen.query_one(".review", Static).render())
            assert "approve" in said and "store.py:19: the TODO is left in place" in said
            await pilot.press("k")
            await pilot.pause()
            answer = Decision.model_validate_json(
                (decisions / "exp-0002" / "decision.json").read_text()
            )
            assert (answer.decision, answer.nonce) == ("keep", "nonce-2")
            # The next one opens by itself; the answered one never again.
            assert isinstance(app.screen, ApprovalModal)
            assert app.screen.pending.experiment == "exp-0003"
            # Another side (the run, another watch) decides exp-0003: the dialog closes.
            scene.emit(
                ev.ExperimentFinished,
                status="reverted",
                verdict=Verdict(decision="revert", reason="by a person elsewhere"),
                experiment="exp-0003",
            )
            await wait_until(pilot, lambda: not isinstance(app.screen, ApprovalModal))
            # A decision for an experiment that no longer waits is refused.
            (decisions / "exp-0002" / "decision.json").unlink()
            app.decide("exp-0002", "revert")
            app.decide("exp-0003", "keep")
            assert not (decisions / "exp-0002" / "decision.json").exists()
            assert not (decisions / "exp-0003" / "decision.json").exists()
            await pilot.press("a")  # nothing waits for exp-0003 any more: said so
            await pilot.pause()
            assert not isinstance(app.screen, ApprovalModal)

    asyncio.run(scenario())


def test_a_watcher_sees_the_run_end_when_its_lock_is_gone(tmp_path: Path) -> None:
    """The run was killed: no run_finished event, only the lock gone."""
    root = tmp_path / "inventory"
    root.mkdir()
    now = running_scene(root)
    app = FactoryApp(root, clock=lambda: now)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            app.tick()
            assert app.view.agents[Role.BUILDER].state == "running"
            # The run's process is killed: its pid stays in the lock file, dead.
            gone = subprocess.Popen(["true"])
            gone.wait()
            lock = Store(root).lock.path
            lock.write_text(lock.read_text().replace(f'"pid":{os.getpid()}', f'"pid":{gone.pid}'))
            assert Store(root).lock.holder() is None
            await wait_until(pilot, lambda: app.view.agents[Role.BUILDER].state == "stopped", 5)
            assert app.view.state == "idle" and app.view.finished_status == "interrupted"
            header = str(app.dashboard.query_one(RunHeader).render())
            assert "stopped (interrupted)" in header

    asyncio.run(scenario())


def test_a_build_streams_the_distiller_and_the_builder_into_their_panes(tmp_path: Path) -> None:
    """Build mode from an idea in the app: the spec and the scaffold are the run's first step,
    their agents live in their panes; the backlog says what the offline runtime will not do."""
    out = tmp_path / "renamer"
    build.start(out)
    plan = build.BuildPlan(idea="A CLI that renames photos by date")
    pipeline = Pipeline.open(out, RunOptions(mode="build", cycles=1, build=plan))
    app = FactoryApp(out, pipeline=pipeline)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.view.agents[Role.DISTILLER].state == "done")
            distiller = "\n".join(app.dashboard.query_one("#pane-distiller").log_view.lines)
            assert "Problem: filled" in distiller and "open question(s)" in distiller
            await wait_until(pilot, lambda: app.view.agents[Role.BUILDER].state == "done")
            builder = "\n".join(app.dashboard.query_one("#pane-builder").log_view.lines)
            assert "changed renamer/cli.py" in builder
            await engine_done(pilot)
            board = app.dashboard.query_one("#board")
            prompts = [str(board.get_option_at_index(i).prompt) for i in range(board.option_count)]
            assert "  A CLI that renames photos by date  needs a model" in prompts
            notice = str(app.dashboard.query_one("#notice")._shown)
            assert "1 backlog item(s) need a model" in notice and "--runtime claude" in notice

    asyncio.run(scenario())
    assert git.Repo(out).head.commit.message.startswith("Scaffold A CLI that renames photos")


def test_money_is_shown_with_the_digits_it_needs(tmp_path: Path) -> None:
    """A run that cost $0.0043 says so, not $0.00; pane, header and feed alike."""
    root = tmp_path / "inventory"
    root.mkdir()
    scene = Scene(root)
    scene.start()
    scene.emit(ev.AgentStarted, role=Role.RESEARCHER, runtime="claude")
    usage = AgentUsage(cost_usd=0.0043, turns=1)
    scene.emit(ev.AgentFinished, role=Role.RESEARCHER, ok=True, usage=usage, elapsed=2.0)
    scene.bus.close()
    app = FactoryApp(root, clock=lambda: scene.now)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            app.tick()
            await pilot.pause()
            assert "cost $0.0043" in str(app.dashboard.query_one(RunHeader).render())
            await pilot.press("e")
            await pilot.pause()
            assert any(
                "Researcher done (2.0s, $0.0043)" in line
                for line in app.screen.query_one(Log).lines
            )
            # The open feed takes new events as they come.
            app.receive(ev.Notice(level="info", message="a notice that came later"))
            await wait_until(
                pilot,
                lambda: any("came later" in line for line in app.screen.query_one(Log).lines),
                timeout=5,
            )

    asyncio.run(scenario())


def test_below_100_columns_the_agents_are_tabs(tmp_path: Path) -> None:
    root = tmp_path / "inventory"
    root.mkdir()
    now = running_scene(root)

    def shown(app: FactoryApp) -> list[str]:
        return [pane.role.value for pane in app.dashboard.query(AgentPane) if pane.display]

    async def scenario(size: tuple[int, int]) -> list[str]:
        app = FactoryApp(root, clock=lambda: now)
        async with app.run_test(size=size) as pilot:
            await caught_up(app)
            app.tick()
            await pilot.pause()
            first = shown(app)
            tabs = app.dashboard.query_one("#agent-tabs")
            if size[0] < 100:
                assert first == ["builder"]  # the running agent, full width
                assert tabs.display and "●Build" in str(tabs._shown)
                await pilot.press("right_square_bracket")
                await pilot.pause()
                app.tick()  # the running agent no longer takes the pane back
                await pilot.pause()
                assert shown(app) == ["reviewer"]
                chart = app.dashboard.query_one("#chart .chart")
                assert not chart.display  # sparklines only
            else:
                assert not tabs.display and len(first) == 8
            return first

    asyncio.run(scenario((80, 24)))
    asyncio.run(scenario((160, 45)))


def test_watch_starts_at_the_last_run_and_follows_the_log_across_rotations(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    store = Store(root)
    bus = ev.EventBus(store.events_path, store, rotate_bytes=8 * 1024)

    def run_started(mode: str) -> ev.RunStarted:
        return ev.RunStarted(
            project=str(root),
            mode=mode,
            runtime="offline",
            approval="auto",
            base_branch="main",
            pid=os.getpid(),
        )

    def output(label: str, count: int) -> None:
        for n in range(count):
            bus.emit(ev.AgentOutput(role=Role.BUILDER, line=f"{label} line {n:04d}"))

    bus.emit(run_started("improve"))
    output("first run", 200)
    bus.emit(ev.RunFinished(status="completed"))
    bus.emit(run_started("focus"))
    bus.emit(ev.ApprovalChanged(approval="manual"))
    bus.emit(ev.CycleStarted(cycle=3))
    bus.emit(ev.AgentStarted(role=Role.BUILDER, runtime="offline"))
    output("second run", 300)
    bus.flush()
    # The log rotated (~25 KiB at 8 KiB a segment), and the index knows where run 2 began.
    assert store.event_segment() >= 3
    assert sorted(p.name for p in store.root.glob("events-*.jsonl"))[0] == "events-000001.jsonl"
    assert store.events_path.stat().st_size <= 8 * 1024

    async def scenario() -> None:
        app = FactoryApp(root)
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            # From the segment alone: the run's context carried into it, nothing of run 1.
            assert (app.view.mode, app.view.approval, app.view.cycle) == ("focus", "manual", 3)
            pane = app.dashboard.query_one("#pane-builder", AgentPane)
            shown = "\n".join(pane.log_view.lines)
            assert "first run" not in shown and "second run line 0299" in shown
            # Followed live through two more rotations: every line arrives, in order.
            output("live", 400)
            bus.flush()
            await wait_until(pilot, lambda: "live line 0399" in pane.log_view.lines[-1], timeout=30)
            live = [line for line in pane.log_view.lines if line.startswith("live line")]
            assert live == [f"live line {n:04d}" for n in range(400)]

    asyncio.run(scenario())
    bus.close()


def test_a_full_pane_keeps_showing_the_newest_output(tmp_path: Path) -> None:
    # Past its 2,000 lines a pane drops the oldest: the newest must still reach the screen.
    root = tmp_path / "project"
    root.mkdir()
    app = FactoryApp(root, follow=False)

    async def scenario() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            pane = app.dashboard.query_one("#pane-builder", AgentPane)
            for chunk in range(5):  # as the flushes of a long run write them
                pane.write_lines([f"early {chunk} {n}" for n in range(500)])
            await pilot.pause()
            for batch in range(3):  # each write drops as many old lines as it adds
                pane.write_lines([f"late {batch} {n}" for n in range(10)])
                await pilot.pause()
                screen = app.export_screenshot().replace("&#160;", " ")
                assert f"late {batch} 9" in screen

    asyncio.run(scenario())


def drawn(widget) -> list[str]:
    """The lines a line-API widget draws, as text."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


def test_the_history_opened_again_shows_what_happened_since(tmp_path: Path) -> None:
    root, app = recorded_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await caught_up(app)
            await pilot.press("h")
            await pilot.pause()
            assert app.screen.query_one("#history-table").row_count == 3
            await pilot.press("escape")
            store = Store(root)
            later = store.load_experiment("exp-0003").model_copy(update={"id": "exp-0004"})
            store.save_experiment(later)  # recorded meanwhile, by a run elsewhere
            await pilot.press("h")
            await pilot.pause()
            table = app.screen.query_one("#history-table")
            assert table.row_count == 4 and drawn(table)[4].startswith(" exp-0004 ")

    asyncio.run(scenario())


def test_the_footer_is_rebuilt_only_when_its_keys_change() -> None:
    from textual.app import App
    from textual.widgets._footer import FooterKey

    from factory_tui.widgets.key_footer import KeyFooter

    class Keys(App[None]):
        BINDINGS = [("x", "act", "Act"), ("y", "other", "Other")]
        offered = True

        def compose(self):
            yield KeyFooter()

        def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
            return None if action == "act" and not self.offered else True

    def shown(app: App[None]) -> list[tuple[str, bool]]:
        return [(k.description, k.has_class("-disabled")) for k in app.query(FooterKey)]

    async def scenario() -> None:
        app = Keys()
        async with app.run_test() as pilot:
            await pilot.pause()
            keys = list(app.query(FooterKey))
            assert shown(app)[:2] == [("Act", False), ("Other", False)]
            for _ in range(3):  # the signal a focus move or a screen change sends
                app.refresh_bindings()
                await pilot.pause()
            assert list(app.query(FooterKey)) == keys  # the same widgets: nothing rebuilt
            app.offered = False
            app.refresh_bindings()
            await pilot.pause()
            assert shown(app)[:2] == [("Act", True), ("Other", False)]

    asyncio.run(scenario())


def app_with_ideas(root: Path, statuses: list[str]) -> FactoryApp:
    """An app on a project whose experiments "idea 1", "idea 2"... ended so."""
    from .test_store import _experiment

    store = Store(root)
    for number, status in enumerate(statuses, 1):
        store.save_experiment(_experiment(number, f"idea {number}", status, 0.5, 0.4))
    return FactoryApp(root, follow=False)


def test_the_board_lists_the_newest_of_each_kind_and_points_to_the_history(
    tmp_path: Path,
) -> None:
    app = app_with_ideas(tmp_path, ["kept"] * 2 + ["reverted"] * 28)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            board = app.dashboard.query_one("#board")
            prompts = [str(board.get_option_at_index(i).prompt) for i in range(board.option_count)]
            listed = [p for p in prompts if "idea" in p]
            assert "REVERTED (28)" in prompts and "KEPT (2)" in prompts
            # The 20 newest reverted, newest first, then where the other 8 are.
            assert listed[:2] == ["  exp-0002 idea 2  -0.1000", "  exp-0001 idea 1  -0.1000"]
            assert listed[2] == "  exp-0030 idea 30  -0.1000" and len(listed) == 22
            assert prompts[-1] == "  … 8 more: h lists them all"

    asyncio.run(scenario())


def test_the_history_fetches_more_rows_as_the_cursor_or_the_wheel_reaches_the_end(
    tmp_path: Path,
) -> None:
    app = app_with_ideas(tmp_path, ["reverted"] * 300)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:  # 40 rows: pages of 80
            await pilot.press("h")
            await pilot.pause()
            history = app.screen
            assert isinstance(history, History)
            table = history.query_one("#history-table")
            assert table.row_count == 80
            assert "300 experiment(s), 80 shown (more as you scroll)" in str(
                history.query_one("#history-title").render()
            )
            await pilot.press("ctrl+end")  # the cursor to the last row fetched
            await pilot.pause()
            assert table.row_count == 160
            table.scroll_end(animate=False, immediate=True)  # as the wheel would
            await pilot.pause()
            assert table.row_count == 240
            assert table.rows[239].id == "exp-0240"
            lines = drawn(table)
            assert lines[0].split() == ["id", "hypothesis", "status", "before", "after", "delta"]
            # The view stays where the wheel took it, the new page below it.
            assert lines[-1].startswith(" exp-0160 ")  # the last of the two pages
            await pilot.press("ctrl+home")  # the cursor back to the top: the rows follow it
            await pilot.pause()
            assert drawn(table)[1].split()[:3] == ["exp-0001", "idea", "1"]
            await pilot.click("#history-table", offset=(15, 0))  # the hypothesis header
            await pilot.pause()
            assert history.sort_column == "hypothesis" and table.row_count == 80
            assert drawn(table)[1].split()[:3] == ["exp-0001", "idea", "1"]  # "idea 1" < "idea 10"
            await pilot.click("#history-table", offset=(15, 0))  # again: the other way
            await pilot.pause()
            assert drawn(table)[1].split()[:3] == ["exp-0099", "idea", "99"]

    asyncio.run(scenario())


def test_a_title_with_a_newline_or_a_tab_stays_on_its_row_even_narrow(tmp_path: Path) -> None:
    from .test_store import _experiment

    Store(tmp_path).save_experiment(
        _experiment(1, "Cache the parser\nso each\tfile is read once", "kept", 0.5, 0.6)
    )
    app = FactoryApp(tmp_path, follow=False)

    async def scenario() -> None:
        async with app.run_test(size=(72, 24)) as pilot:
            await pilot.press("h")
            await pilot.pause()
            lines = drawn(app.screen.query_one("#history-table"))
            assert lines[0].split()[-1] == "delta"  # every score in view, even at 72
            assert lines[1].split()[:3] == ["exp-0001", "Cache", "the"]
            assert lines[1].rstrip().endswith("+0.1000")
            assert not any(mark in line for line in lines for mark in "\n\t\r")

    asyncio.run(scenario())


def test_hiding_agent_output_in_the_feed_still_shows_the_older_events(tmp_path: Path) -> None:
    app = FactoryApp(tmp_path, follow=False)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            app.enqueue(ev.CycleStarted(cycle=n) for n in range(1, 31))
            app.enqueue(
                ev.AgentOutput(role=Role.BUILDER, line=f"line {n}", experiment="exp-0001")
                for n in range(25_000)
            )
            app.flush()
            await pilot.press("e")
            await pilot.pause()
            await pilot.press("1")  # agents hidden: the 30 cycles are still there
            await pilot.pause()
            lines = app.screen.query_one("#feed-log").lines
            assert len(lines) == 30 and "cycle 30" in lines[-1]

    asyncio.run(scenario())


def test_the_next_agent_while_one_pane_is_alone_is_shown_alone_in_its_place(
    tmp_path: Path,
) -> None:
    app = FactoryApp(tmp_path, follow=False)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            first = app.dashboard.pane(Role.RESEARCHER)
            first.log_view.focus()
            await pilot.press("z", "right_square_bracket")
            await pilot.pause()
            alone = app.screen
            assert isinstance(alone, PaneAlone) and alone.role is Role.STRATEGIST
            assert alone.pane.border_title == Role.STRATEGIST.label
            await pilot.press("z")
            await pilot.pause()
            assert app.dashboard.focused_pane() is app.dashboard.pane(Role.STRATEGIST)

    asyncio.run(scenario())


def test_a_parallel_run_says_whose_each_line_is_and_the_stage_each_experiment_is_in(
    tmp_path: Path,
) -> None:
    app = FactoryApp(tmp_path, follow=False)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.enqueue(
                [
                    ev.RunStarted(
                        project=str(tmp_path),
                        mode="improve",
                        runtime="command",
                        approval="auto",
                        base_branch="main",
                        pid=1,
                        parallel=2,
                    ),
                    ev.RunStateChanged(state="running"),
                    ev.StageStarted(stage=Stage.BUILDER, experiment="exp-0001"),
                    ev.StageStarted(stage=Stage.EVALUATOR, experiment="exp-0002"),
                    ev.AgentOutput(role=Role.BUILDER, line="first", experiment="exp-0001"),
                    ev.AgentOutput(role=Role.BUILDER, line="second", experiment="exp-0002"),
                    ev.AgentOutput(role=Role.BUILDER, line="third", experiment="exp-0001"),
                ]
            )
            app.flush()
            app.dashboard.tick(app.view, app.clock())  # no run holds the lock: not app.tick
            await pilot.pause()
            lines = app.dashboard.pane(Role.BUILDER).log_view.lines
            assert lines[-3:] == ["0001│ first", "0002│ second", "0001│ third"]
            bar = str(app.dashboard.query_one(PipelineBar).render())
            assert "0001 Builder" in bar and "0002 Evaluator" in bar
            # One finished: the bar is back to the stage alone.
            app.enqueue(
                [
                    ev.ExperimentFinished(
                        experiment="exp-0002",
                        status="reverted",
                        verdict=Verdict(decision="revert", reason="no gain", decided_by="auto"),
                    ),
                    ev.StageStarted(stage=Stage.REVIEWER, experiment="exp-0001"),
                ]
            )
            app.flush()
            app.dashboard.tick(app.view, app.clock())  # no run holds the lock: not app.tick
            await pilot.pause()
            bar = str(app.dashboard.query_one(PipelineBar).render())
            assert "0002" not in bar and "0001" not in bar

    asyncio.run(scenario())


def test_a_flood_from_the_engine_waits_for_the_screen_and_loses_no_line(tmp_path: Path) -> None:
    """The engine's thread pushes lines faster than any screen draws them: past QUEUE_HIGH
    waiting events it waits for a flush, so the queue stays bounded (each flush stays short)
    and every line still reaches its pane, in order."""
    root = tmp_path / "project"
    root.mkdir()
    app = FactoryApp(root, follow=False)
    total = 3 * QUEUE_HIGH
    deepest = 0

    def engine() -> None:
        nonlocal deepest
        for n in range(total):
            app.receive(ev.AgentOutput(role=Role.BUILDER, line=f"line {n:05d}"))
            deepest = max(deepest, len(app._queue))

    async def scenario() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            thread = threading.Thread(target=engine)
            thread.start()
            await wait_until(pilot, lambda: not thread.is_alive(), timeout=30)
            await wait_until(pilot, lambda: not app._queue, timeout=5)
            # Each flush writes at most FLUSH_CAP lines of a pane; the feed keeps them all.
            lines = [item[3] for item in app.events if isinstance(item, tuple)]
            assert lines == [f"line {n:05d}" for n in range(total)]
            pane = app.dashboard.query_one("#pane-builder", AgentPane)
            assert pane.log_view.lines[-1] == f"line {total - 1:05d}"

    asyncio.run(scenario())
    # Past the bound one event goes in per QUEUE_WAIT_S the screen does not flush: a few
    # over on a loaded machine, never the thousands an unbounded queue takes.
    assert deepest <= QUEUE_HIGH + 20


def test_a_key_is_drawn_before_the_engine_s_next_event_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a key is handled, the engine's thread waits: its next event is queued only
    once the key's frame (here the pane shown alone) is drawn, and then at once."""
    # A cap far past any frame, even on a loaded machine: the frame must be what ends it.
    monkeypatch.setattr(app_module, "INPUT_FIRST_S", 10.0)
    root = tmp_path / "project"
    root.mkdir()
    app = FactoryApp(root, follow=False)
    seen: dict[str, object] = {}
    gate_closed = threading.Event()

    def engine() -> None:
        gate_closed.wait(10)
        started = time.perf_counter()
        app.receive(ev.AgentOutput(role=Role.BUILDER, line="after the key"))
        seen["waited"] = time.perf_counter() - started
        seen["screen"] = type(app.screen).__name__

    original = app.on_event

    async def on_event(event) -> None:  # the key has reached the app: the engine goes on
        await original(event)
        if isinstance(event, Key):
            gate_closed.set()

    app.on_event = on_event  # type: ignore[method-assign]

    async def scenario() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            thread = threading.Thread(target=engine)
            thread.start()
            await pilot.press("z")
            await wait_until(pilot, lambda: not thread.is_alive(), timeout=10)
            assert isinstance(app.screen, PaneAlone)
            assert seen["screen"] == "PaneAlone"  # the key's frame came first
            assert 0 < seen["waited"] < 10  # it waited, and went on once the frame was drawn
            # A key that runs no action holds the engine no longer than INPUT_FIRST_S.
            await pilot.press("escape")
            monkeypatch.setattr(app_module, "INPUT_FIRST_S", 0.2)
            await pilot.press("x")
            await wait_until(pilot, app._threads_may_go.is_set, timeout=5)

    asyncio.run(scenario())
