"""The keep/revert rule and the approval gate.

`precheck` lists the rules an experiment must pass before it may be kept; neither the CEO
nor a human can override a failed one. The rule is dominance: every guard passes, no
dimension of the project's score is worse beyond its noise floor, and at least one is
better beyond it. When every check holds, the gate decides: `auto` keeps at once, `manual`
asks a person (in the TUI, or through a decision file written by a TUI attached with
`factory watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from factory_tui.engine.config import EvalConfig
from factory_tui.engine.events import ApprovalMode
from factory_tui.engine.models import (
    Check,
    Experiment,
    KeepOrRevert,
    Review,
    Scorecard,
    Verdict,
)
from factory_tui.engine.store import write_atomic
from factory_tui.eval.dominance import Comparison, compare, noise_floor

IMPROVES = "improves the project"
MAX_CONCERNS = 5  # of the Reviewer's concerns, those quoted in its check
BEST_SO_FAR = "metric at least the best so far"


def verdict_rule(settings: EvalConfig, approval: str, research: str | None = None) -> str:
    """How an experiment's verdict is reached, in plain words, for the agents that aim at it
    (it says what `precheck` and the gate do; `research` names research mode's metric)."""
    rules = [
        "Every guard passes (a tripped guard reverts, whatever the score).",
        "No measured dimension gets worse: no test newly failing or erroring (compared by "
        "test id, so swapping one failure for another is worse), no new lint violation or "
        "unformatted file, no new type error, no statement newly left uncovered, no project "
        f"metric worse beyond its noise floor ({settings.z:g} standard errors of its repeats).",
        "At least one dimension gets better beyond its noise. Raw counts decide, not ratios: "
        "deleting code, padding tests or moving code around is no improvement.",
    ]
    if settings.min_delta > 0:
        rules.append(f"The composite score rises by at least {settings.min_delta:g}.")
    if research:
        rules.append(
            f"Research mode: the metric {research} is at least as good as the best so far, "
            "so a kept change never gives back an earlier gain."
        )
    rules.append("The Reviewer approves the diff; a rejection reverts.")
    rules.append(
        "Then the change is kept at once."
        if approval == "auto"
        else "Then a person approves it by hand before it is kept."
    )
    return "\n".join(f"{number}. {rule}" for number, rule in enumerate(rules, 1))


def dominance_checks(comparisons: list[Comparison]) -> list[Check]:
    """One check per dimension (not worse beyond its noise), and one that some dimension is
    better beyond it."""
    checks = [
        Check(name=f"{c.dimension} not worse", ok=c.change != "worse", detail=c.detail)
        for c in comparisons
    ]
    better = [c for c in comparisons if c.change == "better"]
    checks.append(
        Check(
            name=IMPROVES,
            ok=bool(better),
            detail="; ".join(f"{c.dimension}: {c.detail}" for c in better)
            if better
            else "no dimension is better beyond its noise",
        )
    )
    return checks


def precheck(
    before: Scorecard,
    after: Scorecard,
    review: Review | None,
    settings: EvalConfig,
    guards: list[Check] | None = None,
    extra: list[Check] | None = None,
) -> list[Check]:
    """Every rule a kept experiment must satisfy, each with the reason it held or failed:
    the guards, `extra` (similarity to reverted ideas, the smoke command, leakage), the
    dominance rule, the composite's rise when `min_delta` asks for one, and the review."""
    checks = [*(guards or []), *(extra or [])]
    checks += dominance_checks(compare(before, after, settings.metrics, settings.z))
    if settings.min_delta > 0:
        delta = after.composite - before.composite
        checks.append(
            Check(
                name="composite gain",
                ok=delta >= settings.min_delta,
                detail=f"{before.composite:.4f} -> {after.composite:.4f} ({delta:+.4f}; "
                f"needs >= {settings.min_delta:+.4f})",
            )
        )
    if review is not None:
        checks.append(review_check(review))
    return checks


def review_check(review: Review) -> Check:
    """The Reviewer's call as a check: its summary and every concern it raised, so they
    reach the verdict, the note and the person who approves."""
    detail = review.summary or review.verdict
    if review.concerns:
        detail += " Concerns: " + "; ".join(review.concerns[:MAX_CONCERNS])
        if len(review.concerns) > MAX_CONCERNS:
            detail += f"; and {len(review.concerns) - MAX_CONCERNS} more"
    return Check(name="review", ok=review.verdict == "approve", detail=detail)


def research_precheck(
    before: Scorecard,
    after: Scorecard,
    review: Review | None,
    settings: EvalConfig,
    best: float | None,
    direction: str,
    metric: str,
    guards: list[Check] | None = None,
    extra: list[Check] | None = None,
) -> list[Check]:
    """Research mode adds monotony to the general rules: the metric at least as good as the
    best so far (within its noise), so a kept change never gives back an earlier gain."""
    checks = precheck(before, after, review, settings, guards, extra)
    old, new = before.dimension(metric), after.dimension(metric)
    value = after.value(metric)
    if new is None or value is None:
        check = Check(name=BEST_SO_FAR, ok=False, detail="the metric was not measured")
    elif best is None:
        check = Check(name=BEST_SO_FAR, ok=True, detail=f"{value:g} (first measurement)")
    else:
        floor = noise_floor(old, new, settings.z) if old is not None else 0.0
        gap = (value - best) if direction == "higher" else (best - value)
        check = Check(
            name=BEST_SO_FAR,
            ok=gap >= -floor - 1e-12 * max(1.0, abs(best)),
            detail=f"{value:g} vs best {best:g} ({direction} is better"
            + (f"; noise floor {floor:.3g})" if floor else ")"),
        )
    return [*checks, check]


def recommend(checks: list[Check]) -> Verdict:
    failed = [check for check in checks if not check.ok]
    if failed:
        reason = "; ".join(f"{check.name} failed ({check.detail})" for check in failed)
        return Verdict(decision="revert", reason=reason, checks=checks)
    headline = next((c for c in checks if c.name == IMPROVES), None)
    reason = f"every check passed; better: {headline.detail}" if headline else "passed"
    return Verdict(decision="keep", reason=reason, checks=checks)


class Decision(BaseModel):
    """A person's answer, as the decision file an attached TUI writes."""

    decision: KeepOrRevert
    note: str = ""
    nonce: str = ""  # the experiment's nonce from its ApprovalRequested event


class ApprovalGate(Protocol):
    mode: ApprovalMode

    async def decide(self, experiment: Experiment, recommendation: Verdict) -> Verdict:
        """The final verdict. Called only when every precheck passed."""
        ...


class AutoApproval:
    mode: ApprovalMode = "auto"

    async def decide(self, experiment: Experiment, recommendation: Verdict) -> Verdict:
        return recommendation


class ManualApproval:
    """Waits for a person: in-process through `answer`, or through a decision file.

    The file is `.factory/experiments/<id>/decision.json`, written by a TUI attached with
    `factory watch`; so a headless run can be approved from another terminal.
    """

    mode: ApprovalMode = "manual"
    POLL = 0.2

    def __init__(
        self, experiments_dir: Path, on_ignored: Callable[[str, str], None] | None = None
    ) -> None:
        self.experiments_dir = experiments_dir
        self._pending: dict[str, asyncio.Future[Decision]] = {}
        self.nonces: dict[str, str] = {}
        # Told of a decision file without the right nonce (written by something else).
        self.on_ignored = on_ignored or (lambda experiment_id, why: None)

    def nonce(self, experiment_id: str) -> str:
        """The experiment's nonce, made once: a decision file must carry it."""
        return self.nonces.setdefault(experiment_id, secrets.token_hex(16))

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
        nonce = self.nonce(experiment.id)
        try:
            while not future.done():
                decision = read_decision(path)
                if decision is not None and secrets.compare_digest(decision.nonce, nonce):
                    future.set_result(decision)
                    break
                if decision is not None or path.exists():
                    path.unlink(missing_ok=True)
                    self.on_ignored(experiment.id, "a decision file without this run's nonce")
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
