"""Growth: is the project gaining capability, and does it tell what it is doing?

Both read the checkout. How well the factory itself works on the project (diversity of its
experiments, their grounding, its keep rate) is `factory_scorecard`, apart from the score.
"""

from __future__ import annotations

from factory_tui.engine.models import DimensionScore

from .code_scan import CodeScan
from .hygiene import not_applicable


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
