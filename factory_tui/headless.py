"""The headless front end: the engine's events printed with rich, for scripts, cron and tmux."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from factory_tui.engine import events as ev
from factory_tui.engine.models import Scorecard
from factory_tui.engine.text import money, plain
from factory_tui.event_text import out_of_reach_text

STATUS_STYLE = {"kept": "bold green", "reverted": "bold yellow", "aborted": "bold red"}
KIND_STYLE = {"tool": "cyan", "error": "red", "result": "bold", "info": "dim italic"}


class HeadlessPrinter:
    """Prints each stage, hypothesis, score and verdict; agent output unless `quiet`."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.quiet = quiet
        self.parallel = False  # several experiments at once: each line says whose it is

    def __call__(self, event: ev.Event) -> None:
        handler = getattr(self, f"on_{getattr(event, 'type', '')}", None)
        if handler is not None:
            handler(event)

    def print(self, text: str) -> None:
        # Whatever an event carries (a log written by another process included) reaches the
        # terminal as plain text: no escape sequence gets through.
        self.console.print(plain(text), soft_wrap=True)

    def whose(self, event: ev.Event) -> str:
        """`exp-0002 ` before a line of a parallel run's experiment, else nothing."""
        experiment = getattr(event, "experiment", None)
        return f"[cyan]{experiment}[/] " if self.parallel and experiment else ""

    def on_run_started(self, event: ev.RunStarted) -> None:
        self.parallel = event.parallel > 1
        cycles = "until done" if event.cycles is None else f"{event.cycles} cycle(s)"
        unsandboxed = "" if event.sandboxed else " · [bold white on red] UNSANDBOXED [/]"
        self.print(
            f"[bold]factory[/] {escape(event.project)} · {event.mode} · runtime "
            f"{event.runtime} · approval {event.approval} · branch "
            f"{escape(event.base_branch)} · {cycles}"
            + (f" · {event.parallel} at once" if event.parallel > 1 else "")
            + unsandboxed
        )

    def on_cycle_started(self, event: ev.CycleStarted) -> None:
        self.console.rule(f"cycle {event.cycle}", style="blue")

    def on_stage_started(self, event: ev.StageStarted) -> None:
        self.print(f"[blue]▶[/] {self.whose(event)}{event.stage.label}")

    def on_stage_finished(self, event: ev.StageFinished) -> None:
        mark = "[green]✓[/]" if event.ok else "[red]✗[/]"
        self.print(f"{mark} {self.whose(event)}{event.stage.label} [dim]{event.elapsed:.1f}s[/]")

    def on_agent_output(self, event: ev.AgentOutput) -> None:
        if self.quiet and event.kind not in ("error",):
            return
        style = KIND_STYLE.get(event.kind, "dim")
        self.print(f"  [dim]│[/] {self.whose(event)}[{style}]{escape(event.line)}[/]")

    def on_agent_finished(self, event: ev.AgentFinished) -> None:
        if not event.ok:
            self.print(f"  [red]{event.role.label} failed: {escape(event.error or '')}[/]")
        elif event.usage.cost_usd or event.usage.tokens:
            self.print(
                f"  [dim]{event.role.label}: {money(event.usage.cost_usd)}, "
                f"{event.usage.tokens} tokens, {event.usage.turns} turn(s)[/]"
            )

    def on_findings(self, event: ev.FindingsReported) -> None:
        self.print(f"  findings: {escape(event.summary)}")

    def on_hypotheses(self, event: ev.HypothesesProposed) -> None:
        if not event.hypotheses:
            self.print("  [yellow]no untried hypothesis[/]")
            return
        self.print("  hypotheses, best first:")
        for index, hypothesis in enumerate(event.hypotheses, 1):
            self.print(
                f"   {index}. {escape(hypothesis.title)} [dim](expected "
                f"{hypothesis.expected_gain:+.4f}, effort {hypothesis.effort})[/]"
            )

    def on_experiment_started(self, event: ev.ExperimentStarted) -> None:
        self.print(
            f"[bold]{event.experiment}[/] {escape(event.hypothesis.title)} "
            f"[dim]on {event.branch} from {event.base_commit[:10]}[/]"
        )

    def on_scored(self, event: ev.Scored) -> None:
        card = event.scorecard
        cached = " [dim](cached)[/]" if card.cached else ""
        self.print(
            f"  {self.whose(event)}{event.kind} score {card.composite:.4f}{cached}  "
            f"[dim]{escape(_dimensions(card))}[/]"
        )

    def on_reviewed(self, event: ev.Reviewed) -> None:
        colour = "green" if event.review.verdict == "approve" else "yellow"
        self.print(
            f"  {self.whose(event)}review: [{colour}]{event.review.verdict}[/] "
            f"{escape(event.review.summary)}"
        )

    def on_approval_requested(self, event: ev.ApprovalRequested) -> None:
        self.print(
            f"[bold magenta]{event.experiment} awaits your decision[/]: keep or revert "
            f"from `factory watch` (recommended: {event.recommendation.decision})"
        )

    def on_experiment_finished(self, event: ev.ExperimentFinished) -> None:
        style = STATUS_STYLE.get(event.status, "bold")
        scores = ""
        if event.before is not None and event.after is not None:
            scores = f" {event.before:.4f} → {event.after:.4f} ({event.after - event.before:+.4f})"
        if event.cost_usd:
            scores += f" {money(event.cost_usd)}"
        self.print(
            f"[{style}]{event.experiment} {event.status.upper()}[/]{scores} "
            f"[dim]by {event.verdict.decided_by}: {escape(event.verdict.reason)}[/]"
        )

    def on_notice(self, event: ev.Notice) -> None:
        style = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
        self.print(f"[{style}]{event.level}: {escape(event.message)}[/]")

    def on_out_of_reach(self, event: ev.OutOfReach) -> None:
        if event.items:
            self.print(f"[yellow]{escape(out_of_reach_text(event))}[/]")

    def on_run_finished(self, event: ev.RunFinished) -> None:
        self.console.rule(style="blue")
        cost = f", {money(event.cost_usd)}" if event.cost_usd else ""
        self.print(
            f"[bold]run {event.status}[/]: {escape(event.reason)} "
            f"({event.experiments} experiment(s){cost})"
        )


def _dimensions(card: Scorecard) -> str:
    return " · ".join(
        f"{d.name} {'n/a' if d.score is None else f'{d.score:.3f}'}" for d in card.dimensions
    )


def scorecard_table(card: Scorecard, min_delta: float | None = None) -> Table:
    """Every dimension (score, weight, reason), the tier scores and the composite."""
    cached = " · cached" if card.cached else f" · {card.elapsed:.1f}s"
    table = Table(
        title=f"composite [bold]{card.composite:.4f}[/]{cached}", title_justify="left", expand=False
    )
    table.add_column("tier", style="dim")
    table.add_column("dimension", style="bold")
    table.add_column("score", justify="right")
    table.add_column("weight", justify="right")
    table.add_column("reason", overflow="fold")
    for tier in ("hygiene", "growth", "project"):
        members = [d for d in card.dimensions if d.tier == tier]
        if not members:
            continue
        for index, dimension in enumerate(members):
            score = "[dim]n/a[/]" if dimension.score is None else f"{dimension.score:.3f}"
            table.add_row(
                tier if index == 0 else "",
                dimension.name,
                score,
                f"{dimension.weight:g}",
                escape(dimension.reason),
            )
        if tier in card.tiers:
            share = card.tier_weights.get(tier, 0.0)
            table.add_row(
                "",
                f"[italic]{tier} tier[/]",
                f"[bold]{card.tiers[tier]:.3f}[/]",
                f"{share:.0%}",
                "[dim]weighted mean of the applicable dimensions[/]",
                end_section=True,
            )
    return table
