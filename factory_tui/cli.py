"""`factory`: the command line. Parses and validates, then starts the TUI or a headless run.

Heavy modules (textual, pydantic, GitPython) are imported inside the commands that need
them, so `factory --help` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from factory_tui import __version__

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory",
        description="An autonomous software factory: agents research a project, propose "
        "hypotheses, build each on its own branch, score it, and keep only what "
        "improves the project.",
    )
    parser.add_argument("--version", action="version", version=f"factory-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ceo = commands.add_parser(
        "ceo",
        help="run improvement cycles on a project",
        description="Run the CEO's improvement cycles on a git repository.",
    )
    ceo.add_argument("path", type=Path, help="the project (a git repository)")
    _run_options(ceo)
    ceo.add_argument(
        "--init",
        action="store_true",
        help="make PATH a git repository with a first commit if it is not one",
    )

    demo = commands.add_parser(
        "demo",
        help="run the factory on the bundled example project",
        description="Copy the example project into a fresh temporary "
        "git repository and run the factory on it.",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to create the example repository (default: a temp folder)",
    )
    _run_options(demo, default_cycles=None)

    status = commands.add_parser("status", help="show a project's best score and experiments")
    status.add_argument("path", type=Path, help="the project")

    watch = commands.add_parser(
        "watch",
        help="attach the dashboard to a run started elsewhere",
        description="Follow a project's run (headless, loop or tmux) in the dashboard; "
        "manual approvals can be answered from here.",
    )
    watch.add_argument("path", type=Path, help="the project")

    evaluate = commands.add_parser(
        "eval",
        help="score a project: every dimension, the tiers and the composite",
        description="Score the project's HEAD with the eval (cached by git tree hash).",
    )
    evaluate.add_argument("path", type=Path, help="the project")
    evaluate.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    evaluate.add_argument(
        "--verbose", "-v", action="store_true", help="show each tool's output as it runs"
    )

    commands.add_parser(
        "doctor",
        help="check git, ruff, pytest and the Claude Code CLI, and say how to fix gaps",
        description="Check what each runtime needs on this machine.",
    )

    message = commands.add_parser(
        "message",
        help="send a note to the CEO for the next cycle",
        description="The next cycle's Researcher and Strategist read pending notes first.",
    )
    message.add_argument("path", type=Path, help="the project")
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
    parser.add_argument(
        "--runtime",
        choices=("offline", "claude", "command"),
        default=None,
        help="agent runtime (default: the config's, else offline)",
    )
    parser.add_argument(
        "--approval",
        choices=("auto", "manual"),
        default=None,
        help="keep automatically, or ask a person first",
    )
    parser.add_argument("--mode", choices=("improve",), default="improve", help="run mode")
    parser.add_argument(
        "--max-cost",
        type=_positive_float,
        default=None,
        metavar="USD",
        help="stop the run cleanly once the agents have cost this much",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="headless: hide the agents' output lines"
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from factory_tui.engine.errors import FactoryError

    try:
        return COMMANDS[args.command](args)
    except FactoryError as error:
        print(f"factory: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("factory: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_ceo(args: argparse.Namespace) -> int:
    from factory_tui.engine import workspace

    path: Path = args.path.expanduser()
    if args.init and path.is_dir() and not (path / ".git").exists():
        workspace.init_repository(path)
    return _run(path, args)


def _run(path: Path, args: argparse.Namespace) -> int:
    import asyncio

    from factory_tui.engine.pipeline import Pipeline, RunOptions
    from factory_tui.headless import HeadlessPrinter

    options = RunOptions(
        mode=args.mode,
        cycles=args.cycles,
        runtime=args.runtime,
        approval=args.approval,
        max_cost=args.max_cost,
    )
    pipeline = Pipeline.open(path, options)
    if not args.headless and not sys.stdout.isatty():
        print("factory: not a terminal; running headless", file=sys.stderr)
        args.headless = True
    if not args.headless:
        from factory_tui.app import FactoryApp

        return FactoryApp(pipeline.workspace.project, pipeline=pipeline).run() or 0
    pipeline.bus.subscribe(HeadlessPrinter(quiet=args.quiet))
    finished = asyncio.run(pipeline.run())
    return 0 if finished.status in ("completed", "converged", "budget") else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from factory_tui.demo import make_demo_repository

    repo = make_demo_repository(args.dir)
    print(f"example project ready at {repo}", file=sys.stderr)
    return _run(repo, args)


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace
    from factory_tui.headless import status_table

    workspace = Workspace.open(args.path)
    store = Store(workspace.project)
    console = Console(highlight=False)
    experiments = store.experiments()
    best = best_score(experiments)
    console.print(f"[bold]{workspace.project}[/] on {workspace.base_branch}")
    console.print(f"best score: {best:.4f}" if best is not None else "best score: not scored yet")
    holder = store.lock.holder()
    console.print(
        f"run: pid {holder.pid} holds the lock since {_clock(holder.started_at)}"
        if holder
        else "run: none (unlocked)"
    )
    if experiments:
        console.print(status_table(experiments))
    else:
        console.print("no experiments yet")
    return 0


def best_score(experiments) -> float | None:
    """The best composite the project has reached: its first baseline or any kept result."""
    scores = [e.before.composite for e in experiments[:1] if e.before]
    scores += [e.after.composite for e in experiments if e.status == "kept" and e.after]
    return max(scores, default=None)


def _clock(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def cmd_watch(args: argparse.Namespace) -> int:
    from factory_tui.app import FactoryApp
    from factory_tui.engine.workspace import Workspace

    project = Workspace.open(args.path).project
    return FactoryApp(project).run() or 0


def cmd_eval(args: argparse.Namespace) -> int:
    import asyncio

    from rich.console import Console

    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace
    from factory_tui.eval import tools
    from factory_tui.eval.evaluator import EvalRequest, Evaluator
    from factory_tui.headless import scorecard_table

    workspace = Workspace.open(args.path)
    store = Store(workspace.project)
    config = store.config()
    store.ensure()
    workspace.ensure_excluded()
    commit = workspace.base_commit()
    tree = workspace.tree_of(commit)
    evaluator = Evaluator(config.eval, store.root, tools.project_python(workspace.project))
    request = EvalRequest(history=store.experiments())
    err = Console(stderr=True, highlight=False)
    on_line = (
        (lambda line: err.print(f"[dim]│ {line}[/]", markup=True, soft_wrap=True))
        if args.verbose
        else tools.quiet
    )

    async def score():
        if evaluator.cached(tree) is not None:
            return await evaluator.evaluate(workspace.project, tree, on_line, request)
        with workspace.temporary_checkout(commit) as checkout:
            return await evaluator.evaluate(checkout, tree, on_line, request)

    card = asyncio.run(score())
    if args.json:
        print(card.model_dump_json(indent=2))
        return 0
    console = Console(highlight=False)
    dirty = workspace.tracked_changes()
    note = " (uncommitted changes are not scored)" if dirty else ""
    console.print(
        f"[bold]{workspace.project.name}[/] at {commit[:10]} on {workspace.base_branch}{note}"
    )
    console.print(scorecard_table(card, config.eval.min_delta))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from factory_tui.doctor import diagnose
    from factory_tui.engine.config import FactoryConfig

    console = Console(highlight=False)
    claude = FactoryConfig().agents.claude
    findings = diagnose(claude)
    for finding in findings:
        mark = "[green]✓[/]" if finding.ok else "[red]✗[/]" if finding.required else "[yellow]![/]"
        console.print(f"{mark} {finding.name:<19} {escape(finding.detail)}")
        if not finding.ok:
            console.print(f"  [dim]fix: {escape(finding.fix)}[/]")
    missing = [f for f in findings if f.required and not f.ok]
    if any(not f.ok and not f.required for f in findings):
        console.print(
            "[dim]The offline runtime works without Claude Code; --runtime claude needs it.[/]"
        )
    return 1 if missing else 0


def cmd_message(args: argparse.Namespace) -> int:
    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace

    store = Store(Workspace.open(args.path).project)
    message = store.add_message(args.text)
    print(f"message {message.id} queued for the next cycle's Researcher and Strategist")
    return 0


COMMANDS = {
    "ceo": cmd_ceo,
    "demo": cmd_demo,
    "status": cmd_status,
    "watch": cmd_watch,
    "eval": cmd_eval,
    "doctor": cmd_doctor,
    "message": cmd_message,
}


if __name__ == "__main__":
    sys.exit(main())
