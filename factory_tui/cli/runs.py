"""Commands that run the factory: `ceo` (improve, build, interactive, research, meta,
focus), `demo`, `run` (unattended) and `tmux`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported inside the commands at run time: `factory --help` stays quick
    from factory_tui.ceo.run import Pipeline
    from factory_tui.engine import build
    from factory_tui.engine.events import RunFinished


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
        parallel=args.parallel,
        executor=args.executor,
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

    from factory_tui import startup

    startup.release()  # the run begins: start-up is over
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
        parallel=args.parallel,
        executor=args.executor,
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


def cmd_demo(args: argparse.Namespace) -> int:
    from factory_tui.demo import make_demo_repository

    repo = make_demo_repository(args.dir)
    print(f"example project ready at {repo}", file=sys.stderr)
    return _run(repo, args)


def _focus_status(pipeline: Pipeline) -> int:
    """Focus mode's exit status is the verdict: 0 kept, 1 reverted (or nothing tried)."""
    last = pipeline.last_experiment
    return 0 if last is not None and last.status == "kept" else 1
