"""Typed events and the bus that delivers them.

The engine speaks only in these events. Every front end (the TUI in-process, the headless
printer, a TUI attached with `factory watch`) renders the same stream, and every event is
also appended to `.factory/events.jsonl`, one JSON object a line, so a run can be replayed
and followed from another terminal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import FactoryError
from .models import AgentUsage, Finding, Hypothesis, Review, Role, Scorecard, Stage, Verdict
from .redact import redact

log = logging.getLogger(__name__)

RunState = Literal["idle", "running", "paused", "awaiting_approval", "failed"]
# What a run does: the CLI's --mode choices, and "focus" (one backlog item) and "loop"
# (`factory run --loop`), which the CLI sets itself.
RunMode = Literal["improve", "build", "interactive", "research", "meta", "focus", "loop"]
ApprovalMode = Literal["auto", "manual"]
# How a run ended. "converged" is what earlier versions wrote for a plateau; still read
# from old logs.
RunStatus = Literal["completed", "plateau", "converged", "interrupted", "failed", "budget"]
ScoreKind = Literal["baseline", "experiment"]
ExperimentOutcome = Literal["kept", "reverted", "aborted"]
NoticeLevel = Literal["info", "warning", "error"]


class Event(BaseModel):
    """Base of every event: when it happened and which experiment it belongs to, if any."""

    # Built on first use, not at import: a command pays only for the models it reads.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    ts: float = Field(default_factory=time.time)
    experiment: str | None = None


class RunStarted(Event):
    type: Literal["run_started"] = "run_started"
    project: str
    mode: str
    runtime: str
    approval: str
    base_branch: str
    pid: int
    cycles: int | None = None
    # Research mode's metric: lower-is-better turns "best" around in every view.
    direction: Literal["higher", "lower"] = "higher"
    # False when the agents run without a sandbox (sandbox = "off"): every front end says so.
    sandboxed: bool = True
    # Experiments side by side in a cycle: views then name the experiment of every line.
    parallel: int = 1


class RunStateChanged(Event):
    type: Literal["run_state"] = "run_state"
    state: RunState


class ApprovalChanged(Event):
    type: Literal["approval_changed"] = "approval_changed"
    approval: ApprovalMode


class RunFinished(Event):
    type: Literal["run_finished"] = "run_finished"
    status: RunStatus
    reason: str = ""
    experiments: int = 0
    cost_usd: float = 0.0


class CycleStarted(Event):
    type: Literal["cycle_started"] = "cycle_started"
    cycle: int


class CycleFinished(Event):
    type: Literal["cycle_finished"] = "cycle_finished"
    cycle: int
    outcome: str


class StageStarted(Event):
    type: Literal["stage_started"] = "stage_started"
    stage: Stage


class StageFinished(Event):
    type: Literal["stage_finished"] = "stage_finished"
    stage: Stage
    ok: bool = True
    elapsed: float = 0.0
    detail: str = ""


class AgentStarted(Event):
    type: Literal["agent_started"] = "agent_started"
    role: Role
    runtime: str


class AgentOutput(Event):
    """One line of an agent's live output. `kind` lets a pane style tool calls and errors."""

    type: Literal["agent_output"] = "agent_output"
    role: Role
    line: str
    kind: Literal["text", "tool", "result", "error", "info"] = "text"


class AgentFinished(Event):
    type: Literal["agent_finished"] = "agent_finished"
    role: Role
    ok: bool
    error: str | None = None
    usage: AgentUsage = Field(default_factory=AgentUsage)
    elapsed: float = 0.0


class FindingsReported(Event):
    type: Literal["findings"] = "findings"
    summary: str = ""
    findings: list[Finding]


class HypothesesProposed(Event):
    type: Literal["hypotheses"] = "hypotheses"
    hypotheses: list[Hypothesis]


class ExperimentStarted(Event):
    type: Literal["experiment_started"] = "experiment_started"
    hypothesis: Hypothesis
    branch: str
    base_commit: str


class Scored(Event):
    type: Literal["scored"] = "scored"
    kind: ScoreKind
    scorecard: Scorecard


class Reviewed(Event):
    type: Literal["reviewed"] = "reviewed"
    review: Review


class ApprovalRequested(Event):
    type: Literal["approval_requested"] = "approval_requested"
    recommendation: Verdict
    diffstat: str = ""
    # A decision file must carry this: made by the engine for this experiment, and told
    # only through the event log, which no sandbox shows.
    nonce: str = ""


class ExperimentFinished(Event):
    type: Literal["experiment_finished"] = "experiment_finished"
    status: ExperimentOutcome
    verdict: Verdict
    before: float | None = None
    after: float | None = None
    commit: str | None = None
    cost_usd: float = 0.0


class Notice(Event):
    type: Literal["notice"] = "notice"
    level: NoticeLevel = "info"
    message: str


class OutOfReach(Event):
    """The open backlog items the run's runtime will not carry out (the offline runtime has
    no model), and what it does instead; sent at the start of a cycle when they change."""

    type: Literal["out_of_reach"] = "out_of_reach"
    items: list[str] = Field(default_factory=list)
    reason: str = ""


class LogContinued(Event):
    """The first line of a new segment of the event log: the run's context so far (its
    start, approval, state and cycle), for a reader that begins at this segment. A reader
    coming from the segment before has seen them and skips this line."""

    type: Literal["log_continued"] = "log_continued"
    carried: list[str] = Field(default_factory=list)  # the context events, as logged

    def events(self) -> list[Event]:
        return [event for line in self.carried if (event := parse_event(line)) is not None]


AnyEvent = Annotated[
    RunStarted
    | RunStateChanged
    | ApprovalChanged
    | RunFinished
    | CycleStarted
    | CycleFinished
    | StageStarted
    | StageFinished
    | AgentStarted
    | AgentOutput
    | AgentFinished
    | FindingsReported
    | HypothesesProposed
    | ExperimentStarted
    | Scored
    | Reviewed
    | ApprovalRequested
    | ExperimentFinished
    | Notice
    | OutOfReach
    | LogContinued,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent, config=ConfigDict(defer_build=True))


def parse_event(line: str | bytes) -> Event | None:
    """One line of `events.jsonl` as an event; None for a torn or unknown line."""
    try:
        return EVENT_ADAPTER.validate_json(line)
    except ValidationError:
        return None


Subscriber = Callable[[Event], None]
# What a reader starting at a segment of the log needs to know first: carried over into
# each new segment, so `factory watch` never has to read the segments before it.
CONTEXT_EVENTS = ("run_started", "approval_changed", "run_state", "cycle_started")
ROTATE_BYTES = 64 * 2**20


class EventIndex(Protocol):
    """Where the log's segments and runs begin (the project's state database)."""

    def rotate_events(self) -> None: ...

    def record_run(self, offset: int, event_json: str, pid: int, mode: str) -> None: ...


class EventBus:
    """Delivers each event to every subscriber and appends it to the event log.

    With an index, the log rotates: past `rotate_bytes` the current `events.jsonl` becomes
    `events-NNNNNN.jsonl` and a new one starts with the run's context, and each run's start
    is recorded, so a reader finds it without scanning.
    """

    # Agent output may sit this long in the write buffer; every other event is flushed at
    # once. A flush per line cost more than everything else the engine does with it.
    OUTPUT_FLUSH_DELAY = 0.05

    def __init__(
        self,
        log_path: Path | None = None,
        index: EventIndex | None = None,
        rotate_bytes: int = ROTATE_BYTES,
    ) -> None:
        self._subscribers: list[Subscriber] = []
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self._size = 0
        self._index = index
        self._rotate_bytes = rotate_bytes
        self._rotate_at = rotate_bytes  # moved on when a rotation fails, to try again later
        self._context: dict[str, bytes] = {}
        self._flush_pending: asyncio.TimerHandle | None = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def emit(self, event: Event) -> Event:
        if self._log_path is not None:
            self._append(event, self._log_path)
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                # A front end that fails to draw must not stop the experiment.
                log.exception("event subscriber failed on %s", type(event).__name__)
        return event

    def _append(self, event: Event, path: Path) -> None:
        line = (redact(event.model_dump_json()) + "\n").encode()
        if self._log is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log = path.open("ab")
            self._size = self._log.tell()
        kind = getattr(event, "type", "")
        if kind == "run_started":
            self._context.clear()  # a new run carries nothing of the last one
        if self._index is not None and self._size and self._size + len(line) > self._rotate_at:
            self._rotate(path)
        if isinstance(event, RunStarted) and self._index is not None:
            self._index.record_run(self._size, line.decode().strip(), event.pid, event.mode)
        if kind in CONTEXT_EVENTS:
            self._context[kind] = line
        # One write per line: a reader never sees half an event except at a crash, and
        # `parse_event` skips a torn last line.
        self._log.write(line)
        self._size += len(line)
        if isinstance(event, AgentOutput):
            self._flush_soon()
        else:
            self.flush()

    def _rotate(self, path: Path) -> None:
        assert self._log is not None and self._index is not None
        self._log.close()
        try:
            self._index.rotate_events()
        except (FactoryError, OSError) as error:
            # The run goes on in the same file; the rotation is tried again later.
            log.warning("the event log could not be rotated: %s", error)
            self._rotate_at = self._size + self._rotate_bytes
        else:
            self._rotate_at = self._rotate_bytes
        finally:
            self._log = path.open("ab")
            self._size = self._log.tell()
        if self._size:
            return  # not rotated: nothing to carry
        carried = [
            line.decode().strip() for kind in CONTEXT_EVENTS if (line := self._context.get(kind))
        ]
        if carried:
            line = (LogContinued(carried=carried).model_dump_json() + "\n").encode()
            self._log.write(line)
            self._size += len(line)

    def _flush_soon(self) -> None:
        if self._flush_pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_pending = loop.call_later(self.OUTPUT_FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        if self._flush_pending is not None:
            self._flush_pending.cancel()
            self._flush_pending = None
        if self._log is not None:
            self._log.flush()

    def close(self) -> None:
        self.flush()
        if self._log is not None:
            self._log.close()
            self._log = None


def read_events(path: Path) -> list[Event]:
    """Every well-formed event in a log, in order."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        return [event for line in handle if (event := parse_event(line)) is not None]
