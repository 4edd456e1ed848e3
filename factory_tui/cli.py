"""`factory`: the command line. Parses and validates, then starts the TUI or a headless run.

Heavy modules (textual, pydantic, GitPython) are imported inside the commands that need
them, so `factory --help` answers at once.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from factory_tui import __version__

if TYPE_CHECKING:  # imported inside the commands at run time: `factory --help` stays quick
    from factory_tui.ceo.run import Pipeline
    from factory_tui.engine import build
    from factory_tui.engine.events import RunFinished
    from factory_tui.engine.models import Scorecard

EXIT_INTERRUPTED = 130


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
        "--quiet", "-q", action="store_true", help="headless: hide the agents' output lines"
    )


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
    except OSError as error:  # a folder it cannot read or write: .factory chmod 000, a full disk
        where = error.filename or "a file"
        print(
            f"factory: cannot use {where}: {error.strerror or error} (check that it exists, "
            "that you may read and write it, and that the disk has room)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("factory: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImportError as error:  # GitPython refuses to load without a git executable
        if "git executable" not in str(error):
            raise
        print(
            "factory: git was not found on PATH; the factory keeps every change in git: "
            "install git and try again",
            file=sys.stderr,
        )
        return 2


def cmd_ceo(args: argparse.Namespace) -> int:
    from factory_tui.engine import workspace

    if args.mode in ("build", "interactive"):
        return _build(args)
    path = Path(args.path).expanduser()
    if args.init and path.is_dir() and not (path / ".git").exists():
        workspace.init_repository(path)
    return _run(path, args)


def _build(args: argparse.Namespace) -> int:
    """Build mode (and interactive mode's spec editor first): a new project, then cycles.

    The project starts as a repository with an empty first commit; distilling the idea and
    scaffolding are the run's first step, so their agents stream live like any other."""
    from factory_tui.agents import make_runtime
    from factory_tui.engine import build
    from factory_tui.engine.config import FactoryConfig
    from factory_tui.engine.errors import UsageError
    from factory_tui.engine.sandbox import Sandbox
    from factory_tui.engine.spec import parse_spec

    if args.focus:
        raise UsageError("--focus works on an existing project (--mode improve)")
    target = build.resolve_target(args.path)
    # A runtime that cannot start (no claude CLI, no sandbox) says so before a folder is made.
    config = FactoryConfig()
    make_runtime(args.runtime or config.runtime, config, Sandbox(config.sandbox))
    if target.kind == "git":
        name = Path(target.value.rstrip("/")).name.removesuffix(".git") or "project"
        out = (args.out or Path.cwd() / name).expanduser()
        build.check_output(out)
        if args.mode == "interactive":
            raise UsageError("interactive mode shapes a spec: give an idea or a spec file")
        build.clone(target.value, out)
        print(f"cloned {target.value} into {out}", file=sys.stderr)
        return _run(out, args)
    if target.kind == "spec":
        spec_text = build.read_spec_file(Path(target.value))
        default_name = build.slug(parse_spec(spec_text).title)
    else:
        spec_text, default_name = "", build.slug(target.value)
    out = (args.out or Path.cwd() / default_name).expanduser().absolute()
    resuming = build.unfinished(out)
    if not resuming:
        build.check_output(out)
    if args.mode == "interactive":
        shaped = _shape_spec(args, target, spec_text, out)
        if shaped is None:
            return 0
        spec_text = shaped
    idea = target.value if target.kind == "idea" else ""
    if not resuming:
        build.start(out)
    return _run(out, args, build.BuildPlan(spec=spec_text, idea=idea))


def _shape_spec(
    args: argparse.Namespace, target: build.Target, spec_text: str, out: Path
) -> str | None:
    """Interactive mode: the spec editor on its own, the Distiller's first draft streaming
    into its pane; the accepted spec, or None when the person left (the draft is kept)."""
    from factory_tui.agents import make_runtime
    from factory_tui.engine.config import FactoryConfig
    from factory_tui.engine.errors import UsageError
    from factory_tui.engine.spec import SpecDraft
    from factory_tui.engine.store import FACTORY_DIR
    from factory_tui.spec_app import SpecApp

    if args.headless or not sys.stdout.isatty():
        raise UsageError(
            "interactive mode needs a terminal; use --mode build to go "
            "straight from the idea or spec to a project"
        )
    config = FactoryConfig()
    runtime = make_runtime(args.runtime or config.runtime, config)
    draft = SpecDraft(out / FACTORY_DIR)
    if not draft.exists():
        out.mkdir(parents=True, exist_ok=True)
        if target.kind == "spec":
            draft.add_version(spec_text, "file", Path(target.value).name)
        state = draft.state()
        state.idea = target.value if target.kind == "idea" else ""
        draft.save_state(state)
    accepted = SpecApp(draft, runtime, out.name).run()
    if accepted is None:
        print(f"draft kept in {draft.folder}; run the same command to resume", file=sys.stderr)
    return accepted


def _run(path: Path, args: argparse.Namespace, plan: build.BuildPlan | None = None) -> int:
    import asyncio

    from factory_tui.ceo.run import Pipeline, RunOptions
    from factory_tui.headless import HeadlessPrinter

    focus = getattr(args, "focus", None)
    options = RunOptions(
        mode="focus" if focus else args.mode,
        cycles=1 if focus else args.cycles,
        runtime=args.runtime,
        approval=args.approval,
        max_cost=args.max_cost,
        focus=focus,
        build=plan,
    )
    pipeline = Pipeline.open(path, options)
    if not args.headless and not sys.stdout.isatty():
        print("factory: not a terminal; running headless", file=sys.stderr)
        args.headless = True
    if not args.headless:
        from factory_tui.app import FactoryApp

        app = FactoryApp(pipeline.workspace.project, pipeline=pipeline)
        code = app.run() or app.return_code or 0
        return _focus_status(pipeline) if focus else code
    pipeline.bus.subscribe(HeadlessPrinter(quiet=args.quiet))
    finished = asyncio.run(_headless(pipeline))
    if focus:
        return _focus_status(pipeline)
    return 0 if finished.status in ("completed", "plateau", "budget") else 1


async def _headless(pipeline: Pipeline) -> RunFinished:
    """Run the pipeline; SIGTERM finishes the current stage and stops cleanly."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, pipeline.request_stop)
    try:
        return await pipeline.run()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from factory_tui.ceo.run import Pipeline, RunOptions
    from factory_tui.headless import HeadlessPrinter

    options = RunOptions(
        mode="loop" if args.loop else "improve",
        cycles=args.max_cycles if args.loop else (args.max_cycles or 1),
        runtime=args.runtime,
        max_cost=args.max_cost,
        loop=args.loop,
        interval=args.interval,
    )
    pipeline = Pipeline.open(args.path, options)
    pipeline.bus.subscribe(HeadlessPrinter(quiet=args.quiet))
    finished = asyncio.run(_headless(pipeline))
    return 0 if finished.status in ("completed", "plateau", "budget", "interrupted") else 1


def cmd_tmux(args: argparse.Namespace) -> int:
    import hashlib
    import shlex
    import shutil
    import subprocess

    from factory_tui.engine.build import slug
    from factory_tui.engine.errors import UsageError
    from factory_tui.engine.workspace import Workspace

    if shutil.which("tmux") is None:
        raise UsageError("tmux is not installed; use `factory run PATH --loop` instead")
    project = Workspace.open(args.path).project
    digest = hashlib.sha1(str(project).encode()).hexdigest()[:6]
    session = f"factory-{slug(project.name, 3)}-{digest}"
    argv = [sys.executable, "-m", "factory_tui", "run", str(project)]
    if args.loop:
        argv.append("--loop")
    if args.interval:
        argv += ["--interval", f"{args.interval:g}s"]
    for flag, value in (
        ("--max-cycles", args.max_cycles),
        ("--max-cost", args.max_cost),
        ("--runtime", args.runtime),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.quiet:
        argv.append("--quiet")
    exists = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True)
    if exists.returncode == 0:
        raise UsageError(
            f"tmux session {session} is already running; attach with `tmux attach -t {session}`"
        )
    started = subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, shlex.join(argv)],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        raise UsageError(f"tmux could not start: {started.stderr.strip()}")
    print(f"started {session}: {shlex.join(argv)}")
    print(f"  attach:  tmux attach -t {session}")
    print(f"  watch:   factory watch {shlex.quote(str(project))}")
    print(f"  stop:    tmux send-keys -t {session} C-c   (or kill the session)")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from factory_tui.engine.registry import Registry
    from factory_tui.engine.stats import composite_best, keep_rate
    from factory_tui.engine.store import Store

    registry = Registry()
    if args.prune:
        for entry in registry.prune():
            print(f"forgot {entry.name} ({entry.path}): its folder is gone", file=sys.stderr)
    rows = []
    for entry in registry.projects():
        experiments = Store(Path(entry.path)).experiments() if Path(entry.path).is_dir() else []
        rows.append((entry, composite_best(experiments), len(experiments), keep_rate(experiments)))
    if args.markdown:
        print("# Factory projects\n")
        print("| project | best score | experiments | keep rate | last run |")
        print("| --- | ---: | ---: | ---: | --- |")
        for entry, best, count, rate in rows:
            missing = " (missing)" if not Path(entry.path).is_dir() else ""
            print(
                f"| {entry.name}{missing} (`{entry.path}`) | {_fmt(best)} | {count} | "
                f"{_pct(rate)} | {_clock(entry.last_run)} |"
            )
        total = sum(count for _, _, count, _ in rows)
        print(f"\n{len(rows)} project(s), {total} experiment(s).")
        return 0
    console = Console(highlight=False)
    if not rows:
        console.print("no projects yet: run `factory ceo PATH` on one")
        return 0
    table = Table(title="projects", title_justify="left")
    for column in ("project", "best", "experiments", "keep rate", "last run"):
        table.add_column(
            column, justify="right" if column in ("best", "experiments", "keep rate") else "left"
        )
    for entry, best, count, rate in rows:
        missing = "" if Path(entry.path).is_dir() else " [red](missing: --prune forgets it)[/]"
        table.add_row(
            f"{escape(entry.name)}{missing}\n[dim]{escape(entry.path)}[/]",
            _fmt(best),
            str(count),
            _pct(rate),
            _clock(entry.last_run),
        )
    console.print(table)
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _focus_status(pipeline: Pipeline) -> int:
    """Focus mode's exit status is the verdict: 0 kept, 1 reverted (or nothing tried)."""
    experiments = pipeline.store.experiments()
    kept = bool(experiments) and experiments[-1].status == "kept" and pipeline.experiments_run
    return 0 if kept else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from factory_tui.demo import make_demo_repository

    repo = make_demo_repository(args.dir)
    print(f"example project ready at {repo}", file=sys.stderr)
    return _run(repo, args)


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from factory_tui.engine.stats import composite_best
    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace
    from factory_tui.eval import tools
    from factory_tui.eval.evaluator import EvalRequest, Evaluator
    from factory_tui.eval.factory_scorecard import factory_scorecard
    from factory_tui.headless import factory_table, status_table

    workspace = Workspace.open(args.path)
    store = Store(workspace.project)
    console = Console(highlight=False)
    experiments = store.experiments()
    best = composite_best(experiments)
    console.print(f"[bold]{workspace.project}[/] on {workspace.base_branch}")
    console.print(f"best score: {best:.4f}" if best is not None else "best score: not scored yet")
    # The base's score as last measured: read from the eval's cache, no tool runs.
    evaluator = Evaluator(store.config().eval, store.root, tools.project_python(workspace.project))
    tree = workspace.tree_of(workspace.base_commit())
    if (measured := evaluator.cached(tree)) is not None:
        now = evaluator.assemble(tree, measured, EvalRequest()).composite
        console.print(f"score now: {now:.4f} ({workspace.base_branch} at {tree[:10]})")
    holder = store.lock.holder()
    console.print(
        f"run: pid {holder.pid} holds the lock since {_clock(holder.started_at)}"
        if holder
        else "run: none (unlocked)"
    )
    if experiments:
        console.print(status_table(experiments))
        console.print(factory_table(factory_scorecard(experiments)))
    else:
        console.print("no experiments yet")
    return 0


def _clock(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def cmd_watch(args: argparse.Namespace) -> int:
    from factory_tui.app import FactoryApp
    from factory_tui.engine.workspace import Workspace

    project = Workspace.open(args.path).project
    app = FactoryApp(project)
    return app.run() or app.return_code or 0


def cmd_eval(args: argparse.Namespace) -> int:
    import asyncio

    from rich.console import Console
    from rich.markup import escape

    from factory_tui.engine.sandbox import Sandbox
    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace
    from factory_tui.eval import tools
    from factory_tui.eval.evaluator import EvalRequest, Evaluator
    from factory_tui.headless import scorecard_table

    workspace = Workspace.open(args.path)
    store = Store(workspace.project)
    config = store.config()
    commit = workspace.resolve(args.rev) if args.rev else workspace.base_commit()
    store.ensure()
    workspace.ensure_excluded()
    tree = workspace.tree_of(commit)
    python = tools.project_python(workspace.project)
    evaluator = Evaluator(config.eval, store.root, python, Sandbox(config.sandbox))
    request = EvalRequest()
    err = Console(stderr=True, highlight=False)
    on_line = (
        (lambda line: err.print(f"[dim]│ {escape(line)}[/]", markup=True, soft_wrap=True))
        if args.verbose
        else tools.quiet
    )

    async def score() -> Scorecard:
        if evaluator.cached(tree) is not None:
            return await evaluator.evaluate(workspace.project, tree, on_line, request)
        with workspace.temporary_checkout(commit) as checkout:
            return await evaluator.evaluate(checkout, tree, on_line, request)

    card = asyncio.run(score())
    if args.json:
        print(card.model_dump_json(indent=2))
        return 0
    console = Console(highlight=False)
    dirty = workspace.tracked_changes() and not args.rev
    note = " (uncommitted changes are not scored)" if dirty else ""
    where = (
        f"{args.rev} = {commit[:10]}" if args.rev else f"{commit[:10]} on {workspace.base_branch}"
    )
    console.print(f"[bold]{workspace.project.name}[/] at {where}{note}")
    console.print(scorecard_table(card, config.eval.min_delta))
    return 0


def cmd_ace(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from factory_tui.ceo.playbooks import Playbooks, ace
    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace

    store = Store(Workspace.open(args.path).project)
    store.ensure()
    playbooks = Playbooks(store.root)
    changes = ace(store, playbooks, promote=args.promote)
    console = Console(highlight=False)
    if not changes:
        console.print("nothing new to learn: every finished experiment was already reflected on")
    for role, lines in changes.items():
        console.print(f"[bold]{role}[/] ({playbooks.path_for(role)})")
        for line in lines:
            console.print(f"  {escape(line)}")
    if args.promote:
        console.print(f"promoted to {playbooks.global_dir}")
    return 0


def cmd_backlog(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from factory_tui.engine.errors import UsageError
    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace

    store = Store(Workspace.open(args.path).project)
    console = Console(highlight=False)
    if args.action == "add":
        item = store.add_backlog_item(args.text, args.detail)
        console.print(f"added {item.id}: {escape(item.title)}")
        return 0
    if args.action in ("done", "rm"):
        if not args.text.strip():
            raise UsageError(f"backlog {args.action} needs an item id or part of its title")
        found = store.find_backlog_item(args.text)
        if found is None:
            raise UsageError(f"no backlog item matches {args.text!r}")
        if args.action == "done":
            store.set_backlog_status(found.id, "done")
            console.print(f"done {found.id}: {escape(found.title)}")
        else:
            store.remove_backlog_item(found.id)
            console.print(f"removed {found.id}: {escape(found.title)}")
        return 0
    items = store.backlog()
    if not items:
        console.print("the backlog is empty")
        return 0
    table = Table(title="backlog", title_justify="left")
    for column in ("id", "status", "title"):
        table.add_column(column)
    for item in items:
        style = "dim" if item.status == "done" else ""
        table.add_row(item.id, item.status, escape(item.title), style=style)
    console.print(table)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from factory_tui.doctor import diagnose
    from factory_tui.engine.config import FactoryConfig

    console = Console(highlight=False)
    config = FactoryConfig()
    if args.path is not None:
        from factory_tui.engine.store import Store
        from factory_tui.engine.workspace import Workspace

        config = Store(Workspace.open(args.path).project).config()
    findings = diagnose(config.agents.claude)
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
    "backlog": cmd_backlog,
    "ace": cmd_ace,
    "run": cmd_run,
    "tmux": cmd_tmux,
    "projects": cmd_projects,
    "message": cmd_message,
}


if __name__ == "__main__":
    sys.exit(main())
