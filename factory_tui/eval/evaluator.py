"""The Evaluator: scores one checkout of the project, dimension by dimension.

Dimensions run concurrently, each with its own time limit, and the scorecard is cached by
the git tree hash plus a hash of the eval configuration, so scoring an unchanged tree again
runs no tool at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from factory_tui.engine.config import EvalConfig
from factory_tui.engine.models import DimensionScore, Scorecard
from factory_tui.engine.store import write_atomic

from . import tools

OnLine = Callable[[str], None]
CACHE_VERSION = "1"


@dataclass(frozen=True)
class EvalContext:
    """What a dimension may look at: the checkout, the interpreter, and where to stream."""

    root: Path
    python: str
    config: EvalConfig
    on_line: OnLine


Dimension = Callable[[EvalContext], Awaitable[DimensionScore]]


def lint_score(violations: int, lines: int) -> float:
    """Violations per thousand lines mapped to 0..1: none is 1, ten per thousand is 0.5."""
    per_kloc = violations * 1000 / max(lines, 1)
    return 1.0 / (1.0 + per_kloc / 10.0)


async def tests_dimension(ctx: EvalContext) -> DimensionScore:
    report = await tools.run_pytest(ctx.root, ctx.python, ctx.on_line, timeout=ctx.config.timeout)
    raw = {
        "collected": report.collected,
        "passed": report.passed,
        "failed": report.failed,
        "errors": report.errors,
        "skipped": report.skipped,
    }
    if report.timed_out:
        return DimensionScore(
            name="tests",
            tier="hygiene",
            score=0.0,
            raw=raw,
            reason=f"timed out after {ctx.config.timeout:.0f}s",
        )
    ran = report.passed + report.failed + report.errors
    if ran == 0:
        return DimensionScore(
            name="tests", tier="hygiene", score=0.0, raw=raw, reason="no tests found"
        )
    return DimensionScore(
        name="tests",
        tier="hygiene",
        score=report.pass_rate,
        raw=raw,
        reason=f"{report.passed}/{ran} passed"
        + (f", {report.skipped} skipped" if report.skipped else ""),
    )


async def lint_dimension(ctx: EvalContext) -> DimensionScore:
    if tools.ruff_binary() is None:
        return DimensionScore(
            name="lint", tier="hygiene", score=None, reason="not applicable: ruff is not installed"
        )
    violations, unformatted = await asyncio.gather(
        tools.ruff_check(ctx.root, ctx.on_line), tools.ruff_unformatted(ctx.root, ctx.on_line)
    )
    lines = tools.count_lines(ctx.root)
    if lines == 0:
        return DimensionScore(
            name="lint", tier="hygiene", score=None, reason="not applicable: no Python code"
        )
    problems = len(violations) + len(unformatted)
    return DimensionScore(
        name="lint",
        tier="hygiene",
        score=lint_score(problems, lines),
        raw={"violations": len(violations), "unformatted": len(unformatted), "lines": lines},
        reason=f"{len(violations)} violation(s), {len(unformatted)} unformatted file(s) "
        f"in {lines} lines",
    )


DIMENSIONS: dict[str, Dimension] = {"tests": tests_dimension, "lint": lint_dimension}


class Evaluator:
    """Scores checkouts; one instance per run, sharing its cache across experiments."""

    def __init__(self, config: EvalConfig, cache_dir: Path | None, python: str) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.python = python

    @property
    def config_hash(self) -> str:
        payload = CACHE_VERSION + self.config.model_dump_json() + ",".join(DIMENSIONS)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _cache_path(self, tree: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{tree}-{self.config_hash}.json"

    def cached(self, tree: str) -> Scorecard | None:
        path = self._cache_path(tree)
        if path is None or not path.exists():
            return None
        try:
            card = Scorecard.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None
        return card.model_copy(update={"cached": True, "elapsed": 0.0})

    async def evaluate(self, root: Path, tree: str, on_line: OnLine = tools.quiet) -> Scorecard:
        hit = self.cached(tree)
        if hit is not None:
            on_line(f"cached score for tree {tree[:10]}: {hit.composite:.4f}")
            return hit
        started = time.monotonic()
        ctx = EvalContext(root=root, python=self.python, config=self.config, on_line=on_line)
        dimensions = await asyncio.gather(
            *(_guarded(name, fn, ctx) for name, fn in DIMENSIONS.items())
        )
        card = Scorecard(
            tree=tree,
            dimensions=list(dimensions),
            composite=composite(dimensions),
            elapsed=time.monotonic() - started,
        )
        card.tiers = {"hygiene": card.composite}
        for dimension in dimensions:
            on_line(f"{dimension.name}: {_fmt(dimension.score)} ({dimension.reason})")
        on_line(f"composite: {card.composite:.4f}")
        path = self._cache_path(tree)
        if path is not None:
            write_atomic(path, card.model_dump_json())
        return card


def composite(dimensions: list[DimensionScore]) -> float:
    applicable = [d for d in dimensions if d.score is not None]
    total = sum(d.weight for d in applicable)
    if not total:
        return 0.0
    return sum(d.score * d.weight for d in applicable if d.score is not None) / total


async def _guarded(name: str, dimension: Dimension, ctx: EvalContext) -> DimensionScore:
    try:
        return await dimension(ctx)
    except FileNotFoundError as error:
        return DimensionScore(
            name=name,
            tier="hygiene",
            score=None,
            reason=f"not applicable: {error.filename or error} not found",
        )
    except TimeoutError as error:
        return DimensionScore(name=name, tier="hygiene", score=0.0, reason=str(error))


def _fmt(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.3f}"
