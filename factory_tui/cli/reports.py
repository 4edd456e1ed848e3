"""Commands that report: `status`, `projects` and `eval`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factory_tui.engine.models import Scorecard
    from factory_tui.engine.store import Store


RECENT_ROWS = 20  # experiments `factory status` lists without --all


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from factory_tui.cli.tables import factory_table, status_lines, status_table
    from factory_tui.engine.git_head import read_head
    from factory_tui.engine.stats import keep_rate_of
    from factory_tui.engine.store import Store
    from factory_tui.eval.factory_scorecard import RECENT, factory_scorecard

    head = read_head(args.path)  # one git call: no GitPython, no eval on the way
    store = Store(head.project)
    console = Console(highlight=False)
    # Asked of the database: the best, the totals and the last few, never every record.
    # A project the factory never ran on has none: nothing is made in it to say so.
    started = store.root.is_dir()
    totals = store.experiment_totals() if started else {}
    count = sum(totals.values())
    best = store.best_composite() if started else None
    console.print(f"[bold]{head.project}[/] on {head.branch}")
    for line in store.take_set_aside() if started else []:  # an earlier layout read in
        console.print(f"[yellow]{escape(line)}[/]")
    console.print(f"best score: {best:.4f}" if best is not None else "best score: not scored yet")
    if (now := _score_now(store, head.tree)) is not None:
        console.print(f"score now: {now:.4f} ({head.branch} at {head.tree[:10]})")
    holder = store.lock.holder()
    console.print(
        f"run: pid {holder.pid} holds the lock since {_clock(holder.started_at)}"
        if holder
        else "run: none (unlocked)"
    )
    if count:
        if args.all:
            rows, _ = store.experiment_rows(limit=count)
            for line in status_lines(rows):
                sys.stdout.write(line + "\n")
        else:
            rows, _ = store.experiment_rows(descending=True, limit=RECENT_ROWS)
            title = (
                "experiments"
                if len(rows) == count
                else f"the last {len(rows)} of {count} experiments (--all lists every one)"
            )
            console.print(status_table(reversed(rows), title))
        rate = keep_rate_of(totals)
        console.print(
            f"{count} experiment(s): "
            + ", ".join(f"{n} {status}" for status, n in sorted(totals.items()))
            + ("" if rate is None else f"; keep rate {rate:.0%}")
        )
        console.print(factory_table(factory_scorecard(store.decided_outlines(RECENT))))
    else:
        console.print("no experiments yet")
    return 0


def _score_now(store: Store, tree: str) -> float | None:
    """The base's score as last measured: the baseline a cycle or `factory eval` recorded
    for this tree, or else the eval's cache (which costs loading the eval); no tool runs."""
    if store.root.is_dir() and (baseline := store.baseline_of(tree)) is not None:
        return baseline
    # Entries are named <tree>-<16 hex digits of the settings>.json.
    if not any((store.root / "cache" / "eval").glob(f"{tree}-{'?' * 16}.json")):
        return None  # never measured: no need to load the eval to say so
    from factory_tui.eval import tools
    from factory_tui.eval.evaluator import EvalRequest, Evaluator

    evaluator = Evaluator(store.config().eval, store.root, tools.project_python(store.project))
    measured = evaluator.cached(tree)
    return None if measured is None else evaluator.assemble(tree, measured, EvalRequest()).composite


def cmd_projects(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from factory_tui.engine.registry import Registry
    from factory_tui.engine.stats import keep_rate_of
    from factory_tui.engine.store import Store

    registry = Registry()
    if args.prune:
        for entry in registry.prune():
            print(f"forgot {entry.name} ({entry.path}): its folder is gone", file=sys.stderr)
    rows = []
    for entry in registry.projects():
        if Path(entry.path).is_dir():
            store = Store(Path(entry.path))
            totals = store.experiment_totals()
            rows.append((entry, store.best_composite(), sum(totals.values()), keep_rate_of(totals)))
        else:
            rows.append((entry, None, 0, None))
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


def cmd_eval(args: argparse.Namespace) -> int:
    import asyncio

    from factory_tui.engine.git_head import exclude_from_git, read_head, tracked_changes
    from factory_tui.engine.sandbox import Sandbox
    from factory_tui.engine.store import FACTORY_DIR, Store
    from factory_tui.eval import tools
    from factory_tui.eval.evaluator import EvalRequest, Evaluator

    # GitPython only for what needs it (another revision, or a checkout to measure): the
    # warm eval of the branch is one `git rev-parse`.
    head = read_head(args.path)
    project = head.project
    store = Store(project)
    config = store.config()
    commit, tree = head.commit, head.tree
    if args.rev:
        from factory_tui.engine.workspace import Workspace

        workspace = Workspace.open(args.path)
        commit = workspace.resolve(args.rev)
        tree = workspace.tree_of(commit)
    store.ensure()
    exclude_from_git(head.common_dir, FACTORY_DIR)
    python = tools.project_python(project)
    evaluator = Evaluator(config.eval, store.root, python, Sandbox(config.sandbox))
    request = EvalRequest()
    on_line = _verbose_lines() if args.verbose else tools.quiet

    async def score() -> Scorecard:
        if evaluator.cached(tree) is not None:
            return await evaluator.evaluate(project, tree, on_line, request)
        from factory_tui.engine.workspace import Workspace

        with Workspace.open(project).temporary_checkout(commit) as checkout:
            return await evaluator.evaluate(checkout, tree, on_line, request)

    card = asyncio.run(score())
    # What `factory status` says the base scores now, without loading the eval to ask.
    store.record_baseline(tree, card.composite)
    if args.json:  # for a script: no rich, no tables
        print(card.model_dump_json(indent=2))
        return 0
    from rich.console import Console

    from factory_tui.headless import scorecard_table

    console = Console(highlight=False)
    dirty = tracked_changes(project) and not args.rev
    note = " (uncommitted changes are not scored)" if dirty else ""
    where = f"{args.rev} = {commit[:10]}" if args.rev else f"{commit[:10]} on {head.branch}"
    console.print(f"[bold]{project.name}[/] at {where}{note}")
    console.print(scorecard_table(card, config.eval.min_delta))
    return 0


def _verbose_lines() -> Callable[[str], None]:
    """`eval -v`: each line the tools print, dimmed, on stderr."""
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, highlight=False)
    return lambda line: err.print(f"[dim]│ {escape(line)}[/]", markup=True, soft_wrap=True)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _clock(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
