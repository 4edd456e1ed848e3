"""The offline Strategist: findings and backlog turned into ranked, concrete hypotheses.

Ranking is by expected gain on the composite, estimated from the lint mapping the eval uses;
risky changes (ruff's unsafe fixes) are discounted. A hypothesis already tried and kept or
reverted is never proposed again. Backlog items the offline Builder can act on come first,
since a person asked for them.
"""

from __future__ import annotations

from factory_tui.engine.models import Finding, Hypothesis
from factory_tui.eval import tools
from factory_tui.eval.evaluator import lint_score

from ..base import AgentRequest, Emit
from ..contracts import StrategistOutput
from . import recipes

# The lint dimension's rough share of the composite, to turn lint gains into composite gains.
LINT_SHARE = 0.5
UNSAFE_DISCOUNT = 0.5
SMOKE_TEST_GAIN = 0.01
FINAL = ("kept", "reverted")


async def strategize(request: AgentRequest, emit: Emit) -> StrategistOutput:
    context = request.context
    findings = context.findings
    lines = max(tools.count_lines(request.cwd), 1)
    problems = sum(
        _evidence_count(f) for f in findings if f.area.startswith("lint:") or f.area == "format"
    )
    emit(f"{len(findings)} finding(s), {problems} lint problem(s) in {lines} lines", "text")

    proposals: list[Hypothesis] = []
    for note in context.notes:
        emit(f"message from you: {note}", "info")
        if recipes.match_recipe(note):
            proposals.append(
                Hypothesis(
                    title=note.strip().rstrip("."),
                    rationale="Asked for in a message to the CEO.",
                    expected_gain=2.0,
                    effort="M",
                    source="user",
                    category="request",
                )
            )
    for item in context.backlog:
        if item.status == "open" and recipes.match_recipe(item.title):
            proposals.append(
                Hypothesis(
                    title=item.title,
                    rationale=f"Backlog item: {item.detail or item.title}",
                    expected_gain=1.0,
                    effort="M",
                    source="backlog",
                    category="backlog",
                )
            )
    for finding in findings:
        proposal = _from_finding(finding, problems, lines)
        if proposal is not None:
            proposals.append(proposal)

    tried = {title.strip().lower(): status for title, status in context.tried.items()}
    ranked, seen = [], set()
    requested = ("user", "backlog")
    for proposal in sorted(proposals, key=lambda h: (h.source not in requested, -h.expected_gain)):
        key = proposal.title.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        if tried.get(key) in FINAL:
            emit(f"skip (already {tried[key]}): {proposal.title}", "info")
            continue
        ranked.append(proposal)
    for index, hypothesis in enumerate(ranked, 1):
        emit(
            f"{index}. {hypothesis.title}  (+{hypothesis.expected_gain:.4f}, {hypothesis.effort})",
            "result",
        )
    if not ranked:
        emit("nothing left that the offline runtime can change", "result")
    return StrategistOutput(hypotheses=ranked)


def _evidence_count(finding: Finding) -> int:
    return len([part for part in finding.evidence.split(",") if part.strip()])


def _files(finding: Finding) -> list[str]:
    paths = [
        part.strip().rsplit(":", 1)[0] if ":" in part else part.strip()
        for part in finding.evidence.split(",")
        if part.strip()
    ]
    return sorted(dict.fromkeys(paths))


def _from_finding(finding: Finding, problems: int, lines: int) -> Hypothesis | None:
    area = finding.area
    if area.startswith("lint:"):
        _, rule, fix = [*area.split(":"), "", ""][:3]
        if fix not in ("safe", "unsafe"):
            return None
        count = _evidence_count(finding)
        gain = (lint_score(problems - count, lines) - lint_score(problems, lines)) * LINT_SHARE
        if fix == "unsafe":
            gain *= UNSAFE_DISCOUNT
        files = _files(finding)
        return Hypothesis(
            title=recipes.ruff_fix_title(rule, fix, files),
            rationale=f"{finding.title}. {finding.detail}",
            expected_gain=round(gain, 5),
            effort="S" if fix == "safe" else "M",
            files=files,
            category="lint",
        )
    if area == "format":
        files = _files(finding)
        gain = (lint_score(problems - len(files), lines) - lint_score(problems, lines)) * LINT_SHARE
        return Hypothesis(
            title=recipes.format_title(files),
            rationale=finding.title,
            expected_gain=round(gain, 5),
            effort="S",
            files=files,
            category="style",
        )
    if area == "tests:missing":
        return Hypothesis(
            title=recipes.smoke_test_title(finding.evidence),
            rationale=f"{finding.title}. {finding.detail}",
            expected_gain=SMOKE_TEST_GAIN,
            effort="S",
            files=[finding.evidence],
            category="tests",
        )
    return None
