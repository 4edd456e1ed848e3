"""Verdicts a user can trust, end to end on generated projects: every real improvement kept,
churn and noise reverted, the same tree scored the same way every time, plateaus ended."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from factory_tui.ceo.run import Pipeline, RunOptions
from factory_tui.cli import build_parser
from factory_tui.engine.events import read_events
from factory_tui.engine.store import Store
from factory_tui.eval import tools

from .conftest import TRAP, run_factory, scripted_config

# A small package with dense lint under its own selection, and three passing tests.
DENSE = {
    "pyproject.toml": """
        [project]
        name = "shop"
        version = "0.1.0"

        [tool.ruff.lint]
        select = ["E", "F", "W", "I", "UP"]
        """,
    "shop/__init__.py": "",
    "shop/cart.py": """
        import sys, os
        from typing import List, Optional, Dict
        import json


        class Item(object):
            def __init__(self, name: str, price: float, qty: int = 1):
                self.name = name
                self.price = price
                self.qty = qty

            def total(self) -> float:
                return self.price * self.qty


        class Cart(object):
            def __init__(self):
                self.items: List[Item] = []

            def add(self, item: Item) -> None:
                self.items.append(item)

            def find(self, name: str) -> Optional[Item]:
                for item in self.items:
                    if item.name == name:
                        return item
                return None

            def total(self) -> float:
                return sum([item.total() for item in self.items])

            def summary(self) -> Dict[str, float]:
                label = f"total"
                return {label: self.total(), "count": float(len(self.items))}
        """,
    "shop/receipt.py": """
        from shop.cart import Cart
        import os


        def receipt(cart: Cart) -> str:
            lines = []
            for item in cart.items:
                lines.append("%s x%d: %.2f" % (item.name, item.qty, item.total()))
            lines.append(f"TOTAL")
            return "\\n".join(lines)
        """,
    "tests/test_cart.py": """
        from shop.cart import Cart, Item
        from shop.receipt import receipt


        def test_total():
            cart = Cart()
            cart.add(Item("tea", 2.5, 2))
            cart.add(Item("cake", 3.0))
            assert cart.total() == 8.0


        def test_find():
            cart = Cart()
            cart.add(Item("tea", 2.5))
            assert cart.find("tea").price == 2.5
            assert cart.find("milk") is None


        def test_receipt():
            cart = Cart()
            cart.add(Item("tea", 2.5, 2))
            assert receipt(cart).splitlines()[0] == "tea x2: 5.00"
        """,
}

# A package with no ruff configuration at all, flake8-style code, passing tests.
UNCONFIGURED = {
    "pyproject.toml": '[project]\nname = "units"\nversion = "1.0"\n',
    "units/__init__.py": "from units.convert import *\n",
    "units/convert.py": """
        import math
        import re


        FACTORS = {"km": 1000.0, "m": 1.0, "cm": 0.01}


        def to_metres(value, unit):
            if unit == None:
                return value
            return value * FACTORS[unit]


        def parse(text):
            number, unit = text.split()
            return to_metres(float(number), unit)
        """,
    "tests/test_convert.py": """
        from units.convert import parse, to_metres


        def test_parse():
            assert parse("2 km") == 2000.0


        def test_no_unit():
            assert to_metres(3, None) == 3
        """,
}


def own_ruff(root: Path, *flags: str) -> list[dict]:
    """What the project's own `ruff check` reports."""
    result = subprocess.run(
        [tools.ruff_binary(), "check", "--output-format", "json", "--no-cache", *flags],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def own_pytest(root: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
    )


def run(root: Path, cycles: int = 1, **options) -> tuple[Pipeline, object]:
    pipeline = Pipeline.open(root, RunOptions(cycles=cycles, **options))
    return pipeline, asyncio.run(pipeline.run())


# -- every real improvement kept ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "flags"),
    [
        (None, ()),
        (DENSE, ()),
        (UNCONFIGURED, ("--isolated", "--select", "E4,E7,E9,F")),
    ],
    ids=["bundled-example", "own-ruff-config", "no-ruff-config"],
)
def test_five_offline_cycles_keep_every_safe_fix(request, make_repo, files, flags) -> None:
    root = make_repo(files) if files else request.getfixturevalue("example_repo")
    before = own_ruff(root, *flags)
    assert any(v["fix"] and v["fix"]["applicability"] == "safe" for v in before)
    result = run_factory("ceo", str(root), "--headless", "--cycles", "5", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    after = own_ruff(root, *flags)
    assert len(after) < len(before)
    assert not [v for v in after if v["fix"] and v["fix"]["applicability"] == "safe"]
    experiments = Store(root).experiments()
    safe = [e for e in experiments if "ruff's safe fixes" in e.hypothesis.title]
    assert safe and all(e.status == "kept" for e in safe)
    assert own_pytest(root).returncode == 0


def test_one_fewer_violation_is_kept(make_repo) -> None:
    root = make_repo(
        {
            "pyproject.toml": '[tool.ruff.lint]\nselect = ["F"]\n',
            # A big, clean module: one violation among 400 lines moves the composite by
            # less than the old fixed threshold ever allowed.
            "pkg/__init__.py": "",
            "pkg/big.py": "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(500)),
            "pkg/one.py": "import os\n\n\ndef g():\n    return 1\n",
            "tests/test_one.py": "from pkg.one import g\n\n\ndef test_g():\n    assert g() == 1\n",
            "tests/test_big.py": "from pkg import big\n\n\ndef test_big():\n    assert big.f1()\n",
        }
    )
    run(root)
    [experiment] = Store(root).experiments()
    assert experiment.status == "kept", experiment.verdict.reason
    assert experiment.after.composite - experiment.before.composite < 0.005
    assert "lint: violations 1 -> 0" in experiment.verdict.reason


# -- the same tree, the same score ----------------------------------------------------------
def test_the_same_tree_scores_the_same_after_ten_experiments(make_repo) -> None:
    root = make_repo({**TRAP, "notes/.keep": ""})
    first = git.Repo(root).head.commit.hexsha
    scripted_config(root, "[run]\nplateau = 20\n")
    env = {"SCRIPTED_AGENT": "strategist=fresh", "SCRIPTED_FILES": json.dumps({"notes/n.txt": "x"})}
    result = run_factory("ceo", str(root), "--headless", "--cycles", "10", "-q", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    experiments = Store(root).experiments()
    assert len(experiments) == 10
    baselines = {e.before.composite for e in experiments}
    assert len(baselines) == 1  # one tree, one score, whatever the history
    scored = run_factory("eval", str(root), "--rev", first, "--json")
    assert json.loads(scored.stdout)["composite"] == experiments[0].before.composite
    shutil.rmtree(root / ".factory" / "cache")  # measured again from scratch
    cold = json.loads(run_factory("eval", str(root), "--rev", first, "--json").stdout)
    assert not cold["cached"] and cold["composite"] == experiments[0].before.composite
    bad = run_factory("eval", str(root), "--rev", "no-such-tag")
    assert bad.returncode == 2 and "no commit named 'no-such-tag'" in bad.stderr


def test_one_before_per_experiment(make_repo) -> None:
    """The baseline printed at the start of a cycle is the before of the verdict, of the
    record, of `factory status`."""
    root = make_repo(TRAP)
    result = run_factory("ceo", str(root), "--headless", "--cycles", "1", "-q")
    printed = next(
        float(line.split()[2]) for line in result.stdout.splitlines() if "baseline score" in line
    )
    [experiment] = Store(root).experiments()
    assert round(experiment.before.composite, 4) == printed
    finished = next(
        e for e in read_events(Store(root).events_path) if e.type == "experiment_finished"
    )
    assert finished.before == experiment.before.composite
    status = run_factory("status", str(root)).stdout
    assert f"{printed:.4f}" in status


# -- churn and noise reverted ---------------------------------------------------------------
CLEAN_WITH_DEAD_CODE = {
    "pyproject.toml": '[tool.ruff.lint]\nselect = ["F"]\n',
    "calc/__init__.py": "",
    "calc/core.py": """
        def add(a, b):
            return a + b


        def legacy(values):
            total = 0
            for value in values:
                if value > 0:
                    total += value
                else:
                    total -= value
            return total
        """,
    "tests/test_core.py": """
        from calc.core import add


        def test_add():
            assert add(2, 3) == 5
        """,
}


def test_deleting_code_that_only_raises_a_ratio_is_reverted(make_repo) -> None:
    root = make_repo(CLEAN_WITH_DEAD_CODE)
    scripted_config(root)
    deleted = "def add(a, b):\n    return a + b\n"
    env = {"SCRIPTED_FILES": json.dumps({"calc/core.py": deleted})}
    result = run_factory("ceo", str(root), "--headless", "-q", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    [experiment] = Store(root).experiments()
    # The share covered rose (and with it the composite), the counts did not.
    assert experiment.after.composite > experiment.before.composite
    assert experiment.status == "reverted"
    assert "improves the project failed (no dimension is better" in experiment.verdict.reason


NOISY_METRIC = """
    import json
    import sys
    from pathlib import Path

    # A measurement with noise: the same tree gives level-0.01, level, level+0.01 in turn
    # (the count is kept in the checkout: each tree is measured in a fresh one, sandboxed).
    counter = Path(".metric-runs")
    runs = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(runs + 1))
    level = float(Path("level.txt").read_text())
    print(json.dumps({"score": level + (-0.01, 0.0, 0.01)[runs % 3]}))
    """


@pytest.mark.parametrize(
    ("level", "status"), [("0.505", "reverted"), ("0.55", "kept")], ids=["within", "beyond"]
)
def test_a_noisy_metric_keeps_only_a_change_beyond_its_noise(make_repo, level, status) -> None:
    root = make_repo(
        {
            "pyproject.toml": '[tool.ruff.lint]\nselect = ["F"]\n',
            "metric.py": NOISY_METRIC,
            "level.txt": "0.5\n",
            "tests/test_ok.py": "def test_ok():\n    assert True\n",
        }
    )
    scripted_config(root, f'[eval.metrics.quality]\ncommand = "{sys.executable} metric.py"\n')
    env = {"SCRIPTED_FILES": json.dumps({"level.txt": level + "\n"})}
    result = run_factory("ceo", str(root), "--headless", "-q", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    [experiment] = Store(root).experiments()
    assert experiment.status == status, experiment.verdict.reason
    quality = experiment.before.dimension("quality")
    assert quality.samples == pytest.approx([0.49, 0.5, 0.51])  # noisy: measured 3 times
    assert experiment.after.dimension("quality").samples == pytest.approx(
        [float(level) - 0.01, float(level), float(level) + 0.01]
    )
    noise = json.loads((root / ".factory" / "noise.json").read_text())
    assert noise["quality"]["noisy"] is True
    check = next(c for c in experiment.verdict.checks if c.name == "quality not worse")
    assert "noise floor 0.0163" in check.detail


# -- plateaus -------------------------------------------------------------------------------
def test_k_reverts_in_a_row_end_the_run_at_a_plateau(make_repo) -> None:
    root = make_repo(TRAP)
    scripted_config(root)
    env = {"SCRIPTED_AGENT": "strategist=fresh", "SCRIPTED_FILES": json.dumps({"n.txt": "x"})}
    result = run_factory("ceo", str(root), "--headless", "--cycles", "20", "-q", env=env)
    assert result.returncode == 0
    assert "run plateau: 5 experiments in a row were reverted" in result.stdout
    assert [e.status for e in Store(root).experiments()] == ["reverted"] * 5


def test_a_loop_at_a_plateau_waits_without_running_a_tool(make_repo) -> None:
    root = make_repo(TRAP)
    pipeline, finished = run(root, cycles=4, loop=True, interval=0.05)
    assert finished.status == "completed"
    events = read_events(Store(root).events_path)
    researched = [e for e in events if e.type == "agent_started" and e.role == "researcher"]
    assert len(researched) == 2  # the reverted experiment, then "nothing new"
    waiting = [e for e in events if e.type == "notice" and "still at the plateau" in e.message]
    assert len(waiting) == 2
    assert [e.status for e in Store(root).experiments()] == ["reverted"]
    # Something new (a message) ends the wait.
    Store(root).add_message("Apply ruff's safe fixes for rule F401 in flags/core.py")
    assert not asyncio.run(pipeline._unchanged_since_plateau())


def test_a_loop_waits_thirty_minutes_unless_told(tmp_path) -> None:
    parser = build_parser()
    assert parser.parse_args(["run", str(tmp_path), "--loop"]).interval == 1800
    assert parser.parse_args(["run", str(tmp_path), "--loop", "--interval", "90s"]).interval == 90


# -- what cannot be done is said ------------------------------------------------------------
def test_the_offline_runtime_says_what_it_cannot_do(make_repo) -> None:
    root = make_repo(TRAP)
    result = run_factory("ceo", str(root), "--focus", "write better docs", "--headless", "-q")
    assert result.returncode == 1
    said = [line for line in result.stdout.splitlines() if "no recipe for" in line]
    assert len(said) == 1 and "--runtime claude" in said[0]
    assert Store(root).experiments() == []


def test_a_research_metric_failing_on_the_base_stops_the_run(make_repo) -> None:
    root = make_repo(
        {
            "pyproject.toml": '[tool.ruff.lint]\nselect = ["F"]\n',
            "model.py": "THRESHOLD = 0.5\n",
            "eval/score.py": (
                "import sys\nprint('loading data/gold.csv', file=sys.stderr)\n"
                "print('FileNotFoundError: data/gold.csv', file=sys.stderr)\nsys.exit(3)\n"
            ),
        }
    )
    config = root / ".factory" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        f'[research]\ncommand = "{sys.executable} eval/score.py"\nfixed = ["eval/"]\n'
    )
    result = run_factory("ceo", str(root), "--mode", "research", "--headless", "-q")
    assert result.returncode == 1
    assert "the research metric failed on the base" in result.stdout
    assert "status 3" in result.stdout and "FileNotFoundError: data/gold.csv" in result.stdout
    assert Store(root).experiments() == []
    logs = list((root / ".factory" / "experiments").rglob("*.log"))
    assert all("gold.csv" not in log.read_text() for log in logs)
    assert not [log for log in logs if log.name != "evaluator.log"]  # no agent ran


def test_the_reviewers_concerns_reach_the_verdicts_review_check() -> None:
    from factory_tui.ceo.decide import MAX_CONCERNS, review_check
    from factory_tui.engine.models import Review

    concerns = [f"src/m.py:{n}: special-cases the test's input" for n in range(1, 8)]
    check = review_check(Review(verdict="reject", concerns=concerns, summary="Games a test."))
    assert not check.ok and check.detail.startswith("Games a test. Concerns: src/m.py:1:")
    assert concerns[MAX_CONCERNS - 1] in check.detail and concerns[MAX_CONCERNS] not in check.detail
    assert check.detail.endswith(f"and {len(concerns) - MAX_CONCERNS} more")
