"""Build mode, focus mode and the backlog, as a user runs them: real CLI processes, real git."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import git
import pytest

from factory_tui.engine import build
from factory_tui.engine.build import check_output, resolve_target
from factory_tui.engine.errors import UsageError
from factory_tui.engine.spec import SpecDraft, backlog_items, eval_metrics, parse_spec
from factory_tui.engine.store import Store

from .conftest import FIXABLE, TRAP, run_factory

SPEC = """\
# Word counter

## Problem

Counting words in many text files by hand is slow.

## Users

Writers who keep drafts as text files.

## Features

- Count the words in each file given on the command line
- Print a total line at the end

## Non-goals

_To be decided._

## Acceptance criteria

- `words a.txt b.txt` prints one count per file and a total

## Eval metrics

- cli: `python -m word_counter.cli --version`
- speed: `python bench.py` (json, lower is better)
- a number nobody wrote a command for
"""


def own_tests_pass(project: Path) -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    return result.returncode == 0


# -- specs ----------------------------------------------------------------------------------
def test_a_spec_gives_backlog_items_with_criteria_and_project_metrics() -> None:
    spec = parse_spec(SPEC)
    assert spec.title == "Word counter"
    assert spec.section("Non-goals") == ""  # "to be decided" is empty
    items = backlog_items(spec)
    assert [title for title, _ in items] == [
        "Count the words in each file given on the command line",
        "Print a total line at the end",
    ]
    assert "prints one count per file" in items[0][1]
    metrics = eval_metrics(spec)
    assert sorted(metrics) == ["cli", "speed"]
    assert metrics["cli"].parse == "exit_code" and metrics["cli"].direction == "higher"
    assert metrics["speed"].parse == "json" and metrics["speed"].direction == "lower"


def test_a_draft_keeps_every_version_and_resumes(tmp_path) -> None:
    draft = SpecDraft(tmp_path / ".factory")
    assert draft.add_version("# A\n", "idea") == 1
    assert draft.add_version("# A\n", "you") is None  # unchanged: not a new version
    assert draft.add_version("# A\n\nmore\n", "distiller", "filled") == 2
    draft.save_draft("# A\n\nmy edit\n")
    again = SpecDraft(tmp_path / ".factory")
    assert again.draft() == "# A\n\nmy edit\n"
    assert [v.source for v in again.state().versions] == ["idea", "distiller"]
    assert again.load(1) == "# A\n"
    path = again.accept("# A\n\nfinal\n")
    assert path.read_text() == "# A\n\nfinal\n" and again.state().accepted
    assert len(again.state().versions) == 3


# -- bad input ------------------------------------------------------------------------------
def test_targets_are_told_apart_and_bad_ones_refused(tmp_path, make_repo) -> None:
    assert resolve_target("a tool that renames photos").kind == "idea"
    spec = tmp_path / "spec.md"
    spec.write_text(SPEC)
    assert resolve_target(str(spec)).kind == "spec"
    assert resolve_target(str(make_repo({"a.py": "X = 1\n"}))).kind == "git"
    assert resolve_target("https://example.com/x.git").kind == "git"
    for bad, message in (
        ("   ", "the idea is empty"),
        (str(tmp_path / "missing.md"), "no such spec file"),
        (str(tmp_path), "not a git repository"),
    ):
        with pytest.raises(UsageError, match=message):
            resolve_target(bad)
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(UsageError, match="binary file"):
        resolve_target(str(binary))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        check_output(tmp_path / "full")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "the target is empty"),
        ("file:///nonexistent/repository.git", "cannot clone"),
    ],
)
def test_bad_build_input_is_one_line_exit_2_and_writes_nothing(tmp_path, target, message):
    out = tmp_path / "out"
    result = run_factory("ceo", target, "--mode", "build", "--out", str(out), "--headless")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line and "Traceback" not in result.stderr
    assert not out.exists()


def test_an_output_folder_in_use_is_refused(tmp_path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_factory(
        "ceo", "a word counter", "--mode", "build", "--out", str(out), "--headless"
    )
    assert result.returncode == 2 and "not empty" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_spec_that_is_not_text_is_refused(tmp_path) -> None:
    spec = tmp_path / "spec.md"
    spec.write_bytes("# Caf\xe9 menu\n".encode("latin-1"))
    result = run_factory(
        "ceo", str(spec), "--mode", "build", "--headless", "--out", str(tmp_path / "out")
    )
    assert result.returncode == 2 and "not UTF-8 text" in result.stderr
    assert not (tmp_path / "out").exists()


# -- building from each kind of target ------------------------------------------------------
def test_build_from_an_idea_scaffolds_a_project_whose_tests_pass(tmp_path) -> None:
    out = tmp_path / "renamer"
    result = run_factory(
        "ceo",
        "A CLI that renames photos by date",
        "--mode",
        "build",
        "--out",
        str(out),
        "--headless",
        "--cycles",
        "1",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    repo = git.Repo(out)
    assert repo.head.commit.message.startswith("Scaffold A CLI that renames photos by date")
    for path in (
        "pyproject.toml",
        "renamer/cli.py",
        "tests/test_cli.py",
        "README.md",
        ".github/workflows/ci.yml",
        ".gitignore",
        "docs/SPEC.md",
    ):
        assert (out / path).exists(), path
    assert "## Problem" in (out / ".factory" / "spec.md").read_text()
    assert own_tests_pass(out)
    assert "run plateau" in result.stdout or "run completed" in result.stdout
    # The spec lists no features: the idea itself is the backlog, said to need a model.
    [item] = Store(out).backlog()
    assert item.title == "A CLI that renames photos by date"
    assert "1 backlog item(s) need a model" in result.stdout
    assert "Waiting: 'A CLI that renames photos by date'" in result.stdout


def test_build_from_a_spec_file_seeds_the_backlog_and_the_metrics(tmp_path) -> None:
    spec = tmp_path / "spec.md"
    spec.write_text(SPEC)
    out = tmp_path / "word-counter"
    result = run_factory(
        "ceo", str(spec), "--mode", "build", "--out", str(out), "--headless", "--cycles", "1", "-q"
    )
    assert result.returncode == 0, result.stderr
    store = Store(out)
    assert [item.title for item in store.backlog()] == [
        "Count the words in each file given on the command line",
        "Print a total line at the end",
    ]
    metrics = store.config().eval.metrics
    assert metrics["cli"].command == "python -m word_counter.cli --version"
    assert own_tests_pass(out)
    assert "2 backlog item(s) from the spec; project metrics: cli, speed" in result.stdout
    # Said before the cycle works: the offline runtime builds neither feature.
    assert "2 backlog item(s) need a model: the offline runtime only applies" in result.stdout
    assert "--runtime claude" in result.stdout
    assert "Waiting: 'Count the words in each file given on the command line'; 'Print" in (
        result.stdout
    )


def test_a_new_project_never_shadows_a_command_and_its_cli_runs(tmp_path) -> None:
    """`wc` is a command on every machine: the package and its script are named pywc."""
    spec = tmp_path / "spec.md"
    spec.write_text(SPEC)
    out = tmp_path / "wc"
    result = run_factory("ceo", str(spec), "--mode", "build", "--out", str(out), "--headless")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the package is named pywc and its command pywc: 'wc' is already a command" in (
        result.stdout
    )
    assert (out / "pywc" / "cli.py").exists() and not (out / "wc").exists()
    assert 'pywc = "pywc.cli:main"' in (out / "pyproject.toml").read_text()
    help_text = subprocess.run(
        [sys.executable, "-m", "pywc.cli", "--help"], cwd=out, capture_output=True, text=True
    )
    assert help_text.returncode == 0 and "usage: pywc" in help_text.stdout
    assert "not built yet" in (out / "README.md").read_text()  # a scaffold says it is one
    log = git.Repo(out).git.log("--format=%s").splitlines()
    assert log[-2:] == [
        "Scaffold Word counter from its spec (factory build)",
        "Start wc (factory build)",
    ]


def test_build_from_a_git_repository_clones_and_improves_it(tmp_path, make_repo) -> None:
    source = make_repo(FIXABLE)
    out = tmp_path / "clone"
    result = run_factory(
        "ceo",
        str(source),
        "--mode",
        "build",
        "--out",
        str(out),
        "--headless",
        "--cycles",
        "1",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    assert (out / ".git").exists()
    [experiment] = Store(out).experiments()
    assert experiment.status == "kept"
    assert own_tests_pass(out)
    assert git.Repo(source).head.commit.message.strip() == "initial"  # the source is untouched


def test_a_build_stopped_before_its_scaffold_starts_again(tmp_path) -> None:
    out = tmp_path / "renamer"
    build.start(out)  # the run was killed right after the first commit
    result = run_factory(
        "ceo",
        "A CLI that renames photos by date",
        "--mode",
        "build",
        "--out",
        str(out),
        "--headless",
        "-q",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = git.Repo(out).git.log("--format=%s").splitlines()
    assert log[-1] == "Start renamer (factory build)" and len(log) >= 2
    assert (out / "renamer" / "cli.py").exists()


@pytest.mark.parametrize(
    ("path", "runtime", "message"),
    [
        ("/usr/bin:/bin", "claude", "claude"),  # no Claude Code CLI
        ("/nonexistent", "offline", "git was not found on PATH"),  # no git at all
    ],
)
def test_a_missing_tool_is_refused_before_a_folder_is_made(tmp_path, path, runtime, message):
    out = tmp_path / "renamer"
    result = run_factory(
        "ceo",
        "a word counter",
        "--mode",
        "build",
        "--out",
        str(out),
        "--headless",
        "--runtime",
        runtime,
        env={"PATH": path},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert not out.exists()


# -- focus ----------------------------------------------------------------------------------
def test_focus_runs_one_experiment_and_exits_0_when_kept(make_repo) -> None:
    root = make_repo(FIXABLE)
    Store(root).add_backlog_item("Apply ruff's safe fixes for rule F401 in calc/core.py")
    result = run_factory("ceo", str(root), "--focus", "F401", "--headless", "-q")
    assert result.returncode == 0, result.stdout
    [experiment] = Store(root).experiments()
    assert experiment.status == "kept" and experiment.hypothesis.source == "focus"
    [item] = Store(root).backlog()
    assert item.status == "done"


def test_focus_exits_1_when_reverted(make_repo) -> None:
    root = make_repo(TRAP)
    result = run_factory("ceo", str(root), "--focus", "E712", "--headless", "-q")
    assert result.returncode == 1
    [experiment] = Store(root).experiments()
    assert experiment.status == "reverted"
    assert experiment.hypothesis.title == "Apply ruff's unsafe fixes for rule E712 in flags/core.py"
    [item] = Store(root).backlog()  # made for the focus text
    assert item.title == "E712" and item.status == "open"


def test_focus_on_what_the_offline_runtime_cannot_do_makes_no_experiment(make_repo) -> None:
    root = make_repo(TRAP)
    result = run_factory(
        "ceo", str(root), "--focus", "Rewrite the flags in Rust", "--headless", "-q"
    )
    assert result.returncode == 1
    assert "no recipe for 'Rewrite the flags in Rust'" in result.stdout
    assert "--runtime claude" in result.stdout
    assert Store(root).experiments() == []
    [item] = Store(root).backlog()  # kept for a runtime that can do it
    assert item.title == "Rewrite the flags in Rust" and item.status == "open"


# -- backlog --------------------------------------------------------------------------------
def test_the_backlog_command_adds_lists_finishes_and_removes(make_repo) -> None:
    root = make_repo({"a.py": "X = 1\n"})
    assert run_factory("backlog", str(root), "add", "Write the docs").returncode == 0
    assert (
        run_factory("backlog", str(root), "add", "Add a CLI", "--detail", "argparse").returncode
        == 0
    )
    listing = run_factory("backlog", str(root))
    assert "Write the docs" in listing.stdout and "Add a CLI" in listing.stdout
    assert run_factory("backlog", str(root), "done", "docs").returncode == 0
    assert run_factory("backlog", str(root), "rm", "CLI").returncode == 0
    [item] = Store(root).backlog()
    assert item.title == "Write the docs" and item.status == "done"
    missing = run_factory("backlog", str(root), "done", "nothing like this")
    assert missing.returncode == 2 and "no backlog item matches" in missing.stderr
