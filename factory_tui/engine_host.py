"""The one way from a front end's thread to a run: every control is posted onto the engine's
own event loop, or applied at once between runs, so no UI code touches the pipeline's state
from another thread. No Textual here: the TUI holds one of these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from factory_tui.ceo.decide import Decision
from factory_tui.engine.errors import FactoryError
from factory_tui.engine.events import ApprovalMode

if TYPE_CHECKING:
    from factory_tui.ceo.run import Pipeline


class EngineHost:
    """Runs a pipeline on an event loop of its own (call `run` in a thread) and takes the
    front end's controls to it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def run(self, on_error: Callable[[str], None]) -> None:
        """The run, start to end, in the calling thread; a FactoryError goes to `on_error`
        (a cancelled run has recorded its abort and cleaned up)."""
        asyncio.run(self._main(on_error))

    async def _main(self, on_error: Callable[[str], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            await self.pipeline.run()
        except asyncio.CancelledError:
            pass
        except FactoryError as error:
            on_error(str(error))
        finally:
            self._loop = self._task = None

    def _call(self, function: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is None:
            function(*args)
        else:
            loop.call_soon_threadsafe(function, *args)

    # -- controls ------------------------------------------------------------------------------
    def toggle_pause(self) -> bool:
        """Pause (after the current stage) or resume; True when it is now pausing."""
        pausing = not self.pipeline.paused
        self._call(self.pipeline.pause if pausing else self.pipeline.resume)
        return pausing

    @property
    def loops(self) -> bool:
        return self.pipeline.options.loop

    def wake(self) -> None:
        """A loop starts its next cycle now."""
        self._call(self.pipeline.wake)

    def one_more_cycle(self) -> None:
        """Between runs: the next run is one cycle."""
        if self.running:
            raise RuntimeError("a run is going on; wake its loop instead")
        self.pipeline.options.cycles = 1

    @property
    def approval(self) -> ApprovalMode:
        return self.pipeline.gate.mode

    def set_approval(self, mode: ApprovalMode) -> None:
        self._call(self.pipeline.set_approval, mode)

    def answer(self, experiment_id: str, decision: Decision) -> None:
        self._call(self.pipeline.answer, experiment_id, decision)

    def stop(self) -> None:
        """Cancel the run; its clean-up ends the agents and drops the worktree."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
