"""The keep/revert rule and the approval gate.

`precheck` lists the rules an experiment must pass before it may be kept; neither the CEO
nor a human can override a failed one. When every check holds, the gate decides: `auto`
keeps at once, `manual` asks a person (in the TUI, or through a decision file written by a
TUI attached with `factory watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ValidationError

from .models import Check, Experiment, Review, Scorecard, Verdict
from .store import write_atomic

REGRESSION_GUARDED = ("tests", "lint", "types")


def precheck(
    before: Scorecard,
    after: Scorecard,
    review: Review | None,
    min_delta: float,
    guards: list[Check] | None = None,
    extra: list[Check] | None = None,
) -> list[Check]:
    """Every rule a kept experiment must satisfy, each with the reason it held or failed:
    the guards, the composite's rise, no hygiene regression, the review, and `extra` (the
    similarity to reverted ideas and the smoke command)."""
    checks = [*(guards or []), *(extra or [])]
    delta = after.composite - before.composite
    checks.append(
        Check(
            name="composite gain",
            ok=delta >= min_delta,
            detail=f"{before.composite:.4f} -> {after.composite:.4f} ({delta:+.4f}; "
            f"needs >= {min_delta:+.4f})",
        )
    )
    return [*checks, *hygiene_and_review(before, after, review)]


def hygiene_and_review(before: Scorecard, after: Scorecard, review: Review | None) -> list[Check]:
    """Rules every mode shares: tests, lint and types do not regress; the Reviewer approves."""
    checks = []
    for name in REGRESSION_GUARDED:
        old, new = before.dimension(name), after.dimension(name)
        if old is None or new is None or old.score is None or new.score is None:
            continue
        checks.append(
            Check(
                name=f"{name} not regressed",
                ok=new.score >= old.score - 1e-9,
                detail=f"{old.score:.4f} -> {new.score:.4f}",
            )
        )
    if review is not None:
        checks.append(
            Check(
                name="review",
                ok=review.verdict == "approve",
                detail=review.summary or review.verdict,
            )
        )
    return checks


def research_precheck(
    before: Scorecard,
    after: Scorecard,
    review: Review | None,
    min_delta: float,
    best: float | None,
    direction: str,
    metric: str,
    guards: list[Check] | None = None,
    extra: list[Check] | None = None,
) -> list[Check]:
    """Research mode's rules: the metric at least as good as the best so far (monotonic),
    with some gain to show for the change, and no hygiene regression; plus the guards."""
    checks = [*(guards or []), *(extra or [])]
    old, new = before.value(metric), after.value(metric)
    if new is None:
        checks.append(Check(name="metric", ok=False, detail="the metric was not measured"))
    else:
        higher = direction == "higher"
        at_least_best = best is None or (new >= best if higher else new <= best)
        improved = old is None or (new > old if higher else new < old)
        gain = after.composite - before.composite
        checks.append(
            Check(
                name="metric at least the best so far",
                ok=at_least_best,
                detail=f"{new:g} vs best {best:g} ({direction} is better)"
                if best is not None
                else f"{new:g} (first measurement)",
            )
        )
        checks.append(
            Check(
                name="metric or composite gain",
                ok=improved or gain >= min_delta,
                detail=f"metric {old if old is None else f'{old:g}'} -> {new:g}; composite "
                f"{gain:+.4f}",
            )
        )
    return [*checks, *hygiene_and_review(before, after, review)]


def recommend(checks: list[Check]) -> Verdict:
    failed = [check for check in checks if not check.ok]
    if failed:
        reason = "; ".join(f"{check.name} failed ({check.detail})" for check in failed)
        return Verdict(decision="revert", reason=reason, checks=checks)
    headline = next(
        (c for c in checks if c.name in ("composite gain", "metric at least the best so far")), None
    )
    reason = f"every check passed; {headline.name}: {headline.detail}" if headline else "passed"
    return Verdict(decision="keep", reason=reason, checks=checks)


class Decision(BaseModel):
    """A person's answer, as the decision file an attached TUI writes."""

    decision: Literal["keep", "revert"]
    note: str = ""


class ApprovalGate(Protocol):
    mode: str

    async def decide(self, experiment: Experiment, recommendation: Verdict) -> Verdict:
        """The final verdict. Called only when every precheck passed."""
        ...


class AutoApproval:
    mode = "auto"

    async def decide(self, experiment: Experiment, recommendation: Verdict) -> Verdict:
        return recommendation


class ManualApproval:
    """Waits for a person: in-process through `answer`, or through a decision file.

    The file is `.factory/experiments/<id>/decision.json`, written by a TUI attached with
    `factory watch`; so a headless run can be approved from another terminal.
    """

    mode = "manual"
    POLL = 0.2

    def __init__(self, experiments_dir: Path) -> None:
        self.experiments_dir = experiments_dir
        self._pending: dict[str, asyncio.Future[Decision]] = {}

    def answer(self, experiment_id: str, decision: Decision) -> bool:
        future = self._pending.get(experiment_id)
        if future is None or future.done():
            return False
        future.set_result(decision)
        return True

    def answer_all(self, decision: Decision) -> None:
        for experiment_id in list(self._pending):
            self.answer(experiment_id, decision)

    async def decide(self, experiment: Experiment, recommendation: Verdict) -> Verdict:
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending[experiment.id] = future
        path = self.experiments_dir / experiment.id / "decision.json"
        try:
            while not future.done():
                decision = read_decision(path)
                if decision is not None:
                    future.set_result(decision)
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), self.POLL)
            answer = future.result()
        finally:
            self._pending.pop(experiment.id, None)
        reason = f"decided by a person: {answer.decision}"
        if answer.note:
            reason += f" ({answer.note})"
        return Verdict(
            decision=answer.decision,
            reason=reason,
            decided_by="human",
            checks=recommendation.checks,
        )


def read_decision(path: Path) -> Decision | None:
    try:
        return Decision.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, json.JSONDecodeError):
        return None


def write_decision(experiments_dir: Path, experiment_id: str, decision: Decision) -> Path:
    path = experiments_dir / experiment_id / "decision.json"
    write_atomic(path, decision.model_dump_json())
    return path
