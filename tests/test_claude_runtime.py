"""The Claude Code runtime: the stream-json reader on recorded events, and the real CLI
(pinned, from npm) driven against a scripted Messages API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import git
import pytest

from factory_tui.agents.base import AgentContext, AgentRequest, Budget
from factory_tui.agents.claude import ClaudeRuntime, display, permission_flags
from factory_tui.agents.stream_json import StreamReader, shorten, tool_line
from factory_tui.engine.config import AgentsConfig
from factory_tui.engine.models import Hypothesis, Role
from factory_tui.engine.sandbox import Sandbox
from factory_tui.engine.store import Store

from .conftest import FIXABLE, claude_config, run_factory
from .support.fake_anthropic import FakeAnthropic, final

FIXTURES = Path(__file__).parent / "fixtures" / "stream_json"


def read(name: str) -> tuple[StreamReader, list[tuple[str, str]]]:
    reader = StreamReader(cwd=Path("/home/dev/project"))
    lines = []
    for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines():
        lines += reader.feed(line)
    return reader, lines


# -- the stream-json reader, on events recorded from the real CLI ---------------------------
def test_init_gives_the_session_model_and_tools() -> None:
    reader, lines = read("system__init")
    assert reader.session_id and reader.model == "claude-sonnet-4-5"
    assert "Write" in reader.tools
    assert lines[0][1] == "info" and "claude 2.1.332" in lines[0][0]


def test_assistant_text_and_tool_use_become_readable_lines() -> None:
    reader, lines = read("assistant__text")
    assert lines and all(kind == "text" for _, kind in lines)
    assert reader.texts
    _, tool = read("assistant__tool_use")
    assert tool == [("Write w.txt", "tool")]


def test_tool_calls_read_as_one_line_each() -> None:
    cwd = Path("/work/tree")
    assert tool_line("Edit", {"file_path": "/work/tree/pkg/core.py"}, cwd) == "Edit pkg/core.py"
    assert tool_line("Bash", {"command": "pytest -q\necho done"}) == "$ pytest -q …"
    assert tool_line("Grep", {"pattern": "TODO", "path": "src"}) == "Grep TODO in src"
    assert tool_line("TodoWrite", {"todos": [1, 2]}) == "TodoWrite (2 items)"
    assert tool_line("Mystery", {"a": 1}) == 'Mystery {"a": 1}'
    assert shorten("x" * 300, 20) == "x" * 19 + "…"


def test_tool_results_are_shortened_and_errors_marked() -> None:
    _, ok = read("user__tool_result")
    assert ok[0][0].startswith("  → File created successfully") and ok[0][1] == "info"
    _, failed = read("user__tool_result__is_error")
    assert failed[0][1] == "error"


def test_a_successful_result_carries_cost_tokens_turns_and_duration() -> None:
    reader, lines = read("result__success__ok__completed")
    usage = reader.usage
    assert usage.cost_usd == pytest.approx(0.00033) and usage.output_tokens == 20
    assert usage.input_tokens == 10 and usage.turns == 1
    assert not reader.is_error and reader.final_text == "ok"
    assert lines[0][1] == "result" and lines[0][0].startswith("✓ done: 1 turn(s)")


def test_api_errors_are_flagged_even_under_the_success_subtype() -> None:
    reader, lines = read("result__success__is_error__api_error")
    assert reader.is_error and reader.transient
    assert "ECONNREFUSED" in reader.error and lines[0][1] == "error"
    max_turns, _ = read("result__error_max_turns__is_error__max_turns")
    assert max_turns.is_error and not max_turns.transient
    assert "Reached maximum number of turns" in max_turns.error
    missing, _ = read("result__error_during_execution__is_error")
    assert "No conversation found" in missing.error


def test_retries_denials_and_unknown_events() -> None:
    _, retry = read("system__api_retry")
    assert retry[0][1] == "error" and "retry 1/1" in retry[0][0]
    _, denied = read("system__permission_denied")
    assert denied[0][0].startswith("permission denied: Write")
    for quiet in (
        "system__status",
        "system__ui_invalidate",
        "system__thinking_tokens",
        "system__task_started",
        "stream_event__message_start",
        "stream_event__content_block_delta__text_delta",
        "assistant__thinking",
    ):
        assert read(quiet)[1] == [], quiet
    reader = StreamReader()
    assert reader.feed("not json at all") == [("not json at all", "text")]
    assert reader.feed('["a list"]') == []


def test_a_whole_recorded_session_reads_in_order() -> None:
    reader, lines = read("full_edit_session")
    kinds = [kind for _, kind in lines]
    assert kinds[0] == "info" and kinds[-1] == "result"
    assert "tool" in kinds and reader.session_id and reader.usage.turns >= 1


def test_the_command_line_shows_everything_but_the_prompts() -> None:
    runtime = ClaudeRuntime(AgentsConfig(claude="claude", model="claude-sonnet-4-5"))
    request = AgentRequest(role=Role.BUILDER, cwd=Path("."), context=AgentContext())
    argv = runtime.argv(request, "the task")
    assert argv[:3] == ["claude", "-p", "the task"]
    assert "--append-system-prompt" in argv and "--model" in argv
    assert display(argv).startswith("claude -p … --output-format stream-json --verbose")
    assert "You are the Builder" not in display(argv)
    researcher = AgentRequest(
        role=Role.RESEARCHER, cwd=Path("."), context=AgentContext(budget=Budget(web_searches=2))
    )
    bounded = runtime.argv(researcher, "the task")
    assert json.loads(bounded[bounded.index("--settings") + 1])["hooks"]["PreToolUse"]
    assert "--settings …" in display(bounded) and "hooks" not in display(bounded)
    builder = permission_flags(Role.BUILDER)
    assert builder[builder.index("--permission-mode") + 1] == "acceptEdits"
    reviewer = permission_flags(Role.REVIEWER)
    assert reviewer[reviewer.index("--tools") + 1] == "Read,Glob,Grep,LS"
    assert "--disallowedTools" in reviewer
    # A shell only for the roles that check things, and only in a sandbox; the web only
    # for the Researcher, each tool while its bound is above zero.
    researcher = permission_flags(Role.RESEARCHER, True, {"WebSearch": 8, "WebFetch": 0})
    assert researcher[researcher.index("--tools") + 1] == "Read,Glob,Grep,LS,Bash,WebSearch"
    assert "Bash" not in researcher[researcher.index("--disallowedTools") + 1]
    # Its shell runs checks only: the rule for each, no blanket Bash.
    allowed = researcher[
        researcher.index("--allowedTools") + 1 : researcher.index("--disallowedTools")
    ]
    assert "Bash(pytest:*)" in allowed and "Bash(git diff:*)" in allowed and "Bash" not in allowed
    strategist = permission_flags(Role.STRATEGIST, True, {"WebSearch": 8, "WebFetch": 5})
    assert strategist[strategist.index("--tools") + 1] == "Read,Glob,Grep,LS"
    assert "Bash" in strategist[strategist.index("--disallowedTools") + 1]


def test_a_missing_cli_is_one_clear_error(tmp_path) -> None:
    runtime = ClaudeRuntime(AgentsConfig(claude=str(tmp_path / "no-claude")))
    request = AgentRequest(role=Role.REVIEWER, cwd=tmp_path, context=AgentContext())
    run = asyncio.run(runtime.run(request, lambda *_: None))
    assert not run.ok and "is not installed" in run.error and "npm install" in run.error


# -- the real CLI against a scripted server -------------------------------------------------
REVIEW = {"verdict": "approve", "concerns": [], "summary": "Looks right."}


def run_role(
    role: Role,
    cwd: Path,
    config: AgentsConfig,
    sandbox: Sandbox | None = None,
    context: AgentContext | None = None,
    **timeouts,
):
    lines: list[tuple[str, str]] = []
    request = AgentRequest(
        role=role,
        cwd=cwd,
        context=context or AgentContext(hypothesis=Hypothesis(title="Remove the unused import")),
        **timeouts,
    )
    runtime = ClaudeRuntime(config, sandbox)
    result = asyncio.run(runtime.run(request, lambda line, kind: lines.append((line, kind))))
    return result, lines


def offered(request: dict) -> set[str]:
    """The tools a request offered the model (less the CLI's placeholder for tools it loads
    on demand, from the same set)."""
    return {tool["name"] for tool in request["body"]["tools"]} - {"DeferredToolPlaceholder"}


def refused_by_claude(text: str) -> bool:
    """A tool result saying Claude Code did not let the call run (no rule allows it)."""
    return any(word in text.lower() for word in ("permission", "needs approval"))


def tool_results(request: dict) -> list[tuple[bool, str]]:
    """(is_error, text) of every tool result the conversation so far carries."""
    found = []
    for message in request["body"]["messages"]:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_result":
                text = block.get("content")
                if isinstance(text, list):
                    text = " ".join(part.get("text", "") for part in text)
                found.append((bool(block.get("is_error")), str(text)))
    return found


def processes_in(folder: Path) -> list[int]:
    """Live processes whose working directory is `folder` (none may outlive a run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.claude
def test_the_real_cli_reviews_with_read_only_tools(claude_cli, tmp_path, monkeypatch) -> None:
    with FakeAnthropic([final(REVIEW, "I read the diff.")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result, lines = run_role(Role.REVIEWER, tmp_path, AgentsConfig(claude=str(claude_cli)))
    assert result.ok, result.error
    assert result.output.verdict == "approve" and result.session_id
    assert result.usage.turns == 1 and result.usage.cost_usd > 0
    [request] = server.main_requests
    system = json.dumps(request["body"]["system"])
    assert "You are the Reviewer" in system
    # Unsandboxed, only reading tools: no Write, Edit or Bash, no Agent to start a writer.
    tools = offered(request)
    assert tools and tools <= {"Read", "Glob", "Grep", "LS"}, tools
    assert any(kind == "info" and "session" in line for line, kind in lines)


def research(project: Path, claude_cli: Path, budget: Budget):
    """The Researcher with this budget, sandboxed where bubblewrap runs (as the factory
    runs it, so the web-bound hook runs inside the sandbox too)."""
    config = AgentsConfig(claude=str(claude_cli))
    context = AgentContext(budget=budget)
    return run_role(Role.RESEARCHER, project, config, Sandbox("auto"), context=context)


FINDINGS = {
    "summary": "Two practices worth adopting.",
    "findings": [
        {
            "title": "ruff's F401 fix is safe for plain imports",
            "detail": "removing an unused import changes nothing at run time",
            "area": "lint",
            "evidence": "https://docs.example.org/1/ruff-F401",
        }
    ],
}


@pytest.mark.claude
def test_the_researcher_searches_the_web_within_its_bounds(
    claude_cli, tmp_path, monkeypatch
) -> None:
    # WebFetch first asks claude.ai whether a domain may be fetched; the test is offline.
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    settings.write_text(json.dumps({"skipWebFetchPreflight": True}))

    def search(query: str) -> dict:
        return {"name": "WebSearch", "input": {"query": query}}

    with FakeAnthropic([]) as server:
        # The CLI fetches over https only; the fetch that may run fails fast on this port.
        page = f"https://127.0.0.1:{server.server_address[1]}/notes"
        fetch = {"name": "WebFetch", "input": {"url": page, "prompt": "Summarise it."}}
        server.script = [
            {"tool_use": [search("ruff F401"), search("pytest fixtures")]},
            {"tool_use": [search("coverage branch")]},
            {"tool_use": [search("one too many"), search("two too many")]},
            {"tool_use": [fetch]},
            {"tool_use": [fetch]},
            final(FINDINGS, "Cited each source."),
        ]
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        project = tmp_path / "project"
        project.mkdir()
        budget = Budget(max_turns=20, web_searches=3, web_pages=1)
        result, lines = research(project, claude_cli, budget)
    assert result.ok, result.error
    assert result.output.findings[0].evidence.startswith("https://")
    first, *_, last = server.main_requests
    assert {"WebSearch", "WebFetch"} <= offered(first)
    assert not offered(first) & {"Write", "Edit", "Agent"}
    # Told its bounds, and held to them: three searches reached the API, the rest were
    # refused by the hook and the model was told why.
    assert "at most 3 searches and 1 pages" in json.dumps(first["body"]["messages"])
    assert sorted(server.web_searches) == ["coverage branch", "pytest fixtures", "ruff F401"]
    refused = [text for error, text in tool_results(last) if error and "bound of" in text]
    assert len(refused) == 3, tool_results(last)
    assert sum("WebSearch: the bound of 3" in text for text in refused) == 2
    assert sum("WebFetch: the bound of 1" in text for text in refused) == 1
    assert any(kind == "error" and "the bound of 3" in line for line, kind in lines)


@pytest.mark.claude
def test_a_researcher_cannot_lift_its_web_bound(claude_cli, sandbox, tmp_path, monkeypatch):
    """The user's settings turn hooks off, and the Researcher tries to wipe the hook's
    count: the bound's settings win over the user's, and its shell runs checks only."""
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    settings.write_text(json.dumps({"disableAllHooks": True}))
    project = tmp_path / "project"  # beside the CLI's home, which the sandbox must not hide
    project.mkdir()
    script = [
        {"tool_use": [{"name": "WebSearch", "input": {"query": "first"}}]},
        {"tool_use": [{"name": "Bash", "input": {"command": 'rm -rf "$HOME/web"'}}]},
        {"tool_use": [{"name": "WebSearch", "input": {"query": "second"}}]},
        final(FINDINGS),
    ]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result, _ = research(project, claude_cli, Budget(web_searches=1))
    assert result.ok, result.error
    assert server.web_searches == ["first"]
    _, wiped, second = tool_results(server.main_requests[-1])
    assert wiped[0] and refused_by_claude(wiped[1]), wiped
    assert second[0] and "WebSearch: the bound of 1" in second[1], second


def test_an_agent_past_its_web_bound_is_stopped(tmp_path) -> None:
    """Should the hook not hold (a CLI that ignores it), the runtime counts the web calls
    that ran on its own side and stops the agent at the first past the bound."""
    events = [
        {"type": "system", "subtype": "init", "session_id": "s", "tools": ["WebSearch"]},
        *(
            event
            for n in (1, 2)
            for event in (
                {
                    "type": "assistant",
                    "message": {
                        "content": [
                            {"type": "tool_use", "id": f"t{n}", "name": "WebSearch", "input": {}}
                        ]
                    },
                },
                {
                    "type": "user",
                    "message": {
                        "content": [
                            {"type": "tool_result", "tool_use_id": f"t{n}", "content": "found"}
                        ]
                    },
                },
            )
        ),
    ]
    cli = tmp_path / "claude"
    cli.write_text(
        f"#!{sys.executable}\nimport json, time\n"
        f"for event in {events!r}:\n    print(json.dumps(event), flush=True)\n"
        "time.sleep(60)  # a run that would go on searching\n"
    )
    cli.chmod(0o755)
    context = AgentContext(budget=Budget(web_searches=1))
    started = time.monotonic()
    result, _ = run_role(Role.RESEARCHER, tmp_path, AgentsConfig(claude=str(cli)), context=context)
    assert not result.ok
    assert result.error == "WebSearch ran 2 times, past its bound of 1; the agent was stopped"
    assert time.monotonic() - started < 30 and processes_in(tmp_path) == []


@pytest.mark.claude
def test_each_role_s_tools_match_its_sandbox(claude_cli, sandbox, make_repo, monkeypatch):
    root = make_repo(FIXABLE)
    config = AgentsConfig(claude=str(claude_cli))
    jail = Sandbox("auto")

    def bash(command: str) -> dict:
        return {"tool_use": [{"name": "Bash", "input": {"command": command}}]}

    script = [
        bash("touch reviewer-was-here"),  # not a check: refused
        bash("git log --output=reviewer-log.txt"),  # a check that writes: the tree is read-only
        bash("git status"),
        final(REVIEW),
        final({"summary": "Nothing to do.", "files_changed": [], "commit_message": "-"}),
    ]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        reviewed, _ = run_role(Role.REVIEWER, root, config, jail)
        built, _ = run_role(Role.BUILDER, root, config, jail)
    assert reviewed.ok and built.ok, (reviewed.error, built.error)
    review_call, *_, review_end, build_call = server.main_requests
    # Sandboxed, the Reviewer may run checks: a shell for those only, in a tree it cannot
    # write.
    assert offered(review_call) == {"Read", "Glob", "Grep", "Bash"}
    refused, read_only, status = tool_results(review_end)
    assert refused[0] and refused_by_claude(refused[1]), refused
    assert read_only[0] and "Read-only file system" in read_only[1], read_only
    assert not status[0] and "On branch" in status[1], status
    assert not (root / "reviewer-was-here").exists()
    assert not (root / "reviewer-log.txt").exists()
    assert {"Read", "Edit", "Write", "Bash", "Glob", "Grep"} <= offered(build_call)
    assert not offered(build_call) & {"WebSearch", "WebFetch", "Agent"}


@pytest.mark.claude
def test_malformed_json_is_repaired_in_one_turn_of_the_same_session(
    claude_cli, tmp_path, monkeypatch
) -> None:
    script = [{"text": "Approved, it looks fine."}, final(REVIEW, "")]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result, lines = run_role(Role.REVIEWER, tmp_path, AgentsConfig(claude=str(claude_cli)))
    assert result.ok, result.error
    first, repair = server.main_requests
    assert len(repair["body"]["messages"]) > len(first["body"]["messages"])
    asked = json.dumps(repair["body"]["messages"][-1])
    assert "```json block alone" in asked
    assert any("asking for the JSON block once more" in line for line, _ in lines)
    assert result.usage.turns == 2


@pytest.mark.claude
def test_json_still_missing_after_the_repair_is_an_agent_error(
    claude_cli, tmp_path, monkeypatch
) -> None:
    script = [{"text": "No JSON."}, {"text": "Still none."}]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result, _ = run_role(Role.REVIEWER, tmp_path, AgentsConfig(claude=str(claude_cli)))
    assert not result.ok
    assert result.error.startswith("malformed result after a repair turn")


@pytest.mark.claude
def test_a_hung_response_is_killed_at_the_limit_and_leaves_no_process(
    claude_cli, tmp_path, monkeypatch
) -> None:
    with FakeAnthropic([{"hang": True}]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result, _ = run_role(
            Role.REVIEWER,
            tmp_path,
            AgentsConfig(claude=str(claude_cli)),
            inactivity_timeout=3.0,
            wall_timeout=60.0,
        )
        assert not result.ok and result.error == "no output for 3s; the agent was stopped"
        assert processes_in(tmp_path) == []


@pytest.mark.claude
def test_api_errors_are_retried_then_reported_in_one_line(claude_cli, tmp_path, monkeypatch):
    overloaded = {
        "error": {"status": 529, "type": "overloaded_error", "message": "Overloaded"},
        "times": 10,
    }
    with FakeAnthropic([overloaded]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        config = AgentsConfig(claude=str(claude_cli), retries=1, retry_backoff=0)
        result, lines = run_role(Role.REVIEWER, tmp_path, config)
    assert not result.ok
    assert result.error.startswith("Claude Code: api_error (529)")
    assert len(server.main_requests) == 2  # the first try and one retry of ours
    assert any("transient API error; trying again" in line for line, _ in lines)


@pytest.mark.claude
def test_a_builder_edit_in_the_worktree_is_committed_and_kept(
    claude_cli, make_repo, monkeypatch
) -> None:
    root = make_repo(FIXABLE)
    claude_config(root)
    edit = {
        "name": "Edit",
        "input": {"file_path": "calc/core.py", "old_string": "import os\n\n\n", "new_string": ""},
    }
    script = [
        final(
            {
                "summary": "One unused import.",
                "findings": [
                    {
                        "title": "unused import",
                        "detail": "os is unused",
                        "area": "lint",
                        "evidence": "calc/core.py:1",
                    }
                ],
            }
        ),
        final(
            {
                "hypotheses": [
                    {
                        "title": "Remove the unused import from calc/core.py",
                        "rationale": "ruff flags F401 in calc/core.py",
                        "expected_gain": 0.05,
                        "effort": "S",
                        "files": ["calc/core.py"],
                    }
                ]
            }
        ),
        {"text": "Removing it.", "tool_use": [edit]},
        final(
            {
                "summary": "Removed `import os`.",
                "files_changed": ["calc/core.py"],
                "commit_message": "Remove the unused import from calc/core.py",
            }
        ),
        final(REVIEW),
        final({"note": "# exp-0001\n\nKept.", "lessons": ["Unused imports are safe wins."]}),
    ]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result = run_factory("ceo", str(root), "--headless", "--cycles", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    [experiment] = Store(root).experiments()
    assert experiment.status == "kept", experiment.verdict
    assert "import os" not in (root / "calc" / "core.py").read_text()
    assert git.Repo(root).head.commit.message.startswith("Remove the unused import")
    assert experiment.usage["builder"].turns == 2 and experiment.cost_usd > 0
    builder_log = Store(root).agent_log_path("exp-0001", "builder").read_text()
    assert "Edit calc/core.py" in builder_log
    assert "$" in result.stdout and "exp-0001 KEPT" in result.stdout
    assert len(server.main_requests) == 6


@pytest.mark.claude
def test_two_cycles_end_to_end_with_the_claude_runtime(claude_cli, make_repo, monkeypatch):
    root = make_repo(FIXABLE)
    claude_config(root)

    def cycle(title: str, edit: dict, summary: str) -> list[dict]:
        return [
            final({"summary": "Scanned.", "findings": []}),
            final(
                {
                    "hypotheses": [
                        {
                            "title": title,
                            "rationale": "it helps the project now",
                            "expected_gain": 0.05,
                            "effort": "S",
                        }
                    ]
                }
            ),
            {"text": "Editing.", "tool_use": [edit]},
            final(
                {
                    "summary": summary,
                    "files_changed": [edit["input"]["file_path"]],
                    "commit_message": title,
                }
            ),
            final(REVIEW),
            final({"note": f"# {title}", "lessons": []}),
        ]

    script = [
        *cycle(
            "Remove the unused import from calc/core.py",
            {
                "name": "Edit",
                "input": {
                    "file_path": "calc/core.py",
                    "old_string": "import os\n\n\n",
                    "new_string": "",
                },
            },
            "Removed it.",
        ),
        *cycle(
            "Add a subtraction helper with a test",
            {
                "name": "Write",
                "input": {
                    "file_path": "calc/sub.py",
                    "content": "def sub(a, b):\n    return a - b\n",
                },
            },
            "Added calc/sub.py.",
        ),
    ]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result = run_factory("ceo", str(root), "--headless", "--cycles", "2", "--max-cost", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    experiments = Store(root).experiments()
    assert [e.hypothesis.title for e in experiments] == [
        "Remove the unused import from calc/core.py",
        "Add a subtraction helper with a test",
    ]
    assert experiments[0].status == "kept"
    assert experiments[1].status in ("kept", "reverted")
    assert "run completed" in result.stdout and "$" in result.stdout
    assert len(server.main_requests) == 12
    assert (root / "calc" / "sub.py").exists() == (experiments[1].status == "kept")


@pytest.mark.claude
def test_max_cost_stops_the_run_cleanly(claude_cli, make_repo, monkeypatch) -> None:
    root = make_repo(FIXABLE)
    claude_config(root)
    script = [final({"summary": "Scanned.", "findings": []})]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result = run_factory(
            "ceo", str(root), "--headless", "--cycles", "3", "--max-cost", "0.000001"
        )
    assert result.returncode == 0, result.stderr
    assert "run budget" in result.stdout
    assert "cost limit of $0.000001 is spent" in result.stdout  # the digits it needs
    assert len(server.main_requests) == 1  # nothing started after the limit was spent
    assert Store(root).experiments() == []
    assert git.Repo(root).git.status("--porcelain") == ""


def test_doctor_finds_the_cli_the_way_the_runtime_does(claude_cli, make_repo) -> None:
    """Not on PATH: doctor says where one is and how to point the runtime at it; named in
    the project's config: found, as the runtime would find it."""
    root = make_repo({"README.md": "# hi\n"})
    bare = run_factory("doctor", str(root), env={"PATH": "/usr/bin:/bin"})
    assert "'claude' not found on PATH" in bare.stdout
    assert str(claude_cli) in bare.stdout and "[agents]" in bare.stdout
    claude_config(root)
    named = run_factory("doctor", str(root), env={"PATH": "/usr/bin:/bin"})
    assert any(line.startswith("✓ claude ") for line in named.stdout.splitlines())
    assert str(claude_cli) in named.stdout.replace("\n", "")


@pytest.mark.claude
def test_the_strategist_is_told_the_scorecard_and_why_experiments_were_reverted(
    claude_cli, make_repo, monkeypatch
) -> None:
    """Cycle 1's change breaks a test and is reverted; cycle 2's Strategist, through the
    real CLI, is given the base's scorecard (each dimension's raw counts) and that reason."""
    root = make_repo(FIXABLE)
    claude_config(root)
    # An answer every role's contract accepts (each reads its own fields): the roles after
    # the Builder run in whatever order the cycle takes them.
    anything = final(
        {
            "summary": "Looked.",
            "findings": [],
            "hypotheses": [],
            "verdict": "approve",
            "concerns": [],
            "failures": [],
            "note": "# note",
            "lessons": [],
        }
    )
    breaking = {
        "name": "Edit",
        "input": {
            "file_path": "calc/core.py",
            "old_string": "return a + b",
            "new_string": "return a - b",
        },
    }
    script = [
        anything,
        final(
            {
                "hypotheses": [
                    {
                        "title": "Make add subtract",
                        "rationale": "a bad idea, to be reverted",
                        "expected_gain": 0.02,
                        "predicted": {"tests": 0.1},
                        "files": ["calc/core.py"],
                    }
                ]
            }
        ),
        {"text": "Editing.", "tool_use": [breaking]},
        final(
            {
                "summary": "add now subtracts.",
                "files_changed": ["calc/core.py"],
                "commit_message": "Make add subtract",
            }
        ),
        {**anything, "times": 12},
    ]
    with FakeAnthropic(script) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        result = run_factory("ceo", str(root), "--headless", "--cycles", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    [experiment] = Store(root).experiments()
    assert experiment.status == "reverted"
    strategists = [
        r for r in server.main_requests if "You are the Strategist" in json.dumps(r["body"])
    ]
    assert len(strategists) == 2
    told = json.dumps(strategists[1]["body"]["messages"])
    # The scorecard as a table of every dimension with its raw counts...
    assert "| dimension | tier | score | weight | raw counts | noise floor | why |" in told
    for dimension in experiment.before.dimensions:
        assert f"| {dimension.name} |" in told
    assert "passed=1" in told
    # ...how the verdict is reached, and the reverted experiment with why and what it
    # predicted against what was measured.
    assert "How the verdict is reached" in told
    assert "exp-0001 Make add subtract" in told
    assert f"reason: {experiment.verdict.reason}"[:60] in told
    assert "now failing: tests.test_core::test_add" in told
    assert "predicted: tests +0.1000 (measured -1.0000)" in told
