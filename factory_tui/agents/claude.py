"""The Claude Code runtime: each role is a headless `claude -p` run.

`claude -p TASK --output-format stream-json --verbose`, with the role's prompt and playbook
through `--append-system-prompt`, the model and turn limit from config, and the role's tool
permissions: the Builder edits and runs commands in its worktree (`acceptEdits` and an
allowed-tools list); every other role reads, and the Researcher, Reviewer and Failure
Analyst also get a shell where the sandbox keeps their tree read-only. The Researcher has
WebSearch and WebFetch, each bounded per agent run by a PreToolUse hook that denies the
calls past the bound (and, should the agent reset the hook's count, by the runtime, which
stops it). Nothing here asks for a permission interactively. Every launch runs in the
sandbox, with a home of the run's own that holds a copy of the user's Claude Code login and
settings.

A result without a valid JSON block gets one repair turn in the same session (`--resume`);
transient API errors are retried with backoff; a run past its inactivity or wall-clock limit
is ended (SIGTERM, then SIGKILL), and its whole process group with it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import time
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from factory_tui.engine.config import AgentsConfig
from factory_tui.engine.errors import UsageError
from factory_tui.engine.models import AgentUsage, Role
from factory_tui.engine.process import stream_process
from factory_tui.engine.sandbox import Sandbox

from .base import AgentRequest, AgentRun, Emit, ModelRuntime
from .contracts import CONTRACTS, Contract, ContractError, parse_result
from .prompts import system_prompt, task_message
from .stream_json import StreamReader

BUILDER_TOOLS = "Read,Edit,MultiEdit,Write,Glob,Grep,LS,Bash,TodoWrite"
READ_ONLY_TOOLS = "Read,Glob,Grep,LS"
WRITE_TOOLS = "Edit,MultiEdit,Write,NotebookEdit,Bash,Agent,Task"
# Roles that may run commands (tests, linters) where the sandbox keeps their tree read-only.
SHELL_ROLES = frozenset({Role.RESEARCHER, Role.REVIEWER, Role.FAILURE_ANALYST})
# What those roles' shell may run: checks that read (the tests, the linter, the history).
# Anything else is refused by Claude Code itself, so a role told to fetch or copy something
# by a page it read cannot, though its sandbox needs the network for the model.
CHECK_COMMANDS = (
    "pytest",
    "python -m pytest",
    "python3 -m pytest",
    "ruff check",
    "ruff format --check",
    "git diff",
    "git log",
    "git show",
    "git status",
)
# The web tools, each with the Budget field that bounds its uses in one agent run.
WEB_TOOLS = {"WebSearch": "web_searches", "WebFetch": "web_pages"}
# Claude Code ends its own tool processes on SIGTERM; give it time before SIGKILL.
KILL_GRACE = 10.0
INSTALL_HINT = "install it with `npm install -g @anthropic-ai/claude-code`, or set [agents] claude"
# A PreToolUse hook: counts one use in the file $1 and denies it past the bound $2, which
# Claude Code hands back to the model as the tool's error. Appending, then counting, errs
# towards denying when two calls race; a count it cannot keep denies too (exit 2).
WEB_BOUND_HOOK = """\
mkdir -p "$(dirname "$1")" && echo x >> "$1" || { echo "$3: cannot count calls" >&2; exit 2; }
n=$(wc -l < "$1") && n=$((n)) || { echo "$3: cannot count calls" >&2; exit 2; }
if [ "$n" -gt "$2" ]; then
  printf '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",\
"permissionDecisionReason":"%s: the bound of %s a run is reached; work with what you have"}}' \
    "$3" "$2"
fi
"""


def role_tools(role: Role, shell: bool = False, web: Mapping[str, int] | None = None) -> str:
    """The tools a role has: the Builder's for editing; for the rest, reading tools, a shell
    where `shell` (a sandbox that keeps the tree read-only), and for the Researcher each web
    tool with a bound above zero."""
    if role is Role.BUILDER:
        return BUILDER_TOOLS
    tools = READ_ONLY_TOOLS.split(",")
    if shell and role in SHELL_ROLES:
        tools.append("Bash")
    if role is Role.RESEARCHER:
        tools += [name for name in WEB_TOOLS if (web or {}).get(name, 0) > 0]
    return ",".join(tools)


def permission_flags(
    role: Role,
    shell: bool = False,
    web: Mapping[str, int] | None = None,
    python: str | None = None,
) -> list[str]:
    """The tools a role has at all (`--tools`), not only those it may use unasked: a role
    that reads is given no tool that writes or starts another agent, and no shell unless
    its sandbox makes the tree read-only; that shell runs CHECK_COMMANDS only (and the
    tests under `python`, the interpreter the eval uses)."""
    tools = role_tools(role, shell, web)
    if role is Role.BUILDER:
        return [
            *("--tools", tools),
            *("--permission-mode", "acceptEdits", "--allowedTools", tools),
        ]
    given = tools.split(",")
    allowed = [tool for tool in given if tool != "Bash"]
    if "Bash" in given:
        commands = [*CHECK_COMMANDS, *([f"{python} -m pytest"] if python else [])]
        allowed += [f"Bash({command}:*)" for command in commands]
    denied = ",".join(t for t in WRITE_TOOLS.split(",") if t not in given)
    return [
        *("--tools", tools),
        *("--allowedTools", *allowed),
        *("--disallowedTools", denied),
    ]


def web_bounds(request: AgentRequest) -> dict[str, int]:
    """Each web tool's bound for this run (the Researcher's budget; zero for the rest)."""
    if request.role is not Role.RESEARCHER:
        return {}
    budget = request.context.budget
    return {tool: getattr(budget, field) for tool, field in WEB_TOOLS.items()}


def hook_settings(hook: Path, counters: Path, bounds: Mapping[str, int]) -> str:
    """`--settings` JSON with a PreToolUse hook per bounded web tool."""
    matchers = [
        {
            "matcher": tool,
            "hooks": [
                {
                    "type": "command",
                    "command": shlex.join(
                        ["sh", str(hook), str(counters / tool), str(bound), tool]
                    ),
                }
            ],
        }
        for tool, bound in bounds.items()
        if bound > 0
    ]
    # Set here, over any settings the user's home brings: hooks turned off there must not
    # turn off the bound.
    return json.dumps({"disableAllHooks": False, "hooks": {"PreToolUse": matchers}})


class WebBoundPassed(Exception):
    """More web calls ran than the bound allows: the hook's count was tampered with."""


def repair_prompt(role: Role, error: str) -> str:
    fields = ", ".join(CONTRACTS[role].model_fields)
    return (
        f"Your final message did not end with a valid result ({error}). Reply with the "
        f"```json block alone, with the fields {fields}, exactly as your instructions "
        f"describe. No other text."
    )


@dataclass
class Attempt:
    reader: StreamReader
    returncode: int
    stderr: str
    timed_out: str | None
    stopped: str | None = None  # why the runtime stopped the agent itself


class ClaudeRuntime(ModelRuntime):
    name = "claude"

    def __init__(self, config: AgentsConfig, sandbox: Sandbox | None = None) -> None:
        self.config = config
        self.sandbox = sandbox or Sandbox("off")
        # A home of the run's own, kept between launches (a repair turn resumes a session
        # stored there): the user's Claude Code login and settings are copied in, and
        # nothing an agent writes reaches the user's own configuration.
        self.home = Path(tempfile.mkdtemp(prefix="factory-agent-home-"))
        self.env = agent_home(self.home)
        # The web-bound hook lives outside the home, where the sandbox shows it read-only.
        self.hooks = Path(tempfile.mkdtemp(prefix="factory-agent-hooks-"))
        self.hook = self.hooks / "web-bound.sh"
        self.hook.write_text(WEB_BOUND_HOOK, encoding="utf-8")
        weakref.finalize(self, shutil.rmtree, self.home, True)
        weakref.finalize(self, shutil.rmtree, self.hooks, True)

    def argv(
        self,
        request: AgentRequest,
        prompt: str,
        session: str | None = None,
        counters: Path | None = None,
    ) -> list[str]:
        """The command line; `counters` is the folder where this agent run's web calls
        are counted (a repair turn shares its run's)."""
        settings = self.config.for_role(request.role.value)
        bounds = web_bounds(request)
        argv = [
            self.config.claude,
            "-p",
            prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--max-turns",
            str(settings.max_turns if session is None else 2),
            *permission_flags(
                request.role, self.sandbox.enabled, bounds, request.context.python or None
            ),
        ]
        if any(bound > 0 for bound in bounds.values()):
            folder = counters or self.home / "web" / "unnamed"
            folder.mkdir(parents=True, exist_ok=True)
            argv += ["--settings", hook_settings(self.hook, folder, bounds)]
        if session is None:
            argv += ["--append-system-prompt", system_prompt(request.role, request.context)]
        else:
            argv += ["--resume", session]
        if settings.model:
            argv += ["--model", settings.model]
        return argv

    async def run(self, request: AgentRequest, emit: Emit) -> AgentRun[Contract]:
        started = time.monotonic()
        usage = AgentUsage()
        prompt = task_message(request.role, request.context)
        # A folder no one could have made before this run: the home is the agents' to write.
        (self.home / "web").mkdir(exist_ok=True)
        counters = Path(tempfile.mkdtemp(prefix="run-", dir=self.home / "web"))
        spent: Counter[str] = Counter()  # web calls that ran, over every attempt of this run

        async def once() -> Attempt:
            nonlocal usage
            argv = self.argv(request, prompt, None, counters)
            attempt = await self._attempt(request, argv, emit, spent)
            usage += attempt.reader.usage
            spent.update(attempt.reader.completed)
            return attempt

        def say_retry(state: RetryCallState) -> None:
            wait = state.next_action.sleep if state.next_action else 0.0
            emit(
                f"transient API error; trying again in {wait:.0f}s "
                f"({state.attempt_number}/{self.config.retries})",
                "error",
            )

        # A transient API error (overloaded, rate limited) is tried again, waiting
        # retry_backoff seconds and doubling; after the last try its result stands.
        retrying = AsyncRetrying(
            retry=retry_if_result(lambda a: a.reader.is_error and a.reader.transient),
            stop=stop_after_attempt(self.config.retries + 1),
            wait=wait_exponential(multiplier=self.config.retry_backoff),
            before_sleep=say_retry,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        try:
            attempt: Attempt = await retrying(once)
        except FileNotFoundError:
            return AgentRun(
                request.role,
                error=f"the Claude Code CLI ({self.config.claude}) is not installed: "
                f"{INSTALL_HINT}",
            )
        failure = self._failure(request, attempt)
        if failure:
            return self._done(request, usage, started, attempt, error=failure)
        try:
            output = parse_result(request.role, attempt.reader.final_text)
        except ContractError as error:
            session = attempt.reader.session_id
            if session is None:
                return self._done(request, usage, started, attempt, error=str(error))
            emit(f"malformed result ({error}); asking for the JSON block once more", "error")
            repair = await self._attempt(
                request,
                self.argv(request, repair_prompt(request.role, str(error)), session, counters),
                emit,
                spent,
            )
            usage += repair.reader.usage
            failure = self._failure(request, repair)
            if failure:
                return self._done(request, usage, started, repair, error=failure)
            try:
                output = parse_result(request.role, repair.reader.final_text)
            except ContractError as again:
                return self._done(
                    request,
                    usage,
                    started,
                    repair,
                    error=f"malformed result after a repair turn: {again}",
                )
            attempt = repair
        return self._done(request, usage, started, attempt, output=output)

    async def _attempt(
        self,
        request: AgentRequest,
        argv: list[str],
        emit: Emit,
        spent: Counter[str],
    ) -> Attempt:
        """One launch; `spent` counts the web calls earlier attempts of the run made."""
        reader = StreamReader(cwd=request.cwd)
        bounds = web_bounds(request)

        def on_line(line: str) -> None:
            for text, kind in reader.feed(line):
                emit(text, kind)
            # The hook holds the bound; this holds it should the hook not (a CLI that
            # ignores it, a count reset), on calls that ran, counted on this side.
            for tool, bound in bounds.items():
                ran = spent[tool] + reader.completed[tool]
                if ran > bound:
                    raise WebBoundPassed(
                        f"{tool} ran {ran} times, past its bound of {bound}; the agent was stopped"
                    )

        emit("$ " + display(argv), "info")
        view = request.sandbox_view()
        view = replace(view, home=self.home, env=self.env, readable=(*view.readable, self.hooks))
        jailed, env = self.sandbox.wrap(argv, request.cwd, view)
        try:
            result = await stream_process(
                jailed,
                request.cwd,
                on_line,
                env=env,
                wall_timeout=request.wall_timeout,
                inactivity_timeout=request.inactivity_timeout,
                merge_stderr=False,
                kill_grace=KILL_GRACE,
            )
        except WebBoundPassed as passed:
            emit(str(passed), "error")
            return Attempt(reader, -1, "", None, stopped=str(passed))
        return Attempt(reader, result.returncode, result.stderr, result.timed_out)

    def _failure(self, request: AgentRequest, attempt: Attempt) -> str | None:
        """One clear line for whatever stopped the run, or None when it finished well."""
        if attempt.stopped:
            return attempt.stopped
        if attempt.timed_out == "inactivity":
            return f"no output for {request.inactivity_timeout:.0f}s; the agent was stopped"
        if attempt.timed_out == "wall":
            return f"still running after {request.wall_timeout:.0f}s; the agent was stopped"
        reader = attempt.reader
        if reader.is_error:
            return f"Claude Code: {reader.error}"
        if attempt.returncode != 0 or reader.result is None:
            detail = _last_line(attempt.stderr) or _last_line("\n".join(reader.plain))
            return f"claude exited with status {attempt.returncode} without a result" + (
                f": {detail}" if detail else ""
            )
        return None

    def _done(
        self,
        request: AgentRequest,
        usage: AgentUsage,
        started: float,
        attempt: Attempt,
        output: Contract | None = None,
        error: str | None = None,
    ) -> AgentRun[Contract]:
        usage = usage.model_copy(update={"duration_s": time.monotonic() - started})
        return AgentRun(
            request.role,
            output=output,
            error=error,
            usage=usage,
            session_id=attempt.reader.session_id,
        )


def display(argv: list[str]) -> str:
    """The command line as shown in the pane: prompts and the hooks' settings elided,
    everything else as run."""
    shown, hide_next = [Path(argv[0]).name], False
    for arg in argv[1:]:
        shown.append("…" if hide_next else arg)
        hide_next = arg in ("-p", "--append-system-prompt", "--settings")
    return " ".join(shown)


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")[:200]


def agent_home(home: Path) -> dict[str, str]:
    """Fill a private home with the user's Claude Code login and settings; returns the
    environment that points Claude Code at it."""
    config_dir = os.environ.get("CLAUDE_CONFIG_DIR")
    source = Path(config_dir) if config_dir else Path.home() / ".claude"
    target = home / ".claude"
    target.mkdir(parents=True, exist_ok=True)
    for name in (".credentials.json", "settings.json", ".claude.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    if not config_dir and (Path.home() / ".claude.json").is_file():
        shutil.copy2(Path.home() / ".claude.json", home / ".claude.json")
    env = {"HOME": str(home)}
    if config_dir:
        env["CLAUDE_CONFIG_DIR"] = str(target)
    return env


def claude_version(binary: str) -> str | None:
    """`claude --version`, or None when it cannot run."""
    import subprocess

    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def claude_credentials() -> str | None:
    """Where Claude Code would find credentials: an API key, or a login."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "ANTHROPIC_API_KEY"
    if os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return "CLAUDE_CODE_OAUTH_TOKEN"
    config = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    if (config / ".credentials.json").exists():
        return f"a login in {config}"
    return None


def installed_elsewhere() -> list[str]:
    """Claude Code CLIs installed where the runtime does not look unless told: the one
    `make tools` installs beside this checkout, npm's user prefix, the native installer."""
    checkout = Path(__file__).resolve().parents[2]
    candidates = [
        Path.cwd() / ".tools" / "node_modules" / ".bin" / "claude",
        checkout / ".tools" / "node_modules" / ".bin" / "claude",
        Path.home() / ".npm-global" / "bin" / "claude",
        Path.home() / ".local" / "bin" / "claude",
        Path.home() / ".claude" / "local" / "claude",
    ]
    return list(dict.fromkeys(str(p) for p in candidates if p.is_file() and os.access(p, os.X_OK)))


def require_cli(claude: str) -> None:
    """UsageError, before anything starts, when the CLI the runtime would run is missing."""
    if shutil.which(claude) is not None:
        return
    elsewhere = installed_elsewhere()
    hint = (
        f'one is installed at {elsewhere[0]}: set claude = "{elsewhere[0]}" under [agents] '
        "in .factory/config.toml"
        if elsewhere
        else INSTALL_HINT
    )
    raise UsageError(f"the Claude Code CLI ({claude!r}) was not found: {hint}")
