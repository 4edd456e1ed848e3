"""Commands that work on a project's state: `backlog`, `message`, `ace`, `doctor`, `watch`."""

from __future__ import annotations

import argparse


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


def cmd_message(args: argparse.Namespace) -> int:
    from factory_tui.engine.store import Store
    from factory_tui.engine.workspace import Workspace

    store = Store(Workspace.open(args.path).project)
    message = store.add_message(args.text)
    print(f"message {message.id} queued for the next cycle's Researcher and Strategist")
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
    from factory_tui.ceo.executors import ray_address
    from factory_tui.doctor import ray_cluster

    findings = diagnose(config.agents.claude)
    findings.append(ray_cluster(config.run.executor, ray_address(config.run.ray_address)))
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


def cmd_watch(args: argparse.Namespace) -> int:
    from factory_tui.app import FactoryApp
    from factory_tui.engine.workspace import Workspace

    project = Workspace.open(args.path).project
    app = FactoryApp(project)
    return app.run() or app.return_code or 0
