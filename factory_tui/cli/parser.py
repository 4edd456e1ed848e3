"""The command line's grammar: every command, its options and their checks.

argparse, not click: it is the standard library, so `factory --help` loads nothing else and
answers in about a tenth of a second; a bad argument is one line and exit 2 either way.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import NoReturn

from factory_tui import __version__


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments are one line on stderr and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="factory",
        description="An autonomous software factory: agents research a project, propose "
        "hypotheses, build each on its own branch, score it, and keep only what "
        "improves the project.",
    )
    parser.add_argument("--version", action="version", version=f"factory-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ceo = commands.add_parser(
        "ceo",
        help="run the factory: improve a project, or build one from an idea or a spec",
        description="Improve a git repository (--mode improve), build a project from an "
        "idea, a spec file or a git URL (--mode build), or shape a spec with the Distiller "
        "first (--mode interactive).",
    )
    ceo.add_argument(
        "path",
        type=_target,
        metavar="TARGET",
        help="improve: the project (a git repository); build and interactive: an idea in "
        "quotes, a spec file, or a git URL or path",
    )
    _run_options(ceo)
    ceo.add_argument(
        "--init",
        action="store_true",
        help="make PATH a git repository with a first commit if it is not one",
    )
    ceo.add_argument(
        "--out", type=_path, default=None, help="build: where to create the new project"
    )
    ceo.add_argument(
        "--focus",
        metavar="TEXT",
        default=None,
        help="one hypothesis and one experiment for the backlog item matching TEXT (made if "
        "none); exits 0 when kept, 1 when reverted",
    )

    demo = commands.add_parser(
        "demo",
        help="run the factory on the bundled example project",
        description="Copy the example project into a fresh git repository (one per user, "
        "in ~/.factory/demo, made afresh each time) and run the factory on it.",
    )
    demo.add_argument(
        "--dir",
        type=_path,
        default=None,
        help="where to create the example repository (default: ~/.factory/demo, reset)",
    )
    _run_options(demo, default_cycles=None)

    status = commands.add_parser("status", help="show a project's best score and experiments")
    status.add_argument("path", type=_path, help="the project")
    status.add_argument(
        "--all", action="store_true", help="list every experiment, not only the last 20"
    )

    watch = commands.add_parser(
        "watch",
        help="attach the dashboard to a run started elsewhere",
        description="Follow a project's run (headless, loop or tmux) in the dashboard; "
        "manual approvals can be answered from here.",
    )
    watch.add_argument("path", type=_path, help="the project")

    evaluate = commands.add_parser(
        "eval",
        help="score a project: every dimension, the tiers and the composite",
        description="Score a commit of the project (its branch by default) with the eval. "
        "The score depends on the tree alone: the same tree scores the same every time "
        "(cached by git tree hash).",
    )
    evaluate.add_argument("path", type=_path, help="the project")
    evaluate.add_argument(
        "--rev", default=None, metavar="REV", help="the commit to score (a sha, branch or tag)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    evaluate.add_argument(
        "--verbose", "-v", action="store_true", help="show each tool's output as it runs"
    )

    run = commands.add_parser(
        "run",
        help="unattended runs: cycle, wait, repeat (for cron, tmux, servers)",
        description="Run improvement cycles headless; with --loop, cycle, wait --interval, "
        "repeat. SIGTERM finishes the current stage and stops cleanly; a crash in one cycle is "
        "recorded and the loop goes on.",
    )
    _unattended_options(run)

    tmux = commands.add_parser(
        "tmux",
        help="the same in a detached tmux session; prints how to attach",
        description="Start `factory run PATH --loop` in a detached tmux session named after "
        "the project, and say how to attach with tmux and with `factory watch`.",
    )
    _unattended_options(tmux)

    projects = commands.add_parser(
        "projects",
        help="every project the factory has run on: best score, experiments, keep rate",
    )
    projects.add_argument(
        "--markdown", action="store_true", help="print a cross-project report in markdown"
    )
    projects.add_argument(
        "--prune", action="store_true", help="forget the projects whose folder is gone"
    )

    backlog = commands.add_parser(
        "backlog",
        help="list, add, finish or remove backlog items",
        description="The project's backlog: what the factory should work on. The dashboard "
        "edits the same list.",
    )
    backlog.add_argument("path", type=_path, help="the project")
    backlog.add_argument("action", choices=("list", "add", "done", "rm"), nargs="?", default="list")
    backlog.add_argument(
        "text",
        nargs="?",
        default="",
        help="add: the item's title; done, rm: its id or part of its title",
    )
    backlog.add_argument("--detail", default="", help="add: more about the item")

    ace = commands.add_parser(
        "ace",
        help="learn from the recorded experiments: reflect, curate, update the playbooks",
        description="Reflect on every kept and reverted experiment not learned from yet and "
        "curate each role's playbook (merge, count, prune, cap).",
    )
    ace.add_argument("path", type=_path, help="the project")
    ace.add_argument(
        "--promote",
        action="store_true",
        help="also write the playbooks to $FACTORY_HOME/playbooks for every project",
    )

    doctor = commands.add_parser(
        "doctor",
        help="check git, ruff, pytest, the sandbox and Claude Code, and say how to fix gaps",
        description="Check what each runtime needs on this machine; with PATH, the Claude Code "
        "CLI that project's config names, found the way the runtime finds it.",
    )
    doctor.add_argument("path", type=_path, nargs="?", default=None, help="a project (optional)")

    message = commands.add_parser(
        "message",
        help="send a note to the CEO for the next cycle",
        description="The next cycle's Researcher and Strategist read pending notes first.",
    )
    message.add_argument("path", type=_path, help="the project")
    message.add_argument("text", help="the note")
    return parser


def _run_options(parser: argparse.ArgumentParser, default_cycles: int | None = 1) -> None:
    parser.add_argument("--headless", action="store_true", help="print events instead of the TUI")
    parser.add_argument(
        "--cycles",
        type=_positive_int,
        default=default_cycles,
        metavar="N",
        help="cycles to run (default: %(default)s; none = until nothing is left)",
    )
    _agent_options(parser)
    parser.add_argument(
        "--approval",
        choices=("auto", "manual"),
        default=None,
        help="keep automatically, or ask a person first",
    )
    parser.add_argument(
        "--mode",
        choices=("improve", "build", "interactive", "research", "meta"),
        default="improve",
        help="improve a repository, build from a target, or shape the spec first",
    )


DEFAULT_INTERVAL = 1800.0  # a loop's wait between cycles: 30 minutes


def _unattended_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=_path, help="the project (a git repository)")
    parser.add_argument("--loop", action="store_true", help="keep cycling until stopped")
    parser.add_argument(
        "--interval",
        type=_duration,
        default=DEFAULT_INTERVAL,
        metavar="TIME",
        help="wait between cycles, e.g. 90s, 30m, 2h (default: 30m)",
    )
    parser.add_argument(
        "--max-cycles", type=_positive_int, default=None, metavar="N", help="stop after N cycles"
    )
    _agent_options(parser)


def _agent_options(parser: argparse.ArgumentParser) -> None:
    """What every command that runs agents takes: the runtime, a cost limit, quiet output."""
    parser.add_argument(
        "--runtime",
        choices=("offline", "claude", "command"),
        default=None,
        help="agent runtime (default: the config's, else offline)",
    )
    parser.add_argument(
        "--max-cost",
        type=_positive_float,
        default=None,
        metavar="USD",
        help="stop the run cleanly once the agents have cost this much",
    )
    parser.add_argument(
        "--parallel",
        type=_parallel,
        default=None,
        metavar="N",
        help="experiments side by side in a cycle, each in its own worktree "
        "(default: the config's [run] parallel, else 1)",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="build and measure experiments here, or as tasks on a Ray cluster "
        "(default: the config's [run] executor, else local)",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="headless: hide the agents' output lines"
    )


def _parallel(text: str) -> int:
    from factory_tui.engine.config import MAX_PARALLEL  # only when given: --help stays quick

    value = _positive_int(text)
    if value > MAX_PARALLEL:
        raise argparse.ArgumentTypeError(f"at most {MAX_PARALLEL}")
    return value


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 30m, 2h)") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 30m, 2h)")
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _path(text: str) -> Path:
    """A path argument: an empty one would mean the current folder, silently."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty; give the project's folder")
    return Path(text)


def _target(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the target is empty; give a project's folder, a spec file, an idea or a git URL"
        )
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
