"""Performance reports: how the factory does on a project, and across every project.

After each run the project's report is regenerated from its records, as JSON (for tools)
and markdown (for people and for the next run's Researcher and Strategist):
`.factory/performance.{json,md}`. Then the report across projects is regenerated in
`$FACTORY_HOME` from every registered project's JSON: keep rate by kind of change, by role
playbook version and by kind of project, the Strategist's calibration, and the cost per kept
experiment. Every number is a count over the records; nothing is estimated.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from factory_tui.engine.registry import Registry, factory_home
from factory_tui.engine.store import Store, write_atomic
from factory_tui.eval.factory_scorecard import Calibration
from factory_tui.eval.tools import is_test_file

REPORT = "performance"
# The Strategist's calibration is taken over its last this many predictions: what it is
# now, with the playbooks it has now (and a month of experiments costs no more to report).
CALIBRATION_WINDOW = 1_000
# Of each report, what the Researcher and Strategist read (the markdown's head).
AGENT_CHARS = 4_000
LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".rb": "ruby",
    ".c": "c",
    ".cpp": "c++",
}


class Rate(BaseModel):
    kept: int = 0
    finished: int = 0  # kept or reverted: the decided ones

    @property
    def keep_rate(self) -> float | None:
        return self.kept / self.finished if self.finished else None

    def __add__(self, other: Rate) -> Rate:
        return Rate(kept=self.kept + other.kept, finished=self.finished + other.finished)


class ProjectPerformance(BaseModel):
    name: str
    path: str = ""
    kind: str = ""  # "python · small · tested"
    generated_at: float = Field(default_factory=time.time)
    kept: int = 0
    reverted: int = 0
    aborted: int = 0
    cost_usd: float = 0.0
    by_category: dict[str, Rate] = Field(default_factory=dict)
    by_playbook: dict[str, Rate] = Field(default_factory=dict)  # "strategist@3f2a1bc"
    calibration: Calibration = Field(default_factory=Calibration)

    @property
    def rate(self) -> Rate:
        return Rate(kept=self.kept, finished=self.kept + self.reverted)

    @property
    def cost_per_kept(self) -> float | None:
        return self.cost_usd / self.kept if self.kept else None


class CrossProject(BaseModel):
    generated_at: float = Field(default_factory=time.time)
    projects: list[ProjectPerformance] = Field(default_factory=list)

    @property
    def rate(self) -> Rate:
        return sum((p.rate for p in self.projects), Rate())

    @property
    def cost_usd(self) -> float:
        return sum(p.cost_usd for p in self.projects)

    @property
    def calibration(self) -> Calibration:
        return sum((p.calibration for p in self.projects), Calibration())

    def by_category(self) -> dict[str, Rate]:
        return _summed(p.by_category for p in self.projects)

    def by_playbook(self) -> dict[str, Rate]:
        return _summed(p.by_playbook for p in self.projects)

    def by_kind(self) -> dict[tuple[str, str], Rate]:
        """Keep rate by (kind of project, kind of change): what works where."""
        found: dict[tuple[str, str], Rate] = {}
        for project in self.projects:
            for category, rate in project.by_category.items():
                key = (project.kind, category)
                found[key] = found.get(key, Rate()) + rate
        return found


def _summed(tables: Iterable[dict[str, Rate]]) -> dict[str, Rate]:
    found: dict[str, Rate] = {}
    for table in tables:
        for key, rate in table.items():
            found[key] = found.get(key, Rate()) + rate
    return found


# -- one project ------------------------------------------------------------------------------
def project_kind(files: Iterable[str]) -> str:
    """What kind of project the tracked files make: its main language, its size, whether
    it has tests."""
    paths = list(files)
    languages = Counter(
        LANGUAGES[suffix] for path in paths if (suffix := Path(path).suffix) in LANGUAGES
    )
    sources = sum(languages.values())
    language = languages.most_common(1)[0][0] if languages else "other"
    size = "small" if sources < 30 else "medium" if sources < 300 else "large"
    tested = "tested" if any(is_test_file(path) for path in paths) else "untested"
    return f"{language} · {size} · {tested}"


def project_performance(store: Store, name: str, path: str, kind: str) -> ProjectPerformance:
    """The project's numbers, counted by the database over every finished experiment."""
    report = ProjectPerformance(name=name, path=path, kind=kind)
    for status, category, count, cost in store.outcome_counts():
        report.cost_usd += cost
        setattr(report, status, getattr(report, status) + count)
        if status != "aborted":
            rate = report.by_category.setdefault(category or "general", Rate())
            rate.finished += count
            rate.kept += count if status == "kept" else 0
    for status, versions, count in store.playbook_counts():
        for role, version in sorted(versions.items()):
            rate = report.by_playbook.setdefault(f"{role}@{version}", Rate())
            rate.finished += count
            rate.kept += count if status == "kept" else 0
    report.calibration = Calibration.over(store.predictions(CALIBRATION_WINDOW))
    return report


# -- writing and reading ----------------------------------------------------------------------
def write_reports(
    store: Store, name: str, kind: str, home: Path | None = None
) -> tuple[ProjectPerformance, CrossProject]:
    """Regenerate this project's report, then the one across every registered project."""
    project = project_performance(store, name, str(store.project), kind)
    write_atomic(store.root / f"{REPORT}.json", project.model_dump_json(indent=2))
    write_atomic(store.root / f"{REPORT}.md", render_project(project))
    registry = Registry(home)
    cross = CrossProject()
    for entry in registry.projects():
        if Path(entry.path) == store.project.resolve():
            cross.projects.append(project)
            continue
        try:
            found = ProjectPerformance.model_validate_json(
                (Path(entry.path) / ".factory" / f"{REPORT}.json").read_bytes()
            )
        except (OSError, ValidationError):
            continue  # never run to its end, or gone: nothing to count
        cross.projects.append(found)
    if project not in cross.projects:  # run without the registry (a test's own home)
        cross.projects.append(project)
    with registry.locked():
        write_atomic(registry.home / f"{REPORT}.json", cross.model_dump_json(indent=2))
        write_atomic(registry.home / f"{REPORT}.md", render_cross(cross))
    return project, cross


def reading_for_agents(factory_dir: Path, home: Path | None = None) -> str:
    """What the Researcher and Strategist read of the reports: this project's, then the
    one across projects, each cut to its head."""
    parts = []
    for path in (factory_dir / f"{REPORT}.md", (home or factory_home()) / f"{REPORT}.md"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text if len(text) <= AGENT_CHARS else text[:AGENT_CHARS] + "\n…")
    return "\n\n".join(parts)


# -- markdown ---------------------------------------------------------------------------------
def _percent(rate: Rate) -> str:
    value = rate.keep_rate
    return "n/a" if value is None else f"{value:.0%}"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.2f}"


def _rate_table(title: str, head: str, rows: dict[str, Rate]) -> list[str]:
    if not rows:
        return []
    lines = ["", f"## {title}", "", f"| {head} | kept | decided | keep rate |", "|---|---|---|---|"]
    ordered = sorted(rows.items(), key=lambda item: (-item[1].finished, item[0]))
    lines += [f"| {key} | {r.kept} | {r.finished} | {_percent(r)} |" for key, r in ordered]
    return lines


def render_project(report: ProjectPerformance) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.generated_at))
    rate = report.rate
    lines = [
        f"# Factory performance: {report.name}",
        "",
        f"{report.kind or 'unknown kind'} · regenerated {when}",
        "",
        f"- experiments: {rate.finished} decided ({report.kept} kept, {report.reverted} "
        f"reverted), {report.aborted} aborted; keep rate {_percent(rate)}",
        f"- cost: {_money(report.cost_usd)} in all, {_money(report.cost_per_kept)} per kept "
        "experiment",
        f"- Strategist calibration (its last {CALIBRATION_WINDOW:,} predictions at most): "
        f"{report.calibration.describe()}",
    ]
    lines += _rate_table("Keep rate by kind of change", "kind of change", report.by_category)
    lines += _rate_table("Keep rate by playbook version", "role@version", report.by_playbook)
    return "\n".join(lines) + "\n"


def render_cross(cross: CrossProject) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(cross.generated_at))
    rate = cross.rate
    kept = sum(p.kept for p in cross.projects)
    lines = [
        "# Factory performance across projects",
        "",
        f"{len(cross.projects)} project(s) · regenerated {when}",
        "",
        f"- experiments: {rate.finished} decided, {kept} kept; keep rate {_percent(rate)}",
        f"- cost: {_money(cross.cost_usd)} in all, "
        f"{_money(cross.cost_usd / kept if kept else None)} per kept experiment",
        f"- Strategist calibration: {cross.calibration.describe()}",
        "",
        "## Projects",
        "",
        "| project | kind | kept | decided | keep rate | cost per kept | predictions right |",
        "|---|---|---|---|---|---|---|",
    ]
    for project in sorted(cross.projects, key=lambda p: p.name):
        calibration = project.calibration
        right = (
            f"{calibration.direction_hits}/{calibration.predictions}"
            if calibration.predictions
            else "n/a"
        )
        lines.append(
            f"| {project.name} | {project.kind} | {project.kept} | {project.rate.finished} | "
            f"{_percent(project.rate)} | {_money(project.cost_per_kept)} | {right} |"
        )
    lines += _rate_table(
        "What works where: keep rate by kind of project and of change",
        "kind of project / kind of change",
        {f"{kind} / {category}": r for (kind, category), r in cross.by_kind().items()},
    )
    lines += _rate_table("Keep rate by kind of change", "kind of change", cross.by_category())
    lines += _rate_table("Keep rate by playbook version", "role@version", cross.by_playbook())
    return "\n".join(lines) + "\n"
