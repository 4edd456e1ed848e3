"""Research mode on a real project: monotonic keeps, leakage guards at every gate, fixed
surfaces kept from the agents, and a full offline run that improves the metric."""

from __future__ import annotations

import sys
from pathlib import Path

import git
import pytest

from factory_tui.ceo.decide import research_precheck
from factory_tui.ceo.policy import metric_value
from factory_tui.engine.config import EvalConfig, MetricConfig
from factory_tui.engine.models import DimensionScore, Scorecard
from factory_tui.engine.store import Store
from factory_tui.eval.diffs import added_text
from factory_tui.eval.leakage import GroundTruth, assess

from .conftest import SCRIPTED_AGENT, run_factory, sandbox_usable, write_files
from .support.research_project import POSITIVE, research_config, research_files


@pytest.fixture
def research_repo(make_repo) -> Path:
    root = make_repo(research_files())
    research_config(root)
    return root


def metrics(root: Path) -> list[tuple[str, float | None, str]]:
    return [(e.id, metric_value(e.after), e.status.value) for e in Store(root).experiments()]


def test_a_full_offline_research_run_improves_the_metric(research_repo) -> None:
    result = run_factory(
        "ceo", str(research_repo), "--mode", "research", "--headless", "--cycles", "4", "-q"
    )
    assert result.returncode == 0, result.stderr
    experiments = Store(research_repo).experiments()
    first_baseline = metric_value(experiments[0].before)
    assert first_baseline == 0.5
    kept = [metric_value(e.after) for e in experiments if e.status == "kept"]
    assert kept and kept == sorted(kept)  # monotonic: every keep is at least the best so far
    assert max(kept) > first_baseline + 0.3
    assert "THRESHOLD = 0.4" not in (research_repo / "sentiment.py").read_text()
    # What the agents were told of the failures is counts by kind, never the cases.
    analyst = Store(research_repo).agent_log_path("exp-0001", "failure_analyst").read_text()
    assert "10 expected positive, got negative" in analyst


def test_the_fixed_surfaces_never_reach_an_agent(research_repo) -> None:
    run_factory(
        "ceo", str(research_repo), "--mode", "research", "--headless", "--cycles", "2", "-q"
    )
    worktrees = research_repo / ".factory" / "worktrees"
    assert not (worktrees / "slot-1" / "data" / "holdout.jsonl").exists()
    assert not (worktrees / "slot-1" / "eval" / "score.py").exists()
    assert (worktrees / "eval-1" / "data" / "holdout.jsonl").exists()
    assert git.Repo(worktrees / "slot-1").git.status("--porcelain") == ""
    events = (research_repo / ".factory" / "events.jsonl").read_text()
    logs = "".join(p.read_text() for p in (research_repo / ".factory").rglob("*.log"))
    for sentence in POSITIVE[:3]:
        assert sentence not in events and sentence not in logs
    assert "cinematography" not in events


def test_a_change_worse_than_the_best_so_far_is_reverted(research_repo) -> None:
    for request in ("Set THRESHOLD in sentiment.py to 0.1", "Set THRESHOLD in sentiment.py to 0.2"):
        Store(research_repo).add_message(request)
        run_factory("ceo", str(research_repo), "--mode", "research", "--headless", "-q")
    better, worse = Store(research_repo).experiments()
    assert (better.status, metric_value(better.after)) == ("kept", 1.0)
    assert worse.hypothesis.title == "Set THRESHOLD in sentiment.py to 0.2"
    assert worse.status == "reverted" and metric_value(worse.after) < 1.0
    assert "metric at least the best so far failed" in worse.verdict.reason
    assert "THRESHOLD = 0.1" in (research_repo / "sentiment.py").read_text()


def test_gate_one_redirects_a_hypothesis_carrying_ground_truth_values(research_repo) -> None:
    Store(research_repo).add_message("Set THRESHOLD in sentiment.py to 0.8731")
    result = run_factory("ceo", str(research_repo), "--mode", "research", "--headless", "-q")
    assert result.returncode == 0, result.stderr
    assert "hypothesis redirected, medium leakage risk" in result.stdout
    assert "0.8731" in result.stdout
    [experiment] = Store(research_repo).experiments()
    assert experiment.hypothesis.title != "Set THRESHOLD in sentiment.py to 0.8731"


def test_gate_two_reverts_a_diff_that_copies_the_ground_truth(research_repo) -> None:
    research_config(
        research_repo,
        extra=f'\n[agents]\ncommand = "{sys.executable} {SCRIPTED_AGENT} {{role}}"\n',
    )
    config = research_repo / ".factory" / "config.toml"
    off = "" if sandbox_usable() else 'sandbox = "off"\n'
    config.write_text('runtime = "command"\n' + off + config.read_text())  # top-level first
    leak = f'KNOWN = {{"{POSITIVE[0]}": "positive", "{POSITIVE[1]}": "positive"}}\n'
    result = run_factory(
        "ceo",
        str(research_repo),
        "--mode",
        "research",
        "--headless",
        "-q",
        env={"SCRIPTED_AGENT": "builder=leak", "SCRIPTED_CONTENT": leak},
    )
    assert result.returncode == 0, result.stderr
    [experiment] = Store(research_repo).experiments()
    assert experiment.status == "reverted"
    assert experiment.verdict.reason.startswith("no leakage failed (high leakage risk")
    assert git.Repo(research_repo).head.commit.message.strip() == "initial"


def test_research_mode_without_its_config_is_one_line_and_exit_2(make_repo) -> None:
    root = make_repo(research_files())
    result = run_factory("ceo", str(root), "--mode", "research", "--headless")
    assert result.returncode == 2
    assert "research mode needs a [research] table" in result.stderr.strip()


# -- the leakage assessment itself ----------------------------------------------------------------
@pytest.fixture
def truth(tmp_path: Path) -> GroundTruth:
    write_files(tmp_path, research_files())
    return GroundTruth.read(tmp_path, ["data/", "eval/"])


def test_ground_truth_words_are_the_ones_only_the_fixed_surfaces_hold(truth) -> None:
    assert {"cinematography", "marvelous", "soundtrack"} <= truth.tokens
    assert "threshold" not in truth.tokens and "good" not in truth.tokens  # in the code too
    assert "0.8731" in truth.values and POSITIVE[0] in truth.values


def test_each_leak_is_assessed_at_its_level(truth) -> None:
    assert assess("Lower THRESHOLD in sentiment.py to 0.2", truth).level == "none"
    assert assess("Treat marvelous as a positive word", truth).level == "low"
    assert assess("Treat marvelous and soundtrack as positive", truth).level == "medium"
    assert assess("Add marvelous, soundtrack and cinematography", truth).level == "high"
    assert assess("Set THRESHOLD to 0.8731", truth).level == "medium"
    negation = assess('if "cinematography" not in text: return "negative"', truth)
    assert negation.level == "high" and "negation" in negation.describe()
    diff = f'+++ b/x.py\n+CASES = ["{POSITIVE[2]}", "{POSITIVE[3]}"]\n-old = 1\n'
    assert assess(added_text(diff), truth).level == "high"


def test_the_research_precheck_is_monotonic() -> None:
    def card(value: float, failing: int = 0) -> Scorecard:
        dims = [
            DimensionScore(name="metric", tier="project", score=value, raw={"value": value}),
            DimensionScore(
                name="tests",
                tier="hygiene",
                score=1.0,
                raw={"passed": 5 - failing, "failed": failing},
            ),
        ]
        return Scorecard(tree="t", dimensions=dims, composite=value)

    def settings(direction: str = "higher") -> EvalConfig:
        return EvalConfig(metrics={"metric": MetricConfig(command="x", direction=direction)})

    def failed(before, after, best):
        checks = research_precheck(before, after, None, settings(), best, "higher", "metric")
        return [c.name for c in checks if not c.ok]

    assert failed(card(0.6), card(0.7), best=0.7) == []
    assert failed(card(0.6), card(0.65), best=0.7) == ["metric at least the best so far"]
    assert failed(card(0.7), card(0.7), best=0.7) == ["improves the project"]
    assert failed(card(0.6), card(0.8, failing=1), best=0.7) == ["tests not worse"]
    lower = research_precheck(
        card(0.3), card(0.2), None, settings("lower"), 0.25, "lower", "metric"
    )
    assert all(c.ok for c in lower)
