"""Growth: is the project gaining capability, and is the factory working well on it?

`capability` and `observability` read the checkout; `diversity`, `research` and
`effectiveness` read the experiment history (plus the experiment being scored, so trying a
new kind of change or a well-grounded one shows in its score).
"""

from __future__ import annotations

from factory_tui.engine.models import DimensionScore, Experiment, ExperimentStatus, Hypothesis

from .code_scan import CodeScan
from .hygiene import not_applicable

RECENT = 10
GROUNDED_SOURCES = {"backlog", "user", "focus"}


# -- capability -----------------------------------------------------------------------------
def capability(counts: dict[str, int], baseline: dict[str, int] | None) -> DimensionScore:
    """0.5 at the baseline, rising towards 1 as the project grows, falling as it shrinks."""
    total = counts["modules"] + counts["functions"] + 3 * counts["entry_points"]
    if total == 0:
        return not_applicable("capability", "growth", "no Python code")
    base = baseline or counts
    base_total = base["modules"] + base["functions"] + 3 * base["entry_points"]
    score = total / (total + max(base_total, 1))
    return DimensionScore(
        name="capability",
        tier="growth",
        score=score,
        raw=dict(counts),
        reason=f"{counts['modules']} modules, {counts['functions']} public functions/classes, "
        f"{counts['entry_points']} entry points (baseline weight {base_total})",
    )


# -- observability --------------------------------------------------------------------------
def observability(scan: CodeScan) -> DimensionScore:
    if scan.modules == 0:
        return not_applicable("observability", "growth", "no Python code")
    log_share = scan.logging_modules / scan.modules
    error_share = scan.handling_errors / scan.nontrivial if scan.nontrivial else 1.0
    return DimensionScore(
        name="observability",
        tier="growth",
        score=0.5 * log_share + 0.5 * error_share,
        raw={
            "modules": scan.modules,
            "logging_modules": scan.logging_modules,
            "functions": scan.nontrivial,
            "handling_errors": scan.handling_errors,
        },
        reason=f"{scan.logging_modules}/{scan.modules} modules log; {scan.handling_errors}/"
        f"{scan.nontrivial} non-trivial functions handle or raise errors",
    )


# -- history --------------------------------------------------------------------------------
def _recent(history: list[Experiment]) -> list[Experiment]:
    finished = [
        e for e in history if e.status in (ExperimentStatus.KEPT, ExperimentStatus.REVERTED)
    ]
    return finished[-RECENT:]


def diversity(history: list[Experiment], candidate: Hypothesis | None) -> DimensionScore:
    categories = [e.hypothesis.category for e in _recent(history)]
    if candidate is not None:
        categories = [*categories[-(RECENT - 1) :], candidate.category]
    if not categories:
        return not_applicable("diversity", "growth", "no experiments yet")
    distinct = sorted(set(categories))
    score = min(1.0, len(distinct) / min(len(categories), 5))
    return DimensionScore(
        name="diversity",
        tier="growth",
        score=score,
        raw={"distinct": len(distinct), "experiments": len(categories)},
        reason=f"{len(distinct)} categories in the last {len(categories)} "
        f"experiment(s): {', '.join(distinct)}",
    )


def grounded(hypothesis: Hypothesis) -> bool:
    """Asked for by a person, or argued from recorded findings."""
    return hypothesis.source in GROUNDED_SOURCES or len(hypothesis.rationale.strip()) >= 20


def research(history: list[Experiment], candidate: Hypothesis | None) -> DimensionScore:
    hypotheses = [e.hypothesis for e in _recent(history)]
    if candidate is not None:
        hypotheses = [*hypotheses[-(RECENT - 1) :], candidate]
    if not hypotheses:
        return not_applicable("research", "growth", "no experiments yet")
    count = sum(grounded(h) for h in hypotheses)
    return DimensionScore(
        name="research",
        tier="growth",
        score=count / len(hypotheses),
        raw={"grounded": count, "experiments": len(hypotheses)},
        reason=f"{count}/{len(hypotheses)} recent hypotheses grounded in findings or requests",
    )


def effectiveness(history: list[Experiment]) -> DimensionScore:
    recent = _recent(history)
    if not recent:
        return not_applicable("effectiveness", "growth", "no finished experiments yet")
    kept = [e for e in recent if e.status == ExperimentStatus.KEPT]
    keep_rate = len(kept) / len(recent)
    start = recent[0].before.composite if recent[0].before else None
    end = max((e.after.composite for e in kept if e.after), default=start)
    gain = (end - start) if start is not None and end is not None else 0.0
    trend = min(1.0, max(0.0, 0.5 + gain * 5))
    return DimensionScore(
        name="effectiveness",
        tier="growth",
        score=0.7 * keep_rate + 0.3 * trend,
        raw={"kept": len(kept), "finished": len(recent), "gain": round(gain, 4)},
        reason=f"kept {len(kept)}/{len(recent)} recent experiments; composite {gain:+.4f} "
        f"over them",
    )
