"""ACE playbooks: reflect, curate (merge, count, prune, cap) and inject, on recorded outcomes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from factory_tui.agents.base import AgentContext, AgentRequest
from factory_tui.agents.offline import OfflineRuntime
from factory_tui.ceo.playbooks import (
    Bullet,
    Candidate,
    Playbook,
    Playbooks,
    ace,
    curate,
    parse_playbook,
    reflect,
)
from factory_tui.engine.models import (
    Check,
    Experiment,
    ExperimentStatus,
    Finding,
    Hypothesis,
    Role,
    Scorecard,
    Verdict,
)
from factory_tui.engine.store import Store

from .conftest import FIXABLE, TRAP, run_factory


def experiment(
    number: int, title: str, category: str, status: str, failed: tuple[str, ...] = ()
) -> Experiment:
    checks = [Check(name=name, ok=False, detail="x") for name in failed]
    card = Scorecard(tree="t", dimensions=[], composite=0.5)
    return Experiment(
        id=f"exp-{number:04d}",
        branch="b",
        base_commit="c",
        status=ExperimentStatus(status),
        hypothesis=Hypothesis(title=title, category=category),
        before=card,
        after=card.model_copy(update={"composite": 0.51 if status == "kept" else 0.45}),
        verdict=Verdict(
            decision="keep" if status == "kept" else "revert", reason="r", checks=checks
        ),
    )


def test_a_playbook_round_trips_through_its_markdown() -> None:
    text = (
        "---\nrole: builder\nupdated: default\n---\n\n# Builder playbook\n\n## DO\n\n"
        "- [builder-00001] helpful=12 harmful=1 :: Run the tests.\n\n## DON'T\n\n"
        "- [builder-00002] helpful=0 harmful=3 :: Don't skip tests.\n"
    )
    playbook = parse_playbook(text, Role.BUILDER)
    assert [(b.id, b.kind, b.helpful, b.harmful) for b in playbook.bullets] == [
        ("builder-00001", "do", 12, 1),
        ("builder-00002", "dont", 0, 3),
    ]
    assert parse_playbook(playbook.render(), Role.BUILDER).bullets == playbook.bullets
    assert playbook.next_id() == "builder-00003"


def test_reflect_turns_outcomes_into_candidate_bullets() -> None:
    kept = reflect(experiment(1, "Format pkg/ with ruff format", "style", "kept"))
    assert kept == [Candidate(Role.STRATEGIST, "do", kept[0].rule)]
    assert "Prefer style hypotheses like 'Format pkg/ with ruff format'" in kept[0].rule
    broke = reflect(
        experiment(
            2,
            "Apply ruff's unsafe fixes for rule E712 in a.py",
            "lint",
            "reverted",
            ("tests not regressed",),
        ),
        "1 failing test(s)",
    )
    assert [(c.role, c.kind) for c in broke] == [(Role.STRATEGIST, "dont"), (Role.BUILDER, "dont")]
    assert "1 failing test(s)" in broke[1].rule
    guard = reflect(
        experiment(3, "Drop the slow test", "tests", "reverted", ("guard: tests kept",))
    )
    assert any("Never trip a guard" in c.rule for c in guard)


def test_curate_counts_outcomes_merges_twins_prunes_and_caps() -> None:
    playbook = Playbook(
        role=Role.STRATEGIST,
        bullets=[
            Bullet(
                "strategist-00001",
                "do",
                "Prefer lint hypotheses like Apply ruff's safe fixes",
                1,
                0,
            ),
            Bullet(
                "strategist-00002",
                "dont",
                "Avoid format hypotheses like Format the docs folder",
                0,
                0,
            ),
        ],
    )
    outcomes = [
        experiment(1, "Apply ruff's safe fixes", "lint", "reverted"),
        experiment(2, "Format the docs folder", "format", "kept"),
    ]
    changes = curate(playbook, [], outcomes)
    by_id = {b.id: b for b in playbook.bullets}
    assert (by_id["strategist-00001"].helpful, by_id["strategist-00001"].harmful) == (1, 1)
    assert "strategist-00002" not in by_id  # a DON'T whose kind was kept: harmful > helpful
    assert any(line.startswith("pruned strategist-00002") for line in changes)

    first = Candidate(Role.STRATEGIST, "dont", "Avoid rewriting the parser wholesale")
    twin = Candidate(Role.STRATEGIST, "dont", "Avoid rewriting the parser wholesale again")
    changes = curate(playbook, [first, twin], [])
    added = playbook.bullets[-1]
    assert added.rule == first.rule and added.helpful == 2
    assert changes == [f"added {added.id}: {first.rule}", f"merged into {added.id}: {twin.rule}"]

    crowded = Playbook(
        role=Role.BUILDER,
        bullets=[
            Bullet(f"builder-{n:05d}", "do", f"rule number {n} about topic{n}", n, 0)
            for n in range(1, 8)
        ],
    )
    changes = curate(crowded, [], [], cap=5)
    assert len(crowded.bullets) == 5
    assert {b.id for b in crowded.bullets} == {f"builder-{n:05d}" for n in range(3, 8)}
    assert sum(line.startswith("capped") for line in changes) == 2


def test_ace_learns_from_each_experiment_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for record in (
        experiment(1, "Format pkg/ with ruff format", "style", "kept"),
        experiment(
            2,
            "Apply ruff's unsafe fixes for rule E712 in a.py",
            "lint",
            "reverted",
            ("tests not regressed",),
        ),
    ):
        store.allocate_experiment_id()
        store.save_experiment(record)
    playbooks = Playbooks(store.root, home=tmp_path / "home")
    changes = ace(store, playbooks)
    assert set(changes) == {"strategist", "builder"}
    strategist = playbooks.load(Role.STRATEGIST)
    assert any("Avoid lint hypotheses like" in b.rule for b in strategist.bullets)
    assert ace(store, playbooks) == {}  # nothing new
    assert playbooks.state().processed == ["exp-0001", "exp-0002"]
    ace(store, playbooks, promote=True)
    assert (tmp_path / "home" / "playbooks" / "strategist.md").exists()


def test_the_playbook_is_injected_into_the_prompt_and_honoured_offline(tmp_path) -> None:
    playbooks = Playbooks(tmp_path / ".factory", home=tmp_path / "home")
    playbook = playbooks.load(Role.STRATEGIST)  # the shipped default
    playbook.bullets.append(
        Bullet(
            "strategist-00099", "dont", "Avoid format hypotheses like 'Format calc/core.py'", 3, 0
        )
    )
    playbooks.save(playbook)
    text = playbooks.prompt_text(Role.STRATEGIST)
    assert "Don't:\n" in text and "Avoid format hypotheses" in text

    from factory_tui.agents.prompts import system_prompt

    assert text in system_prompt(Role.STRATEGIST, AgentContext(playbook=text))
    findings = [Finding(title="fmt", area="format", evidence="calc/core.py")]
    lines: list[str] = []
    request = AgentRequest(
        role=Role.STRATEGIST, cwd=tmp_path, context=AgentContext(findings=findings, playbook=text)
    )
    result = asyncio.run(OfflineRuntime().run(request, lambda line, kind: lines.append(line)))
    assert result.output.hypotheses == []
    assert any(line.startswith("skip (playbook:") for line in lines)


def test_meta_mode_curates_after_each_experiment(make_repo) -> None:
    root = make_repo(TRAP)
    result = run_factory("ceo", str(root), "--mode", "meta", "--headless", "--cycles", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert "playbooks curated" in result.stdout
    builder = Playbooks(Store(root).root).load(Role.BUILDER)
    assert any("broke" in b.rule for b in builder.bullets)
    ace_again = run_factory("ace", str(root))
    assert "nothing new to learn" in ace_again.stdout


def test_factory_ace_reports_what_changed(make_repo) -> None:
    root = make_repo(FIXABLE)
    run_factory("ceo", str(root), "--headless", "-q")
    result = run_factory("ace", str(root))
    assert result.returncode == 0
    assert "strategist" in result.stdout and "added strategist-" in result.stdout
