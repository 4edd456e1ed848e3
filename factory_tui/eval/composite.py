"""The composite: a weighted mean inside each tier, tiers combined by their weights.

Both levels renormalise over what applies: a dimension that is not applicable, or a tier
with no applicable dimension, drops out and the rest share its weight.
"""

from __future__ import annotations

from factory_tui.engine.config import EvalConfig
from factory_tui.engine.models import DimensionScore, Scorecard

TIERS = ("hygiene", "growth", "project")


def weighted(dimensions: list[DimensionScore]) -> float | None:
    applicable = [d for d in dimensions if d.score is not None and d.weight > 0]
    total = sum(d.weight for d in applicable)
    if not total:
        return None
    return sum(d.weight * d.score for d in applicable if d.score is not None) / total


def combine(
    dimensions: list[DimensionScore], config: EvalConfig
) -> tuple[dict[str, float], dict[str, float], float]:
    """(tier scores, tier shares, composite) for dimensions already carrying their weights."""
    tiers: dict[str, float] = {}
    for tier in TIERS:
        score = weighted([d for d in dimensions if d.tier == tier])
        if score is not None:
            tiers[tier] = score
    weights = config.tiers.resolved(has_project=bool(config.metrics))
    total = sum(weights[tier] for tier in tiers)
    if not total:
        return tiers, {}, 0.0
    shares = {tier: weights[tier] / total for tier in tiers}
    return tiers, shares, sum(shares[tier] * score for tier, score in tiers.items())


def what_if(card: Scorecard, changes: dict[str, float]) -> float:
    """The composite `card` would have with some dimensions' scores replaced: how the
    Strategist estimates a hypothesis's gain with the eval's own weights."""
    composite = card.composite
    for tier, share in card.tier_weights.items():
        members = [d for d in card.dimensions if d.tier == tier]
        changed = [
            d.model_copy(update={"score": changes[d.name]}) if d.name in changes else d
            for d in members
        ]
        old, new = weighted(members), weighted(changed)
        if old is not None and new is not None:
            composite += share * (new - old)
    return composite
