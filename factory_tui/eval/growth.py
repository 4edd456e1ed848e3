"""Growth: is the project gaining capability, and is the factory working well on it?

`capability` and `observability` read the checkout; `diversity`, `research` and
`effectiveness` read the experiment history (plus the experiment being scored, so trying a
new kind of change or a well-grounded one shows in its score).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from factory_tui.engine.models import DimensionScore, Experiment, ExperimentStatus, Hypothesis

from . import tools
from .hygiene import Checkout, not_applicable

RECENT = 10
LOGGING_MODULES = {"logging", "structlog", "loguru"}
GROUNDED_SOURCES = {"backlog", "user", "focus"}


# -- capability -------------------------------------------------------------------------------
def capability_count(root: Path) -> dict[str, int]:
    """Modules, public functions and classes, and entry points of the project's code."""
    modules = functions = entry_points = 0
    for path in tools.python_files(root):
        relative = path.relative_to(root).as_posix()
        if tools.is_test_file(relative):
            continue
        modules += 1
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                functions += not node.name.startswith("_")
            elif isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                entry_points += 1
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            entry_points += len(project.get("scripts", {})) + len(project.get("gui-scripts", {}))
        except (OSError, tomllib.TOMLDecodeError):
            pass
    return {"modules": modules, "functions": functions, "entry_points": entry_points}


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


# -- observability ----------------------------------------------------------------------------
def observability(checkout: Checkout) -> DimensionScore:
    modules = logging_modules = functions = handled = 0
    for path in tools.python_files(checkout.root):
        if tools.is_test_file(path.relative_to(checkout.root).as_posix()):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        modules += 1
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        logging_modules += bool(imported & LOGGING_MODULES)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _statements(node) >= 3:
                functions += 1
                handled += any(isinstance(inner, ast.Try | ast.Raise) for inner in ast.walk(node))
    if modules == 0:
        return not_applicable("observability", "growth", "no Python code")
    log_share = logging_modules / modules
    error_share = handled / functions if functions else 1.0
    return DimensionScore(
        name="observability",
        tier="growth",
        score=0.5 * log_share + 0.5 * error_share,
        raw={
            "modules": modules,
            "logging_modules": logging_modules,
            "functions": functions,
            "handling_errors": handled,
        },
        reason=f"{logging_modules}/{modules} modules log; {handled}/{functions} non-trivial "
        f"functions handle or raise errors",
    )


def _statements(function: ast.AST) -> int:
    """How much a function does: its statements, nested ones included."""
    return sum(isinstance(node, ast.stmt) for node in ast.walk(function)) - 1


# -- history ----------------------------------------------------------------------------------
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
