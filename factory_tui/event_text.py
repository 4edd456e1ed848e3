"""One readable line per engine event, and the category the event feed filters on."""

from __future__ import annotations

import time

from factory_tui.engine import events as ev
from factory_tui.engine.models import Role
from factory_tui.engine.text import money

CATEGORIES = ("agents", "evals", "experiments", "system")
_AGENTS = {"agent_started", "agent_output", "agent_finished"}
_EVALS = {"scored"}
_EXPERIMENTS = {
    "experiment_started",
    "experiment_finished",
    "hypotheses",
    "findings",
    "reviewed",
    "approval_requested",
}


# Agent output as the feed keeps it: (ts, experiment, role label, line). A tuple of strings
# and a float, which the garbage collector stops tracking: tens of thousands of output
# events kept as models made each of its full passes pause the keys for 60 ms or more.
OutputLine = tuple[float, str | None, str, str]
FEED_KEEP = 50_000  # events the feed holds: with agents hidden, the older ones still show
FeedItem = ev.Event | OutputLine


ROLE_LABELS = {role: role.label for role in Role}
LABEL_ROLES = {label: role for role, label in ROLE_LABELS.items()}


def feed_item(event: ev.Event) -> FeedItem:
    """What the event feed keeps of an event."""
    if type(event) is ev.AgentOutput:
        return (event.ts, event.experiment, ROLE_LABELS[event.role], event.line)
    return event


def category(event: FeedItem) -> str:
    if isinstance(event, tuple):
        return "agents"
    kind = getattr(event, "type", "")
    if kind in _AGENTS:
        return "agents"
    if kind in _EVALS:
        return "evals"
    if kind in _EXPERIMENTS:
        return "experiments"
    return "system"


def describe(event: FeedItem) -> str:
    """`HH:MM:SS exp-0003 text` for the event feed."""
    if isinstance(event, tuple):
        ts, experiment, label, line = event
        where = f"{experiment} " if experiment else ""
        return f"{time.strftime('%H:%M:%S', time.localtime(ts))} {where}{label} │ {line}"
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    where = f"{event.experiment} " if event.experiment else ""
    return f"{clock} {where}{_text(event)}"


def _text(event: ev.Event) -> str:
    match event:
        case ev.RunStarted():
            return f"run started: {event.mode}, {event.runtime}, approval {event.approval}"
        case ev.RunStateChanged():
            return f"state: {event.state}"
        case ev.ApprovalChanged():
            return f"approval is now {event.approval}"
        case ev.RunFinished():
            return f"run {event.status}: {event.reason}"
        case ev.CycleStarted():
            return f"cycle {event.cycle} started"
        case ev.CycleFinished():
            return f"cycle {event.cycle} finished: {event.outcome}"
        case ev.StageStarted():
            return f"stage {event.stage.label} started"
        case ev.StageFinished():
            return (
                f"stage {event.stage.label} {'done' if event.ok else 'failed'} "
                f"({event.elapsed:.1f}s)"
            )
        case ev.AgentStarted():
            return f"{event.role.label} started ({event.runtime})"
        case ev.AgentOutput():
            return f"{event.role.label} │ {event.line}"
        case ev.AgentFinished():
            state = "done" if event.ok else f"failed: {event.error}"
            cost = money(event.usage.cost_usd)
            return f"{event.role.label} {state} ({event.elapsed:.1f}s, {cost})"
        case ev.FindingsReported():
            return f"{len(event.findings)} finding(s): {event.summary}"
        case ev.HypothesesProposed():
            return f"{len(event.hypotheses)} hypothesis(es) proposed"
        case ev.ExperimentStarted():
            return f"experiment started: {event.hypothesis.title} on {event.branch}"
        case ev.Scored():
            return f"{event.kind} scored {event.scorecard.composite:.4f}" + (
                " (cached)" if event.scorecard.cached else ""
            )
        case ev.Reviewed():
            return f"review: {event.review.verdict}: {event.review.summary}"
        case ev.ApprovalRequested():
            return f"awaiting approval (recommended: {event.recommendation.decision})"
        case ev.ExperimentFinished():
            return f"{event.status}: {event.verdict.reason}"
        case ev.Notice():
            return f"{event.level}: {event.message}"
        case ev.OutOfReach():
            return out_of_reach_text(event)
        case ev.LogContinued():
            return "the event log continues in a new segment"
    return getattr(event, "type", type(event).__name__)


def out_of_reach_text(event: ev.OutOfReach) -> str:
    """The backlog items the run will not build, and why, in one line."""
    if not event.items:
        return "every open backlog item is within the runtime's reach"
    shown = "; ".join(f"'{item}'" for item in event.items[:3])
    more = f" and {len(event.items) - 3} more" if len(event.items) > 3 else ""
    # What to do first: a notice line may be cut at the terminal's edge.
    return (
        f"{len(event.items)} backlog item(s) need a model: {event.reason}. Waiting: {shown}{more}"
    )
