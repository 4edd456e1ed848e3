"""FactoryApp: the Textual front end, attached to a run in this process or following one.

Events reach the app one of two ways: from the pipeline's bus (the run lives in a thread
worker of this app, on an event loop of its own), or from `.factory/events.jsonl` (a run
started elsewhere, followed with watchfiles). Either way they land in one queue that a 20 Hz
timer drains: agent output goes to the panes in batches, every other event folds into the
`RunView`, and the screens redraw from it. The UI never waits on a subprocess or on git, and
an agent flooding its pane cannot starve the keyboard: the engine's work is not on the UI's
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events as ui_events
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.worker import Worker, WorkerCancelled, WorkerState

from factory_tui import startup
from factory_tui.engine.errors import FactoryError
from factory_tui.engine.events import ApprovalMode, Event, parse_event
from factory_tui.engine.log_tail import LogTail
from factory_tui.engine.models import BacklogItem, KeepOrRevert, Role
from factory_tui.engine.redact import redact
from factory_tui.engine.store import Store
from factory_tui.event_text import FEED_KEEP, LABEL_ROLES, FeedItem, feed_item
from factory_tui.run_view import ExperimentView, Output, RunView
from factory_tui.screens.approval import ApprovalModal
from factory_tui.screens.backlog_item import BacklogItemModal
from factory_tui.screens.confirm import Confirm
from factory_tui.screens.dashboard import Dashboard
from factory_tui.screens.event_feed import EventFeed
from factory_tui.screens.history import History
from factory_tui.screens.pane_alone import PaneAlone
from factory_tui.screens.text_prompt import TextPrompt
from factory_tui.widgets.agent_pane import AgentPane
from factory_tui.widgets.hypothesis_board import HypothesisBoard

if TYPE_CHECKING:  # a run in this process brings the engine; `watch` needs none of it
    from textual.actions import ActionParseResult
    from textual.dom import DOMNode

    from factory_tui.agents.base import Runtime
    from factory_tui.ceo.run import Pipeline
    from factory_tui.engine_host import EngineHost

# The spec editor, the experiment's detail and the engine's modules are imported when first
# used: a third of what the dashboard would otherwise load before its first frame.

FLUSH_INTERVAL = 0.05
# A key or a click is drawn first: until its frame is, and for this long at most, events
# from other threads (the engine's, a long catch-up's reader) wait. On two cores a flood of
# agent output otherwise takes half the interpreter from the frame the user asked for; held
# here, the agents' lines wait in their pipes and nothing is lost.
INPUT_FIRST_S = 0.15
# Events waiting for the next flush past which the other threads wait for it (at most
# QUEUE_WAIT_S): a flood the screen cannot keep up with otherwise grows the queue, and each
# longer flush lets it grow more, while the keys wait behind it.
QUEUE_HIGH = 1_000
QUEUE_WAIT_S = 0.25
CATCH_UP_IN_THREAD = 4 * 2**20  # bytes of event log read inline when catching up
SEEDED = 300  # experiments the dashboard starts from; the history screen reaches them all


def quit_confirmation() -> Confirm:
    """What quitting while a cycle runs asks first."""
    return Confirm(
        "A cycle is running. Quit and abort it?",
        "The experiment is recorded as aborted and its worktree removed; your "
        "branch and working tree are not touched.",
    )


class FactoryApp(App[int]):
    """The dashboard and its screens, live (with a pipeline) or attached (following a log)."""

    TITLE = "factory"
    BINDINGS = [
        Binding(
            "p",
            "pause",
            "Pause/Resume",
            id="pause",
            tooltip="Pause the run between stages, or resume it",
        ),
        Binding("n", "next_cycle", "Next cycle", id="next_cycle", tooltip="Run the next cycle now"),
        Binding(
            "t",
            "toggle_approval",
            "Approval",
            id="toggle_approval",
            tooltip="Switch approval between automatic and manual",
        ),
        Binding(
            "a",
            "approve",
            "Decide",
            id="approve",
            tooltip="Open the keep/revert decision waiting for you",
        ),
        Binding(
            "b", "add_backlog", "Backlog+", id="add_backlog", tooltip="Add an item to the backlog"
        ),
        Binding(
            "m",
            "message",
            "Message",
            id="message",
            tooltip="Send a note to the CEO for the next cycle",
        ),
        Binding(
            "z",
            "maximize_pane",
            "Maximise",
            id="maximize_pane",
            tooltip="Maximise the focused agent pane (again to restore)",
        ),
        Binding(
            "slash",
            "search_pane",
            "Search",
            id="search_pane",
            tooltip="Search inside the focused agent pane",
        ),
        Binding(
            "f",
            "follow_pane",
            "Follow",
            id="follow_pane",
            show=False,
            tooltip="Follow the focused pane's new output again",
        ),
        Binding(
            "e", "event_feed", "Events", id="event_feed", tooltip="Every engine event, filterable"
        ),
        Binding(
            "h",
            "history",
            "History",
            id="history",
            tooltip="Every experiment, sortable and filterable",
        ),
        Binding("s", "spec", "Spec", id="spec", tooltip="Open the spec editor"),
        Binding(
            "l",
            "playbooks",
            "Playbooks",
            id="playbooks",
            tooltip="What each role has learned (meta mode)",
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks first while a cycle runs)"),
    ]
    LIVE_ONLY = {"pause", "next_cycle", "toggle_approval"}

    def __init__(
        self,
        project: Path,
        *,
        pipeline: Pipeline | None = None,
        autostart: bool = True,
        follow: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.project = project
        self.pipeline = pipeline
        # The only way to the engine from this thread: see engine_host.py.
        self.host: EngineHost | None = None
        if pipeline is not None:
            from factory_tui.engine_host import EngineHost

            self.host = EngineHost(pipeline)
        self.attached = pipeline is None
        # Attached apps follow the event log; `follow=False` is for a caller that feeds
        # `receive` itself.
        self.follow = self.attached if follow is None else follow
        self.autostart = autostart
        self.clock = clock
        self.store = Store(project)
        self.view = RunView()
        # The last few hundred experiments and the best of all: what the board and chart show.
        self.view.seed(self.store.experiments(last=SEEDED), self.store.best_composite())
        if pipeline is not None:
            self.view.min_delta = pipeline.config.eval.min_delta
            self.view.approval = pipeline.gate.mode
        self.events: deque[FeedItem] = deque(maxlen=FEED_KEEP)
        # Each flushed batch of events, for whichever screen shows them (the event feed).
        self.events_added: Signal[list[FeedItem]] = Signal(self, "events-added")
        self.caught_up = asyncio.Event()
        # Appended from the engine's thread. Agent output goes in as the feed keeps it, a
        # tuple the collector stops tracking: as models, the lines waiting here for the next
        # flush survived into the oldest generation and made its full passes long and often.
        self._queue: deque[FeedItem] = deque()
        self._threads_may_go = threading.Event()  # cleared while input is handled first
        self._threads_may_go.set()
        self._flushed = threading.Event()  # set by each flush, for threads held by a full queue
        self._input_timer: Timer | None = None
        self._next_hold = 0.0  # after a hold that ran out, none before this (monotonic)
        self._ui_thread = threading.get_ident()
        self._backlog: tuple[tuple[int, ...], list[BacklogItem]] = ((), [])
        self._deferred: set[str] = set()
        self._answered: set[str] = set()  # decisions sent from here, each once
        self._approval_open: str | None = None
        self._pending_shown = True
        self.dashboard = Dashboard(attached=self.attached)
        self._alone: PaneAlone | None = None  # made at the first z, kept

    # -- setup -------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._ui_thread = threading.get_ident()
        self.push_screen(self.dashboard)
        self.set_interval(FLUSH_INTERVAL, self.flush)
        self.set_interval(1.0, self.tick)
        if self.pipeline is not None:
            self.pipeline.bus.subscribe(self.receive)
            self.caught_up.set()
            if self.autostart:
                self.start_run()
        elif self.follow:
            self.follow_events()
        else:
            self.caught_up.set()
        self.call_after_refresh(self.redraw)
        # Painted: start-up is over. What it made lives as long as the app; frozen, the
        # collector's full passes skip it, and a pass while agents stream pauses the keys
        # for far less.
        self.call_after_refresh(startup.release)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.id in ("quit",) or self.check_action(binding.action, ()) is False:
                continue
            yield SystemCommand(
                binding.description,
                binding.tooltip,
                lambda action=binding.action: self.run_action(action),
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Pause, next cycle and the approval switch drive a run in this process only.
        return not (action in self.LIVE_ONLY and self.attached)

    # -- the event queue ---------------------------------------------------------------------
    def receive(self, event: Event) -> None:
        """The pipeline's bus calls this for every event (from the engine's thread); the
        next flush draws it."""
        self._give_way_to_the_screen()
        self._queue.append(feed_item(event))

    def enqueue(self, events: Iterable[Event]) -> None:
        self._give_way_to_the_screen()
        self._queue.extend(map(feed_item, events))

    def _give_way_to_the_screen(self) -> None:
        """Called by the threads that feed the queue: wait while input is handled first,
        or while the queue is fuller than the screen can draw at once."""
        if threading.get_ident() == self._ui_thread or not self.is_running:
            return  # nothing to wait for once the app is gone: a run's clean-up goes on
        if not self._threads_may_go.is_set():
            self._threads_may_go.wait(INPUT_FIRST_S)
        if len(self._queue) > QUEUE_HIGH and self.dashboard.is_mounted:
            self._flushed.clear()
            self._flushed.wait(QUEUE_WAIT_S)

    async def on_event(self, event: ui_events.Event) -> None:
        if isinstance(event, (ui_events.Key, ui_events.MouseDown)) and not event.is_forwarded:
            self._input_first()
        await super().on_event(event)

    def _input_first(self) -> None:
        """Hold the other threads' events until this input's frame is drawn (see
        run_action), or for INPUT_FIRST_S when the input runs no action. Keys that come
        while one holds add nothing, and a hold that ran out (typing, a key held down) is
        followed by as long again for the other threads: they are never held for good."""
        if not self._threads_may_go.is_set() or time.monotonic() < self._next_hold:
            return
        self._threads_may_go.clear()
        self._input_timer = self.set_timer(INPUT_FIRST_S, self._hold_ran_out)

    def _hold_ran_out(self) -> None:
        self._next_hold = time.monotonic() + INPUT_FIRST_S
        self._threads_may_go.set()

    def _input_drawn(self) -> None:
        if self._input_timer is not None:
            self._input_timer.stop()
        self._threads_may_go.set()

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        try:
            return await super().run_action(action, default_namespace, namespaces)
        finally:
            if not self._threads_may_go.is_set():  # the action's frame, then the rest
                self.call_after_refresh(self._input_drawn)

    def flush(self) -> None:
        # While input is handled first, its frame is the only one drawn.
        if not self._queue or not self.dashboard.is_mounted or not self._threads_may_go.is_set():
            return
        queue = self._queue
        batch = [queue.popleft() for _ in range(len(queue))]
        self._flushed.set()
        output: Output = {}
        changed = False
        for item in batch:
            if isinstance(item, tuple):
                _, experiment, label, line = item
                runs = output.setdefault(LABEL_ROLES[label], [])
                if not runs or runs[-1][0] != experiment:
                    runs.append((experiment, []))
                runs[-1][1].append(line)
            else:
                self.view.apply(item)
                changed = True
        self.events.extend(batch)
        with self.batch_update(), contextlib.suppress(NoMatches):  # NoMatches: exiting
            tagged = self.view.parallel > 1  # several experiments: say whose each line is
            self.dashboard.write_output(output, tagged)
            if (alone := self.pane_alone) is not None:
                alone.write_output(output, tagged)
            if changed:  # output alone changes no state: the panes were enough
                self.redraw()
            self.events_added.publish(batch)
        if (self.view.pending is None) != self._pending_shown:
            self._pending_shown = self.view.pending is None
            self.refresh_bindings()  # the Decide key comes and goes with a pending decision
        self._offer_approval()

    def tick(self) -> None:
        if self.attached and self.caught_up.is_set():
            self._notice_a_run_gone()
        if self.dashboard.is_mounted:
            # A timer may fire while the app exits and the dashboard's widgets are gone.
            with contextlib.suppress(NoMatches):
                self.dashboard.tick(self.view, self.clock())
                if (alone := self.pane_alone) is not None:
                    alone.show_status(self.view.agents[alone.role], self.clock())

    def _notice_a_run_gone(self) -> None:
        """Following a run from another process: when no process holds the project's lock,
        the run is over, even if it could not say so (killed): nothing runs or waits."""
        view = self.view
        active = view.waiting or view.state in ("running", "paused", "awaiting_approval")
        active = active or any(agent.state == "running" for agent in view.agents.values())
        if active and self.store.lock.holder() is None:
            view.stop(self.clock())
            self.notify("The run has ended: no process holds its lock any more.")
            self._offer_approval()
            self.redraw()

    def redraw(self) -> None:
        if self.dashboard.is_mounted:
            with contextlib.suppress(NoMatches):
                self.dashboard.show(self.view, self.backlog(), self.clock())

    def backlog(self) -> list[BacklogItem]:
        """The backlog, re-read only when it changed (another process may edit it)."""
        try:
            version = self.store.backlog_version()
            if version != self._backlog[0]:
                self._backlog = (version, self.store.backlog())
        except FactoryError as error:
            self.notify(str(error), severity="error")
        return self._backlog[1]

    # -- running the engine ------------------------------------------------------------------
    @property
    def engine_running(self) -> bool:
        return any(w.group == "engine" and w.is_running for w in self.workers)

    def start_run(self) -> None:
        self.run_worker(
            self._engine_thread,
            name="engine",
            group="engine",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _engine_thread(self) -> None:
        assert self.host is not None

        def stopped(error: str) -> None:
            self.call_from_thread(
                self.notify, error, title="run stopped", severity="error", timeout=15
            )

        self.host.run(stopped)

    @work(group="follow", exclusive=True, exit_on_error=False)
    async def follow_events(self) -> None:
        """Catch up from the event log, then follow it as another process appends."""
        from watchfiles import awatch

        path = self.store.events_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tail = LogTail(self.store)

        def read_new() -> None:
            self.enqueue(e for line in tail.read() if (e := parse_event(line)) is not None)

        # A long catch-up reads and parses in a thread, so the dashboard stays live
        # meanwhile; a short one is read at once, before the first frame settles.
        size = path.stat().st_size if path.exists() else 0
        if size > CATCH_UP_IN_THREAD:
            await asyncio.to_thread(read_new)
        else:
            read_new()
        self.caught_up.set()
        async for _ in awatch(
            path.parent,
            recursive=False,
            debounce=50,
            step=20,
            watch_filter=lambda _change, name: name == str(path),
        ):
            read_new()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="error", timeout=15)
        self.refresh_bindings()

    # -- approval ----------------------------------------------------------------------------
    def _offer_approval(self) -> None:
        """One dialog per waiting experiment: close the one whose experiment no longer
        waits (answered here, in another `watch`, or in the run), open the next."""
        open_id = self._approval_open
        if open_id is not None and open_id not in self.view.waiting:
            for screen in self.screen_stack:
                if isinstance(screen, ApprovalModal) and screen.pending.experiment == open_id:
                    screen.dismiss("gone")
            return
        if open_id is None and self._next_waiting() is not None:
            self.action_approve()

    def _next_waiting(self) -> str | None:
        skip = self._deferred | self._answered
        return next((e for e in self.view.waiting if e not in skip), None)

    def action_approve(self) -> None:
        """Open the decision waiting for you (the first one, when several wait)."""
        if self._approval_open is not None:
            return
        waiting = [e for e in self.view.waiting if e not in self._answered]
        if not waiting:
            self.notify("Nothing waits for your decision.")
            return
        experiment_id = next((e for e in waiting if e not in self._deferred), waiting[0])
        self._deferred.discard(experiment_id)
        pending = self.view.waiting[experiment_id]
        experiment = self.view.experiments.get(experiment_id)
        if experiment is None:
            return
        self._approval_open = experiment_id
        self.ask_for_decision(experiment_id, ApprovalModal(pending, experiment), experiment)

    @work(group="approval")
    async def ask_for_decision(
        self, experiment_id: str, dialog: ApprovalModal, experiment: ExperimentView
    ) -> None:
        """One experiment's dialog, awaited: its answer is sent once, then the next opens."""
        try:
            answer = await self.push_screen_wait(dialog)
        finally:
            self._approval_open = None
        if answer in ("keep", "revert"):
            self.decide(experiment_id, answer)
        elif answer == "gone":
            self.notify(f"{experiment_id} was decided elsewhere.")
        elif answer == "diff":
            self._deferred.add(experiment_id)
            self.show_experiment(experiment)
        else:
            self._deferred.add(experiment_id)
            self.notify("The run waits for your decision: press a to decide.")
        self._offer_approval()

    def decide(self, experiment_id: str, decision: KeepOrRevert) -> None:
        """Answer for one waiting experiment, once; one that no longer waits is refused."""
        if experiment_id not in self.view.waiting or experiment_id in self._answered:
            self.notify(
                f"{experiment_id} no longer waits for a decision; nothing was sent.",
                severity="warning",
            )
            return
        from factory_tui.ceo.decide import Decision, write_decision

        self._answered.add(experiment_id)
        answer = Decision(decision=decision)
        if self.host is not None and self.engine_running:
            self.host.answer(experiment_id, answer)
            return
        # Attached to a run elsewhere (or its gate is file-driven): write the decision file,
        # with the nonce the run told this experiment's approval request.
        answer.nonce = self.view.nonces.get(experiment_id, "")
        write_decision(self.store.experiments_dir, experiment_id, answer)
        self.notify(f"{decision} sent for {experiment_id}")

    # -- failing well ------------------------------------------------------------------------
    def _fatal_error(self) -> None:
        """An unhandled exception: the full traceback goes to a file under .factory/, the
        terminal gets one line that points to it, and the process exits non-zero."""
        error = self._exception
        text = "".join(traceback.format_exception(error)) if error else traceback.format_exc()
        try:
            folder = self.store.root / "crashes"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / time.strftime("%Y%m%d-%H%M%S.log")
            path.write_text(redact(text), encoding="utf-8")
            where = f"the full traceback is in {path}"
        except OSError:
            where = "the traceback could not be written under .factory/"
        self.bell()
        summary = f"{type(error).__name__}: {error}" if error else "an unexpected error"
        line = f"factory: the dashboard stopped on {summary[:200]}; {where}"
        self.error_console.soft_wrap = True  # one line, however narrow the terminal
        self._exit_renderables.append(Text(line, style="red"))
        self._close_messages_no_wait()

    # -- actions -----------------------------------------------------------------------------
    def action_pause(self) -> None:
        assert self.host is not None
        if self.host.toggle_pause():
            self.notify("Pausing after the current stage.")

    def action_next_cycle(self) -> None:
        assert self.host is not None
        if self.engine_running:
            if self.host.loops:
                self.host.wake()
                self.notify("The loop starts its next cycle now.")
            else:
                self.notify("A cycle is already running.", severity="warning")
            return
        self.host.one_more_cycle()
        self.start_run()

    def action_toggle_approval(self) -> None:
        assert self.host is not None
        mode: ApprovalMode = "auto" if self.host.approval == "manual" else "manual"
        self.host.set_approval(mode)
        self.view.approval = mode
        self.redraw()
        self.notify(f"Approval is now {mode}.")

    def action_add_backlog(self) -> None:
        def add(title: str | None) -> None:
            if title:
                item = self.store.add_backlog_item(title)
                self.notify(f"Added to the backlog: {item.title}")
                self.redraw()

        self.push_screen(TextPrompt("Add a backlog item", "e.g. Format src/ with ruff format"), add)

    def action_message(self) -> None:
        def send(text: str | None) -> None:
            if text:
                self.store.add_message(text)
                self.notify(
                    "The next cycle's Researcher and Strategist will read it first.",
                    title="Message to the CEO",
                )

        self.push_screen(TextPrompt("Message to the CEO", "what should it focus on?"), send)

    def _pane(self) -> AgentPane:
        if (alone := self.pane_alone) is not None:
            return alone.pane
        return self.dashboard.focused_pane() or self.dashboard.pane(Role.BUILDER)

    @property
    def pane_alone(self) -> PaneAlone | None:
        """The screen of one pane alone, while it is the one shown."""
        screen = self.screen
        return screen if isinstance(screen, PaneAlone) else None

    def action_maximize_pane(self) -> None:
        if self.pane_alone is not None:
            self.pop_screen()
            return
        pane = self._pane()
        pane.log_view.focus()  # back on the dashboard, the same pane has the focus
        # Chosen by hand: [ and ] go on from this pane, and the compact layout keeps it.
        self.dashboard.active_role, self.dashboard.picked = pane.role, True
        self.dashboard.show_active()
        if self._alone is None:  # made once, installed so that popping it keeps it
            self._alone = PaneAlone(pane)
            self.install_screen(self._alone, "pane-alone")
        self._alone.open(pane)
        self.push_screen("pane-alone")

    def action_switch_pane(self, step: int) -> None:
        """The next agent's pane (the compact layout's tabs), alone if one is alone."""
        self.dashboard.action_switch_pane(step)
        if (alone := self.pane_alone) is not None:
            alone.show(self.dashboard.pane(self.dashboard.active_role))

    def action_search_pane(self) -> None:
        """Search the focused pane; while a search is on, the next match (f ends it)."""
        pane = self._pane()

        def search(text: str | None) -> None:
            if not text:
                return
            count = pane.search(text, again=True)
            self.notify(
                f"{count} line(s) match '{text}' in the {pane.role.label} pane"
                + ("; / again for the next, f to follow" if count else "")
            )

        if pane.searching:
            search(pane.searching)
            return
        self.push_screen(TextPrompt(f"Search in the {pane.role.label} pane", "text"), search)

    def action_follow_pane(self) -> None:
        self._pane().follow()

    def action_event_feed(self) -> None:
        self.push_screen(EventFeed(self.events, self.events_added))

    def action_history(self) -> None:
        # Made once and kept: opening it again only asks the database for the rows.
        if not self.is_screen_installed("history"):
            self.install_screen(History(self.store.experiment_rows), "history")
        self.push_screen("history")

    def action_spec(self) -> None:
        from factory_tui.engine.spec import SpecDraft
        from factory_tui.screens.spec_editor import SpecEditor

        draft = SpecDraft(self.store.root)
        if not draft.state().versions and self.store.spec_path.exists():
            draft.add_version(self.store.spec_path.read_text(encoding="utf-8"), "file", "spec.md")
        runtime = self.pipeline.runtime if self.pipeline else self._runtime()
        self.push_screen(SpecEditor(draft, runtime, self.project.name))

    def action_playbooks(self) -> None:
        from factory_tui.ceo.playbooks import Playbooks
        from factory_tui.screens.playbooks import PlaybooksScreen

        self.push_screen(PlaybooksScreen(Playbooks(self.store.root)))

    def _runtime(self) -> Runtime:
        from factory_tui.agents import make_runtime

        config = self.store.config()
        return make_runtime(config.runtime, config)

    def on_spec_editor_accepted(self) -> None:
        self.notify("The next cycle's Researcher and Strategist will read the new spec.")

    @on(HypothesisBoard.BacklogSelected)
    def open_backlog_item(self, event: HypothesisBoard.BacklogSelected) -> None:
        item = next((i for i in self.backlog() if i.id == event.item_id), None)
        if item is None:
            return

        def chosen(choice: str | None) -> None:
            if choice == "done":
                self.store.set_backlog_status(item.id, "done")
                self.notify(f"Done: {item.title}")
            elif choice == "remove":
                self.store.remove_backlog_item(item.id)
                self.notify(f"Removed: {item.title}")
            self.redraw()

        self.push_screen(BacklogItemModal(item), chosen)

    @on(HypothesisBoard.ExperimentSelected)
    @on(History.Open)
    def open_experiment(self, event: HypothesisBoard.ExperimentSelected | History.Open) -> None:
        experiment = self.view.experiments.get(event.experiment_id)
        if experiment is None:  # older than the experiments the dashboard holds
            try:
                experiment = ExperimentView.of(self.store.load_experiment(event.experiment_id))
            except FactoryError as error:
                self.notify(str(error), severity="error")
                return
        self.show_experiment(experiment)

    def show_experiment(self, experiment: ExperimentView) -> None:
        from factory_tui.screens.experiment_detail import ExperimentDetail

        self.push_screen(ExperimentDetail(self.store, experiment))

    async def action_quit(self) -> None:
        if not self.engine_running:
            self.exit(0)
            return

        async def answered(quit_now: bool | None) -> None:
            if quit_now:
                await self.stop_engine()
                self.exit(0)

        self.push_screen(quit_confirmation(), answered)

    async def stop_engine(self) -> None:
        """Cancel the run; its clean-up ends the agents' processes and drops the worktree."""
        workers = [w for w in self.workers if w.group == "engine"]
        if self.host is not None:
            self.host.stop()
        with contextlib.suppress(WorkerCancelled):
            await self.workers.wait_for_complete(workers)
