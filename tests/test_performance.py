"""The performance reports: regenerated after every run, per project and across projects,
with numbers that are counts over the records, read by the next run's Researcher and
Strategist."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from factory_tui.ceo.run import Pipeline, RunOptions
from factory_tui.engine.models import ExperimentStatus
from factory_tui.engine.store import Store
from factory_tui.eval.factory_scorecard import Calibration
from factory_tui.eval.performance import project_kind

from .conftest import FIXABLE, TRAP


def run(root: Path, cycles: int = 1) -> Pipeline:
    pipeline = Pipeline.open(root, RunOptions(cycles=cycles))
    asyncio.run(pipeline.run())
    return pipeline


def counted(root: Path) -> dict:
    """What the records say, read whole and counted here, not by the report's queries."""
    experiments = Store(root).experiments()
    decided = [
        e for e in experiments if e.status in (ExperimentStatus.KEPT, ExperimentStatus.REVERTED)
    ]
    kept = [e for e in decided if e.status is ExperimentStatus.KEPT]
    by_category: dict[str, dict[str, int]] = {}
    for e in decided:
        rate = by_category.setdefault(e.hypothesis.category, {"kept": 0, "finished": 0})
        rate["finished"] += 1
        rate["kept"] += e.status is ExperimentStatus.KEPT
    calibration = sum((Calibration.of(e.hypothesis, e.measured) for e in decided), Calibration())
    return {
        "kept": len(kept),
        "reverted": len(decided) - len(kept),
        "cost": sum(e.cost_usd for e in experiments),
        "by_category": by_category,
        "calibration": calibration.model_dump(),
        "playbooks": {f"strategist@{e.playbooks['strategist']}" for e in decided},
    }


def test_the_report_across_two_projects_matches_their_records(make_repo) -> None:
    fixable, trap = make_repo(FIXABLE, name="fixable"), make_repo(TRAP, name="trap")
    run(fixable)
    run(trap)
    home = Path(os.environ["FACTORY_HOME"])
    cross = json.loads((home / "performance.json").read_text())
    assert sorted(p["name"] for p in cross["projects"]) == ["fixable", "trap"]
    for project in cross["projects"]:
        root = Path(project["path"])
        truth = counted(root)
        assert (project["kept"], project["reverted"]) == (truth["kept"], truth["reverted"])
        assert project["cost_usd"] == truth["cost"]
        assert project["by_category"] == truth["by_category"]
        assert project["calibration"] == truth["calibration"]
        assert truth["playbooks"] <= set(project["by_playbook"])
        assert project["kind"] == "python · small · tested"
        # The project's own report is the same numbers, written beside its records.
        own = json.loads((root / ".factory" / "performance.json").read_text())
        assert own["kept"] == project["kept"] and own["by_category"] == project["by_category"]
    by_name = {p["name"]: p for p in cross["projects"]}
    assert by_name["fixable"]["kept"] == 1 and by_name["trap"]["reverted"] == 1
    # The Strategist predicted a lint gain for the trap; the tests said otherwise.
    assert by_name["trap"]["calibration"]["predictions"] >= 2
    assert by_name["trap"]["calibration"]["gain_measured"] < 0
    markdown = (home / "performance.md").read_text()
    assert "| fixable | python · small · tested | 1 | 1 | 100% |" in markdown
    assert "| trap | python · small · tested | 0 | 1 | 0% |" in markdown
    assert "python · small · tested / lint" in markdown  # what works where


def test_the_next_runs_researcher_and_strategist_read_both_reports(make_repo) -> None:
    fixable, trap = make_repo(FIXABLE, name="fixable"), make_repo(TRAP, name="trap")
    run(fixable)
    pipeline = run(trap)
    context = pipeline.agents.context([])
    assert "# Factory performance: trap" in context.performance
    assert "# Factory performance across projects" in context.performance
    assert "| fixable |" in context.performance


def test_a_run_that_tried_nothing_writes_no_report(make_repo) -> None:
    root = make_repo({"README.md": "nothing to improve\n"})
    run(root)
    assert not (root / ".factory" / "performance.json").exists()


def test_the_kind_of_a_project_is_its_language_size_and_tests() -> None:
    assert project_kind(["a.py", "tests/test_a.py", "README.md"]) == "python · small · tested"
    assert project_kind([f"src/m{i}.go" for i in range(40)]) == "go · medium · untested"
    assert project_kind(["README.md"]) == "other · small · untested"
