"""The eval on real small projects: each dimension on known inputs, the composite, the
cache, time limits, missing tools, every guard on a real diff, and the precheck."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from factory_tui.ceo.decide import precheck, recommend
from factory_tui.engine.config import DEFAULT_DIMENSION_WEIGHTS, EvalConfig, MetricConfig
from factory_tui.engine.models import (
    Check,
    DimensionScore,
    Experiment,
    ExperimentOutline,
    ExperimentStatus,
    Hypothesis,
    Review,
    Scorecard,
)
from factory_tui.engine.workspace import Workspace
from factory_tui.eval import growth, tools
from factory_tui.eval.code_scan import scan_code
from factory_tui.eval.composite import combine, what_if
from factory_tui.eval.detect import detect
from factory_tui.eval.evaluator import EvalRequest, Evaluator
from factory_tui.eval.factory_scorecard import factory_scorecard
from factory_tui.eval.guards import GuardInput, guard_test_counts, run_guards
from factory_tui.eval.hygiene import per_kloc_score
from factory_tui.eval.similarity import Target, similarity, similarity_check, standing

from .conftest import RUFF_CONFIG, commit_all, write_files


def evaluate(
    root: Path,
    config: EvalConfig | None = None,
    state: Path | None = None,
    tree: str = "tree",
    request: EvalRequest | None = None,
) -> Scorecard:
    evaluator = Evaluator(config or EvalConfig(), state, sys.executable)
    return asyncio.run(evaluator.evaluate(root, tree, request=request))


def project(tmp_path: Path, files: dict[str, str], name: str = "project") -> Path:
    root = tmp_path / name
    root.mkdir()
    write_files(root, files)
    return root


# -- hygiene --------------------------------------------------------------------------------
def test_tests_score_the_pass_rate_and_coverage_the_covered_lines(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "pyproject.toml": RUFF_CONFIG,
            "calc.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n",
            "tests/test_calc.py": (
                "from calc import f\n\n\ndef test_f():\n    assert f() == 1\n\n\n"
                "def test_fails():\n    assert f() == 2\n\n\ndef test_also():\n    assert f()\n"
            ),
        },
    )
    card = evaluate(root)
    tests = card.dimension("tests")
    assert tests.score == pytest.approx(2 / 3)
    assert tests.reason.startswith("2/3 passed in the factory's environment")
    assert (tests.raw["collected"], tests.raw["passed"], tests.raw["failed"]) == (3, 2, 1)
    coverage = card.dimension("coverage")
    assert coverage.score == pytest.approx(0.75)  # 3 of calc.py's 4 statements ran
    assert coverage.raw == {"percent": 75.0, "statements": 4, "covered": 3, "missed": 1}
    assert coverage.reason == "75.0% of lines covered (3 of 4 statements)"


def test_a_project_without_tests_scores_zero(tmp_path) -> None:
    root = project(tmp_path, {"pyproject.toml": RUFF_CONFIG, "calc.py": "X = 1\n"})
    tests = evaluate(root).dimension("tests")
    assert tests.score == 0.0 and tests.reason == "no tests found"


def test_lint_counts_unformatted_files_only_where_the_project_formats(tmp_path) -> None:
    files = {"a.py": "import os\n\n\ndef f():\n    return 1\n", "b.py": "x=1\n"}
    plain = project(tmp_path, {"pyproject.toml": RUFF_CONFIG, **files}, "plain")
    lint = evaluate(plain).dimension("lint")
    assert lint.raw == {"violations": 1, "unformatted": 1, "formatter": False, "lines": 6}
    assert lint.score == pytest.approx(per_kloc_score(1, 6))
    assert "formatting not counted" in lint.reason
    formatted = project(
        tmp_path,
        {"pyproject.toml": RUFF_CONFIG + "[tool.ruff.format]\nquote-style = 'double'\n", **files},
        "formatted",
    )
    lint = evaluate(formatted).dimension("lint")
    assert lint.raw == {"violations": 1, "unformatted": 1, "formatter": True, "lines": 6}
    assert lint.score == pytest.approx(per_kloc_score(2, 6))
    assert per_kloc_score(0, 100) == 1.0 and per_kloc_score(25, 1000) == 0.5


def test_lint_counts_what_the_projects_own_ruff_check_counts(tmp_path) -> None:
    """Its own selection as its own `ruff check` reports it; without one, ruff's classic
    default rules, never the 400 that ruff 0.16 turned on, nor a parent folder's config."""
    source = {
        "pkg/__init__.py": "",
        "pkg/core.py": (
            "import os\nimport sys\n\n\nclass A(object):\n    def f(self, x):\n"
            "        return x == None\n"
        ),
    }
    # A parent folder's configuration must not leak into a project without one.
    (tmp_path / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["ALL"]\n')
    bare = project(tmp_path, source, "bare")
    chosen = project(
        tmp_path,
        {"pyproject.toml": '[tool.ruff.lint]\nselect = ["E", "F", "UP"]\n', **source},
        "chosen",
    )
    extended = project(
        tmp_path,
        {
            "pyproject.toml": '[tool.ruff.lint]\nextend-select = ["UP"]\nignore = ["F401"]\n',
            **source,
        },
        "extended",
    )
    # What each project's own `ruff check` reports (with ruff's classic defaults where it
    # relies on ruff's default selection, as every ruff before 0.16 ran).
    classic = ["--select", "E4,E7,E9,F"]
    for root, flags, expected in (
        (bare, ["--isolated", *classic], 3),
        (chosen, [], 4),
        (extended, [*classic, "--extend-select", "UP", "--ignore", "F401"], 2),
    ):
        counted = evaluate(root).dimension("lint").raw["violations"]
        own = subprocess.run(
            [tools.ruff_binary(), "check", "--output-format", "json", "--no-cache", *flags],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert counted == len(json.loads(own.stdout)) == expected, root.name
    wider = EvalConfig.model_validate({"lint": {"extend_select": ["UP"]}})
    assert evaluate(bare, wider).dimension("lint").raw["violations"] == 4


def test_types_count_mypy_errors_when_the_project_uses_type_hints(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "pyproject.toml": RUFF_CONFIG + "\n[tool.mypy]\nstrict = false\n",
            "typed.py": (
                "def double(x: int) -> int:\n    return x * 2\n\n\nVALUE: str = double(2)\n"
            ),
        },
    )
    types = evaluate(root).dimension("types")
    assert types.raw["errors"] == 1
    assert types.score == pytest.approx(per_kloc_score(1, 5))
    assert "[tool.mypy]" in types.reason


def test_types_do_not_apply_without_hints_or_without_mypy(tmp_path, monkeypatch) -> None:
    untyped = project(
        tmp_path, {"pyproject.toml": RUFF_CONFIG, "a.py": "def f(x):\n    return x\n"}
    )
    assert "neither mypy nor type hints" in evaluate(untyped).dimension("types").reason
    typed = project(
        tmp_path,
        {"mypy.ini": "[mypy]\n", "a.py": "def f(x: int) -> int:\n    return x\n"},
        name="typed",
    )
    # An interpreter whose folder has no mypy, and no mypy on PATH: the tool is missing.
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(bare))
    card = asyncio.run(Evaluator(EvalConfig(), None, str(bare / "python")).evaluate(typed, "t"))
    assert card.dimension("types").score is None
    assert card.dimension("types").reason == "not applicable: mypy is not installed"


def test_config_lists_the_hygiene_files_that_are_missing(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "pyproject.toml": RUFF_CONFIG,
            "README.md": "# hi\n",
            ".gitignore": "*.pyc\n",
            "requirements.txt": "rich==14.0.0\n",
            "app.py": "X = 1\n",
        },
    )
    config = evaluate(root).dimension("config")
    assert config.score == pytest.approx(4 / 6)
    assert config.reason == "4/6 present; missing: tests, CI"


# -- growth ---------------------------------------------------------------------------------
def test_capability_counts_modules_functions_and_entry_points(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "x"\n[project.scripts]\nx = "pkg.cli:main"\n',
            "pkg/__init__.py": "",
            "pkg/cli.py": "def main():\n    pass\n\n\ndef _helper():\n    pass\n\n\n"
            "class Thing:\n    pass\n\n\nif __name__ == '__main__':\n    main()\n",
            "tests/test_cli.py": "def test_x():\n    pass\n",
        },
    )
    counts = scan_code(root).capability
    assert counts == {"modules": 2, "functions": 2, "entry_points": 2}
    assert growth.capability(counts, None).score == 0.5
    grown = {"modules": 4, "functions": 6, "entry_points": 2}
    assert growth.capability(grown, counts).score == pytest.approx(16 / (16 + 10))


def test_observability_reads_logging_and_error_handling(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "a.py": "import logging\n\nlog = logging.getLogger(__name__)\n\n\n"
            "def load(path):\n    try:\n        return open(path).read()\n"
            "    except OSError:\n        log.exception('no')\n    return ''\n",
            "b.py": "def plain(x):\n    y = x\n    z = y\n    return z\n",
        },
    )
    dimension = growth.observability(scan_code(root))
    assert dimension.raw == {
        "modules": 2,
        "logging_modules": 1,
        "functions": 2,
        "handling_errors": 1,
    }
    assert dimension.score == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)


def _experiment(
    number: int,
    category: str,
    status: str,
    before: float,
    after: float,
    rationale: str = "a finding backs this change up",
    expected_gain: float = 0.0,
    predicted: dict[str, float] | None = None,
) -> Experiment:
    card = lambda value: Scorecard(tree="t", dimensions=[], composite=value)  # noqa: E731
    return Experiment(
        id=f"exp-{number:04d}",
        branch="b",
        base_commit="c",
        hypothesis=Hypothesis(
            title=f"h{number}",
            category=category,
            rationale=rationale,
            expected_gain=expected_gain,
            predicted=predicted or {},
        ),
        status=ExperimentStatus(status),
        before=card(before),
        after=card(after),
    )


def test_the_factory_scorecard_reads_the_history_and_stays_out_of_the_score() -> None:
    history = [
        # the composite went up as predicted; lint was not measured, so that one missed
        _experiment(1, "lint", "kept", 0.50, 0.55, expected_gain=0.02, predicted={"lint": 0.1}),
        # predicted up, went down: both missed
        _experiment(2, "lint", "reverted", 0.55, 0.50, "hm", 0.03, {"lint": 0.2}),
        _experiment(3, "tests", "kept", 0.55, 0.60),
        _experiment(4, "style", "reverted", 0.60, 0.58),
    ]
    diversity, grounding, effectiveness, calibration = factory_scorecard(
        map(ExperimentOutline.of, history)
    )
    assert diversity.raw == {"distinct": 3, "experiments": 4}
    assert diversity.score == pytest.approx(3 / 4)
    assert grounding.score == 0.75  # experiment 2's rationale grounds nothing
    assert effectiveness.raw["kept"] == 2 and effectiveness.raw["gain"] == pytest.approx(0.10)
    assert effectiveness.score == pytest.approx(0.7 * 0.5 + 0.3 * 1.0)
    # experiments 3 and 4 predicted nothing, so only 1 and 2 are compared
    assert calibration.raw["predictions"] == 4
    assert calibration.raw["hits"] == 1
    assert calibration.score == pytest.approx(1 / 4)
    assert all(measure.score is None for measure in factory_scorecard([]))
    assert not {"diversity", "grounding", "research", "effectiveness"} & set(
        DEFAULT_DIMENSION_WEIGHTS
    )


# -- project metrics ------------------------------------------------------------------------
def _metric_project(tmp_path: Path) -> Path:
    return project(
        tmp_path,
        {
            "score.py": (
                "import json\nprint('warming up')\nprint(json.dumps({'result': {'acc': 0.8}}))\n"
            ),
            "latency.py": "print('p95 latency: 120 ms')\n",
            "check.py": "import sys\nsys.exit(1)\n",
            "slow.py": "import time\ntime.sleep(30)\n",
        },
    )


def test_project_metrics_parse_json_regex_and_exit_codes_and_normalise(tmp_path) -> None:
    root = _metric_project(tmp_path)
    python = sys.executable
    config = EvalConfig(
        metrics={
            "accuracy": MetricConfig(command=f"{python} score.py", key="result.acc", weight=2),
            "latency": MetricConfig(
                command=f"{python} latency.py",
                parse="regex",
                pattern=r"p95 latency: (\d+)",
                direction="lower",
                min=0,
                max=200,
            ),
            "smoke": MetricConfig(command=f"{python} check.py", parse="exit_code"),
            "slow": MetricConfig(command=f"{python} slow.py", timeout=1),
            "absent": MetricConfig(command="no-such-tool --run"),
        }
    )
    card = evaluate(root, config)
    accuracy, latency = card.dimension("accuracy"), card.dimension("latency")
    assert (accuracy.score, accuracy.raw["value"], accuracy.weight) == (0.8, 0.8, 2)
    assert latency.score == pytest.approx(0.4) and latency.raw["value"] == 120
    assert card.dimension("smoke").score == 0.0
    assert card.dimension("slow").score == 0.0
    assert card.dimension("slow").reason == "failed: timed out after 1s"
    absent = card.dimension("absent")
    assert absent.score is None and "no-such-tool is not installed" in absent.reason
    assert card.tier_weights["project"] == pytest.approx(0.5)


def test_the_composite_is_a_weighted_mean_per_tier_renormalised_over_what_applies() -> None:
    dimensions = [
        DimensionScore(name="tests", tier="hygiene", score=1.0, weight=3),
        DimensionScore(name="lint", tier="hygiene", score=0.5, weight=1),
        DimensionScore(name="types", tier="hygiene", score=None, weight=2),
        DimensionScore(name="capability", tier="growth", score=0.5, weight=1),
    ]
    tiers, shares, composite = combine(dimensions, EvalConfig())
    assert tiers == {"hygiene": pytest.approx(0.875), "growth": 0.5}
    assert shares == {"hygiene": 0.5, "growth": 0.5}
    assert composite == pytest.approx(0.6875)
    with_project = [*dimensions, DimensionScore(name="acc", tier="project", score=0.2)]
    config = EvalConfig(metrics={"acc": MetricConfig(command="x")})
    _, shares, composite = combine(with_project, config)
    assert shares == {"hygiene": 0.3, "growth": 0.2, "project": 0.5}
    assert composite == pytest.approx(0.3 * 0.875 + 0.2 * 0.5 + 0.5 * 0.2)
    card = Scorecard(
        tree="t",
        dimensions=dimensions,
        tiers=tiers,
        composite=0.6875,
        tier_weights={"hygiene": 0.5, "growth": 0.5},
    )
    assert what_if(card, {"lint": 1.0}) == pytest.approx(0.6875 + 0.5 * (1.0 - 0.875))


# -- cache, time limits, detection ----------------------------------------------------------
def test_an_unchanged_tree_is_served_from_the_cache_without_running_a_tool(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "pyproject.toml": RUFF_CONFIG,
            "a.py": "X = 1\n",
            "tests/test_a.py": "def test_a():\n    assert True\n",
        },
    )
    state = tmp_path / "state"
    first = evaluate(root, state=state, tree="abc")
    shutil.rmtree(root / "tests")  # a tool run now would find no tests
    second = evaluate(root, state=state, tree="abc")
    assert not first.cached and second.cached
    assert second.dimension("tests").score == 1.0
    assert evaluate(root, state=state, tree="def").dimension("tests").score == 0.0
    weights = EvalConfig(weights={"tests": 10})
    assert evaluate(root, weights, state=state, tree="abc").cached  # weights need no re-run


def test_a_dimension_past_its_time_limit_scores_zero_and_says_why(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "pyproject.toml": RUFF_CONFIG,
            "tests/test_slow.py": "import time\n\n\ndef test_slow():\n    time.sleep(30)\n",
        },
    )
    tests = evaluate(root, EvalConfig(timeout=2)).dimension("tests")
    assert tests.score == 0.0 and tests.reason.startswith("timed out after 2s")


def test_projects_are_detected_with_their_test_commands(tmp_path) -> None:
    node = project(tmp_path, {"package.json": '{"scripts": {"test": "node test.js"}}'}, "node")
    assert detect(node).test_command == ["npm", "test", "--silent"]
    empty_node = project(
        tmp_path,
        {
            "package.json": json.dumps(
                {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
            )
        },
        "empty",
    )
    assert detect(empty_node).test_command is None
    assert detect(project(tmp_path, {"go.mod": "module x\n"}, "go")).language == "go"
    assert detect(project(tmp_path, {"Cargo.toml": "[package]\n"}, "rust")).test_command[:2] == [
        "cargo",
        "test",
    ]
    assert detect(project(tmp_path, {"a.py": "X = 1\n"}, "py")).language == "python"
    assert detect(node, ["make", "check"]).test_command == ["make", "check"]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_a_node_project_is_scored_by_its_own_test_command(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "package.json": json.dumps(
                {"name": "x", "version": "1.0.0", "scripts": {"test": "node test.js"}}
            ),
            "test.js": "const assert = require('assert'); assert.strictEqual(1 + 1, 2);\n",
        },
    )
    card = evaluate(root)
    assert card.dimension("tests").score == 1.0
    assert card.dimension("lint").reason == "not applicable: no linter wired for node"
    assert card.dimension("coverage").score is None


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_a_rust_project_is_scored_per_test_from_cargo(tmp_path) -> None:
    root = project(
        tmp_path,
        {
            "Cargo.toml": '[package]\nname = "adder"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": "pub fn add(a: i32, b: i32) -> i32 { a + b }\n#[cfg(test)]\nmod tests {\n"
            "    #[test] fn adds() { assert_eq!(super::add(1, 2), 3); }\n"
            "    #[test] fn wrong() { assert_eq!(super::add(1, 2), 4); }\n}\n",
        },
    )
    tests = evaluate(root).dimension("tests")
    assert tests.raw["passed"] == 1 and tests.raw["failed"] == 1
    assert tests.score == 0.5


# -- guards on real diffs -------------------------------------------------------------------
_REPOS = itertools.count()
BASE = {
    "pyproject.toml": RUFF_CONFIG + '\n[tool.pytest.ini_options]\naddopts = "-q"\n',
    "app.py": "def f():\n    return 1\n",
    "eval/score.py": "print(1)\n",
    "tests/test_app.py": "from app import f\n\n\ndef test_f():\n    assert f() == 1\n"
    "    assert f() > 0\n",
}


def guard_checks(
    make_repo, change, config: EvalConfig | None = None, outside: list[str] | None = None
) -> dict[str, Check]:
    root = make_repo(BASE, name=f"project-{next(_REPOS)}")
    workspace = Workspace.open(root)
    base = workspace.base_commit()
    change(root)
    commit = commit_all(root, "experiment")
    guard = GuardInput(
        diff=workspace.diff(base, commit),
        worktree=root,
        config=config or EvalConfig(),
        read_base=lambda path: workspace.file_at(base, path),
        protected={"eval/score.py"},
        outside_changes=outside or [],
    )
    return {check.name.removeprefix("guard: "): check for check in run_guards(guard)}


def tripped(checks: dict[str, Check]) -> set[str]:
    return {name for name, check in checks.items() if not check.ok}


def test_no_guard_trips_on_an_honest_change(make_repo) -> None:
    def change(root):
        (root / "app.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 2\n")

    assert tripped(guard_checks(make_repo, change)) == set()


def test_guard_a_deleted_or_emptied_test_file(make_repo) -> None:
    assert "tests kept" in tripped(
        guard_checks(make_repo, lambda root: (root / "tests" / "test_app.py").unlink())
    )
    checks = guard_checks(make_repo, lambda root: (root / "tests" / "test_app.py").write_text(""))
    assert "tests kept" in tripped(checks)
    assert "emptied" in checks["tests kept"].detail


def test_guard_removed_assertions(make_repo) -> None:
    def weaken(root):
        (root / "tests" / "test_app.py").write_text(
            "from app import f\n\n\ndef test_f():\n    f()\n"
        )

    checks = guard_checks(make_repo, weaken)
    assert tripped(checks) == {"assertions kept", "base tests keep their meaning"}
    assert checks["assertions kept"].detail == "test assertions -2 +0"
    assert "test_f asserts something else" in checks["base tests keep their meaning"].detail


def test_guard_eval_configuration_and_metric_scripts(make_repo) -> None:
    def deselect(root):
        text = (root / "pyproject.toml").read_text().replace('"-q"', '"-q -k not_slow"')
        (root / "pyproject.toml").write_text(text)

    assert tripped(guard_checks(make_repo, deselect)) == {"eval files untouched"}
    assert tripped(
        guard_checks(
            make_repo, lambda root: (root / "eval" / "score.py").write_text("print(1.0)\n")
        )
    ) == {"eval files untouched"}
    assert tripped(
        guard_checks(make_repo, lambda root: (root / "pytest.ini").write_text("[pytest]\n"))
    ) == {"eval files untouched"}

    def version_bump(root):
        (root / "pyproject.toml").write_text(BASE["pyproject.toml"] + "\n# v2\n")

    assert tripped(guard_checks(make_repo, version_bump)) == set()


def test_guard_changes_outside_the_worktree(make_repo) -> None:
    def change(root):
        (root / "app.py").write_text("def f():\n    return 2\n")

    checks = guard_checks(make_repo, change, outside=["../notes.txt"])
    assert tripped(checks) == {"changes inside the worktree"}


def test_guard_secrets_added(make_repo) -> None:
    key = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"

    def leak(root):
        (root / "app.py").write_text(f'API_KEY = "{key}"\n\n\ndef f():\n    return 1\n')

    checks = guard_checks(make_repo, leak)
    assert tripped(checks) == {"no secrets added"}
    assert key not in checks["no secrets added"].detail


def test_guard_changes_outside_the_modifiable_paths(make_repo) -> None:
    def change(root):
        (root / "app.py").write_text("def f():\n    return 2\n")

    config = EvalConfig(modifiable=["src/", "tests/"])
    checks = guard_checks(make_repo, change, config)
    assert tripped(checks) == {"modifiable paths"} and "app.py" in checks["modifiable paths"].detail


def test_guard_fewer_tests_collected_or_more_skipped() -> None:
    before = DimensionScore(
        name="tests", tier="hygiene", score=1.0, raw={"collected": 10, "skipped": 0}
    )
    fewer = before.model_copy(update={"raw": {"collected": 8, "skipped": 0}})
    skipped = before.model_copy(update={"raw": {"collected": 10, "skipped": 2}})
    assert not guard_test_counts(before, fewer).ok and not guard_test_counts(before, skipped).ok
    assert guard_test_counts(before, before).ok


# -- precheck -------------------------------------------------------------------------------
def card(composite: float, **raw: dict) -> Scorecard:
    """A scorecard whose dimensions hold these raw counts (the score is not what decides)."""
    dimensions = [
        DimensionScore(name=name, tier="hygiene", score=0.5, raw=counts)
        for name, counts in raw.items()
    ]
    return Scorecard(tree="t", dimensions=dimensions, composite=composite)


def failed(checks: list[Check]) -> list[str]:
    return [check.name for check in checks if not check.ok]


TESTS = {"passed": 10, "failed": 0, "errors": 0}


def test_one_fewer_violation_is_kept_and_any_dimension_worse_is_reverted() -> None:
    approve = Review(verdict="approve", summary="fine")
    settings = EvalConfig()
    before = card(0.50, tests=TESTS, lint={"violations": 16}, types={"errors": 2})
    one_fewer = card(0.5001, tests=TESTS, lint={"violations": 15}, types={"errors": 2})
    checks = precheck(before, one_fewer, approve, settings)
    assert recommend(checks).decision == "keep"
    assert "lint: violations 16 -> 15" in recommend(checks).reason
    same = precheck(before, before, approve, settings)
    assert failed(same) == ["improves the project"]
    traded = card(0.9, tests=TESTS, lint={"violations": 0}, types={"errors": 3})
    assert failed(precheck(before, traded, approve, settings)) == ["types not worse"]
    broken = card(0.9, tests={**TESTS, "passed": 9, "failed": 1}, lint={"violations": 0})
    assert "tests not worse" in failed(precheck(before, broken, approve, settings))
    rejected = precheck(before, one_fewer, Review(verdict="reject", summary="no"), settings)
    assert failed(rejected) == ["review"]
    guard = Check(name="guard: tests kept", ok=False, detail="tests/x.py deleted")
    guarded = precheck(before, one_fewer, approve, settings, [guard])
    assert "tests/x.py deleted" in recommend(guarded).reason
    # A min_delta above 0 asks the headline composite to rise too.
    strict = precheck(before, one_fewer, approve, EvalConfig(min_delta=0.005))
    assert failed(strict) == ["composite gain"]


def test_counts_decide_not_ratios_deleting_or_padding_lines_is_no_improvement() -> None:
    approve = Review(verdict="approve")
    before = card(
        0.5,
        lint={"violations": 4, "lines": 1000},
        coverage={"covered": 80, "missed": 20},
    )
    # Dead, uncovered code deleted: the share covered and violations per line improve,
    # the counts do not.
    deleted = card(
        0.6,
        lint={"violations": 4, "lines": 600},
        coverage={"covered": 80, "missed": 0},
    )
    assert failed(precheck(before, deleted, approve, EvalConfig())) == ["improves the project"]
    # Padding with clean code lowers violations per line: no improvement either.
    padded = card(
        0.6, lint={"violations": 4, "lines": 5000}, coverage={"covered": 80, "missed": 20}
    )
    assert failed(precheck(before, padded, approve, EvalConfig())) == ["improves the project"]
    tested = card(0.6, lint={"violations": 4}, coverage={"covered": 90, "missed": 10})
    assert failed(precheck(before, tested, approve, EvalConfig())) == []
    untested = card(0.6, lint={"violations": 3}, coverage={"covered": 82, "missed": 25})
    assert failed(precheck(before, untested, approve, EvalConfig())) == ["coverage not worse"]


def test_unformatted_files_count_where_the_base_uses_a_formatter() -> None:
    before = card(0.5, lint={"violations": 2, "unformatted": 3, "formatter": True})
    fixed = card(0.5, lint={"violations": 2, "unformatted": 0, "formatter": True})
    escaped = card(0.5, lint={"violations": 1, "unformatted": 9, "formatter": False})
    assert failed(precheck(before, fixed, None, EvalConfig())) == []
    assert "lint not worse" in failed(precheck(before, escaped, None, EvalConfig()))
    plain = card(0.5, lint={"violations": 2, "unformatted": 3, "formatter": False})
    reformatted = card(0.5, lint={"violations": 2, "unformatted": 0, "formatter": False})
    assert failed(precheck(plain, reformatted, None, EvalConfig())) == ["improves the project"]


def _experiment_with(number: int, title: str, status: str, files: list[str]) -> Experiment:
    return Experiment(
        id=f"exp-{number:04d}",
        branch="b",
        base_commit="c",
        hypothesis=Hypothesis(title=title, category="lint", files=files),
        status=ExperimentStatus(status),
        files_changed=files,
    )


def test_hypotheses_are_alike_by_what_they_change_not_by_their_words() -> None:
    ruf100 = Target.of(
        Hypothesis(
            title="Apply ruff's safe fixes for rule RUF100 in pkg/a.py",
            category="lint",
            files=["pkg/a.py"],
        )
    )

    def lint_fix(rule: str, files: list[str]) -> Target:
        title = f"Apply ruff's safe fixes for rule {rule} in {files[0]}"
        return Target.of(Hypothesis(title=title, category="lint", files=files))

    # Word for word almost the same title, but another rule: a different idea.
    for rule in ("F401", "I001", "UP031", "B004", "C417"):
        assert similarity(ruf100, lint_fix(rule, ["pkg/a.py"])) == 0.0
    assert not similarity_check(lint_fix("RUF100", ["pkg/a.py"]), [ruf100], 0.6).ok
    assert similarity_check(lint_fix("RUF100", ["pkg/b.py"]), [ruf100], 0.6).ok
    assert similarity_check(lint_fix("F401", ["pkg/a.py"]), [ruf100], 0.6).ok
    # The files the diff touched count: the same rule, touching the same files.
    touched = Target.of(
        lint_fix("RUF100", ["pkg/b.py"]).__class__.of(
            Hypothesis(title="Apply ruff's safe fixes for rule RUF100", category="lint"),
            ["pkg/a.py"],
        )
    )
    assert not similarity_check(touched, [ruf100], 0.6).ok
    assert similarity_check(lint_fix("E712", ["pkg/a.py"]), [], 0.6).ok


def test_a_reverted_idea_may_be_tried_again_once_a_kept_change_touched_its_files() -> None:
    reverted = _experiment_with(1, "Fix E712 in a.py", "reverted", ["a.py"])
    elsewhere = _experiment_with(2, "Fix F401 in b.py", "kept", ["b.py"])
    assert reverted in standing([reverted, elsewhere])
    touching = _experiment_with(3, "Format a.py", "kept", ["a.py", "c.py"])
    assert reverted not in standing([reverted, elsewhere, touching])
    earlier = _experiment_with(0, "Format a.py first", "kept", ["a.py"])
    assert reverted in standing([earlier, reverted])  # a keep before it changes nothing


def test_a_failing_smoke_command_reverts_an_otherwise_good_experiment(make_repo) -> None:
    from factory_tui.ceo.run import Pipeline, RunOptions
    from factory_tui.engine.store import Store

    from .conftest import FIXABLE

    root = make_repo(FIXABLE)
    (root / ".factory").mkdir()
    (root / ".factory" / "config.toml").write_text(
        f"[eval]\nsmoke_command = \"{sys.executable} -c 'raise SystemExit(3)'\"\n"
    )
    asyncio.run(Pipeline.open(root, RunOptions(cycles=1)).run())
    [experiment] = Store(root).experiments()
    assert experiment.status == "reverted"
    smoke = next(c for c in experiment.verdict.checks if c.name == "smoke command")
    assert not smoke.ok and "exit 3" in smoke.detail
    assert git.Repo(root).head.commit.message.strip() == "initial"
