"""The offline Strategist: findings and backlog turned into ranked, concrete hypotheses.

Each hypothesis's expected gain is the composite the baseline scorecard would have with the
lint score the change predicts, computed with the eval's own weights (`what_if`): an
estimate for ranking, since the verdict weighs counts, not the composite. Every safe fix is
first offered together (one experiment clears them all when none breaks anything), then
rule by rule; ruff's unsafe fixes only where the tests run the lines they change, rule by
rule, and discounted. What was kept or reverted is not proposed again, nor anything too
like a reverted idea (same kind, same rules, same files) until a kept change has touched
its files. What a person asked for (messages, backlog) comes first; what the offline
runtime cannot do is said, with the runtime that can.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from factory_tui.engine.models import BacklogItem, Finding, Hypothesis, Scorecard
from factory_tui.engine.text import words
from factory_tui.eval import tools
from factory_tui.eval.composite import what_if
from factory_tui.eval.hygiene import per_kloc_score
from factory_tui.eval.similarity import RULE_ID, Target, similarity

from ..base import AgentRequest, Emit
from ..contracts import StrategistOutput
from . import recipes

UNSAFE_DISCOUNT = 0.5
SMOKE_TEST_GAIN = 0.01
FALLBACK_LINT_SHARE = 0.1  # lint's share of the composite when no baseline is known
FINAL = ("kept", "reverted")
REQUESTED = ("user", "backlog")
PLAYBOOK_MATCH = 0.5  # word overlap at which a Don't rule covers a hypothesis
FOCUS_MATCH = 0.5  # share of a focus item's words a proposal must carry to stand for it


OFFLINE_DOES = "offline, the factory applies ruff's fixes, ruff format and smoke tests"
A_MODEL = "run with --runtime claude (or --runtime command with an agent CLI)"
LIMITS = (
    "the offline runtime only applies ruff's fixes, ruff format and smoke tests; "
    "run with --runtime claude (or an agent CLI) to build them"
)


def cannot_do(text: str) -> str:
    """The one line that says what the offline runtime cannot do, and what can."""
    return (
        f"the offline runtime has no recipe for '{text}': {OFFLINE_DOES}; "
        f"{A_MODEL} to have a model do it"
    )


class GainModel:
    """Expected composite gains from removing lint problems, with the eval's weights."""

    def __init__(self, card: Scorecard | None, problems: int, lines: int) -> None:
        self.card, self.problems, self.lines = card, problems, lines
        self.before = per_kloc_score(problems, lines)

    def lint_change(self, removed: int) -> dict[str, float]:
        """The prediction for removing `removed` problems: the lint score's change (and the
        composite's, which the gain already is)."""
        after = per_kloc_score(max(self.problems - removed, 0), self.lines)
        return {"lint": round(after - self.before, 5)}

    def lint_fix(self, removed: int) -> float:
        after = per_kloc_score(max(self.problems - removed, 0), self.lines)
        lint = self.card.dimension("lint") if self.card else None
        if self.card is None or lint is None or lint.score is None:
            return (after - self.before) * FALLBACK_LINT_SHARE
        return what_if(self.card, {"lint": lint.score + after - self.before}) - self.card.composite


async def strategize(request: AgentRequest, emit: Emit) -> StrategistOutput:
    context = request.context
    findings = context.findings
    lines = max(tools.count_lines(request.cwd), 1)
    problems = sum(_evidence_count(f) for f in findings if _is_lint(f))
    gains = GainModel(context.before, problems, lines)
    emit(f"{len(findings)} finding(s), {problems} lint problem(s) in {lines} lines", "text")

    proposals: list[Hypothesis] = _requests(context.notes, context.backlog, emit)
    proposals += _lint_hypotheses(findings, gains)
    proposals += _parameter_hypotheses(findings)
    for finding in findings:
        if finding.area == "tests:missing":
            proposals.append(
                Hypothesis(
                    title=recipes.smoke_test_title(finding.evidence),
                    rationale=f"{finding.title}. {finding.detail}",
                    expected_gain=SMOKE_TEST_GAIN,
                    # A smoke test runs lines no test ran: coverage rises, nothing else moves.
                    predicted={"coverage": SMOKE_TEST_GAIN},
                    effort="S",
                    files=[finding.evidence],
                    category="tests",
                )
            )

    ordered = sorted(proposals, key=lambda h: (h.source not in REQUESTED, -h.expected_gain))
    if context.focus:
        chosen = _for_focus(context.focus, ordered, emit)
        if chosen is None:
            note = cannot_do(context.focus)
            emit(note, "info")
            return StrategistOutput(hypotheses=[], note=note)
        emit(f"1. {chosen.title}  (+{chosen.expected_gain:.4f}, {chosen.effort})", "result")
        return StrategistOutput(hypotheses=[chosen])

    donts = playbook_donts(context.playbook)
    tried = {title.strip().lower(): status for title, status in context.tried.items()}
    reverted = [Target.of(h) for h in context.reverted]
    ranked, seen = [], set()
    for proposal in ordered:
        key = proposal.title.strip().lower()
        if key in seen:
            continue
        seen.add(key)
        if tried.get(key) in FINAL:
            emit(f"skip (already {tried[key]}): {proposal.title}", "info")
            continue
        rule = next((r for r in donts if _covers(r, proposal.title)), None)
        if rule is not None and proposal.source not in REQUESTED:
            emit(f"skip (playbook: {rule}): {proposal.title}", "info")
            continue
        target = Target.of(proposal)
        close = max(((similarity(target, r), r.title) for r in reverted), default=None)
        if close and close[0] > context.similarity_limit:
            emit(f"skip ({close[0]:.0%} like reverted '{close[1]}'): {proposal.title}", "info")
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


def playbook_donts(playbook: str) -> list[str]:
    """The "Don't" rules of an injected playbook: the offline Strategist honours them too."""
    rules, inside = [], False
    for line in playbook.splitlines():
        if line.strip().lower().startswith("don't:"):
            inside = True
        elif line.strip().lower().startswith("do:"):
            inside = False
        elif inside and line.startswith("- "):
            rules.append(line[2:].strip())
    return rules


def _covers(rule: str, title: str) -> bool:
    """Whether a Don't rule is about this hypothesis: the one it quotes ("... like
    '<title>': ..."), else enough of its words."""
    quoted = re.search(r"like '(.*)'", rule)
    subject = quoted.group(1) if quoted else rule
    a, b = words(subject), words(title)
    return bool(a and b) and len(a & b) / len(a | b) >= PLAYBOOK_MATCH


def _for_focus(focus: str, proposals: list[Hypothesis], emit: Emit) -> Hypothesis | None:
    """The one hypothesis for the focus item: the item itself when the Builder can act on
    it as written; else the proposal for the rules or files it names, or one that carries
    most of its words; else None: the offline runtime cannot do it."""
    if recipes.match_recipe(focus):
        return Hypothesis(
            title=focus.strip().rstrip("."),
            rationale="The focus item.",
            effort="M",
            source="focus",
            category="focus",
        )
    rules = set(RULE_ID.findall(focus.upper()))
    files = {token.strip(",;") for token in focus.split() if "/" in token or token.endswith(".py")}
    wanted = words(focus)
    best: tuple[float, Hypothesis | None] = (0.0, None)
    for proposal in proposals:
        target = Target.of(proposal)
        if rules or files:
            score = (len(rules & target.rules) / len(rules | target.rules) if rules else 1.0) * (
                1.0 if not files else len(files & target.files) / len(files)
            )
        else:
            have = words(f"{proposal.title} {' '.join(proposal.files)}")
            score = len(wanted & have) / len(wanted) if wanted else 0.0
            score = score if score >= FOCUS_MATCH else 0.0
        if score > best[0]:
            best = (score, proposal)
    if best[1] is None:
        return None
    emit(f"focus '{focus}' is closest to: {best[1].title}", "info")
    return best[1].model_copy(update={"source": "focus"})


def _requests(notes: list[str], backlog: list[BacklogItem], emit: Emit) -> list[Hypothesis]:
    """Messages and backlog items the offline Builder can act on, first in line; the others
    are named, with the runtime that can do them."""
    requested = []
    for note in notes:
        emit(f"message from you: {note}", "info")
        if recipes.match_recipe(note):
            requested.append(
                Hypothesis(
                    title=note.strip().rstrip("."),
                    expected_gain=2.0,
                    rationale="Asked for in a message to the CEO.",
                    effort="M",
                    source="user",
                    category="request",
                )
            )
        else:
            emit(cannot_do(note), "info")
    for item in backlog:
        if item.status != "open":
            continue
        if recipes.match_recipe(item.title):
            requested.append(
                Hypothesis(
                    title=item.title,
                    expected_gain=1.0,
                    effort="M",
                    rationale=f"Backlog item: {item.detail or item.title}",
                    source="backlog",
                    category="backlog",
                )
            )
        else:
            emit(cannot_do(item.title), "info")
    return requested


def _lint_hypotheses(findings: list[Finding], gains: GainModel) -> list[Hypothesis]:
    proposals = []
    by_fix: dict[str, list[tuple[str, Finding]]] = defaultdict(list)
    for finding in findings:
        if finding.area.startswith("lint:"):
            _, rule, fix = [*finding.area.split(":"), "", ""][:3]
            if fix in ("safe", "unsafe"):
                by_fix[fix].append((rule, finding))
        elif finding.area == "format":
            files = _files(finding, python_only=False)
            proposals.append(
                Hypothesis(
                    title=recipes.format_title(files),
                    rationale=finding.title,
                    category="style",
                    expected_gain=round(gains.lint_fix(len(files)), 5),
                    predicted=gains.lint_change(len(files)),
                    effort="S",
                    files=files,
                )
            )
    for fix, group in by_fix.items():
        discount = UNSAFE_DISCOUNT if fix == "unsafe" else 1.0
        for rule, finding in group:
            files = _files(finding)
            if not files:
                continue
            proposals.append(
                Hypothesis(
                    title=recipes.ruff_fix_title([rule], fix, files),
                    rationale=f"{finding.title}. {finding.detail}",
                    category="lint",
                    expected_gain=round(gains.lint_fix(_evidence_count(finding)) * discount, 5),
                    predicted=gains.lint_change(_evidence_count(finding)),
                    effort="S" if fix == "safe" else "M",
                    files=files,
                )
            )
    safe = [(rule, f) for rule, f in by_fix.get("safe", []) if _files(f)]
    if len(safe) > 1:  # every safe fix in one experiment: kept whole unless one breaks
        rules = [rule for rule, _ in safe]
        files = sorted({path for _, f in safe for path in _files(f)})
        count = sum(_evidence_count(f) for _, f in safe)
        proposals.append(
            Hypothesis(
                title=recipes.ruff_fix_title(rules, "safe", files),
                rationale=f"{count} safe-fixable violations of {', '.join(rules)}, fixed "
                "together; should one break something, each rule is tried alone next.",
                category="lint",
                effort="S",
                files=files,
                expected_gain=round(gains.lint_fix(count), 5),
                predicted=gains.lint_change(count),
            )
        )
    return proposals


def _parameter_hypotheses(findings: list[Finding]) -> list[Hypothesis]:
    """Research mode without a model: turn each numeric knob a step down or up, halve it,
    double it, or zero it. Reverted values are never tried again, so repeated cycles climb
    towards a better metric."""
    proposals = []
    for finding in findings:
        if not finding.area.startswith("param:"):
            continue
        _, name, path, raw = finding.area.split(":", 3)
        value = float(raw)
        step = 10 ** math.floor(math.log10(abs(value))) if value else 0.1
        candidates = [value - step, value + step, value / 2, value * 2, 0.0]
        seen = {raw}
        for rank, candidate in enumerate(candidates):
            text = _number(candidate, integer="." not in raw and "e" not in raw.lower())
            if text in seen:
                continue
            seen.add(text)
            proposals.append(
                Hypothesis(
                    title=recipes.parameter_title(name, path, text),
                    rationale=f"{finding.title}: the metric may be better with {name} = {text}.",
                    expected_gain=round(0.01 - rank * 0.001, 4),
                    effort="S",
                    files=[path],
                    category="parameter",
                )
            )
    return proposals


def _number(value: float, integer: bool) -> str:
    if integer:
        return str(round(value))
    return f"{value:.6g}" if "e" not in f"{value:.6g}" else repr(value)


def _is_lint(finding: Finding) -> bool:
    return finding.area.startswith("lint:") or finding.area == "format"


def _evidence_count(finding: Finding) -> int:
    return len([part for part in finding.evidence.split(",") if part.strip()])


def _files(finding: Finding, python_only: bool = True) -> list[str]:
    """The files a finding names; for lint fixes only Python files: ruff also lints
    pyproject.toml, whose tool tables are the project's own eval settings, and a conftest.py
    decides how the tests run, which an experiment may not change."""
    paths = [
        part.strip().rsplit(":", 1)[0] if ":" in part else part.strip()
        for part in finding.evidence.split(",")
        if part.strip()
    ]
    kept = [
        p
        for p in paths
        if not python_only
        or (p.endswith((".py", ".pyi")) and p.rsplit("/", 1)[-1] != "conftest.py")
    ]
    return sorted(dict.fromkeys(kept))
