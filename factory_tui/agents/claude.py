"""The Claude Code runtime: each role is a headless `claude -p` run.

`claude -p TASK --output-format stream-json --verbose`, with the role's prompt and playbook
through `--append-system-prompt`, the model and turn limit from config, and the role's tool
permissions: the Builder edits and runs commands in its worktree (`acceptEdits` and an
allowed-tools list), every other role has read-only tools only. Nothing here asks for a
permission interactively. Every launch runs in the sandbox, with a home of the run's own
that holds a copy of the user's Claude Code login and settings.

A result without a valid JSON block gets one repair turn in the same session (`--resume`);
transient API errors are retried with backoff; a run past its inactivity or wall-clock limit
is ended (SIGTERM, then SIGKILL), and its whole process group with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
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
# Claude Code ends its own tool processes on SIGTERM; give it time before SIGKILL.
KILL_GRACE = 10.0
INSTALL_HINT = "install it with `npm install -g @anthropic-ai/claude-code`, or set [agents] claude"


def permission_flags(role: Role) -> list[str]:
    """The tools a role has at all (`--tools`), not only those it may use unasked: a role
    that reads is given no tool that writes, runs commands or starts another agent."""
    if role is Role.BUILDER:
        return [
            *("--tools", BUILDER_TOOLS),
            *("--permission-mode", "acceptEdits", "--allowedTools", BUILDER_TOOLS),
        ]
    return [
        *("--tools", READ_ONLY_TOOLS),
        *("--allowedTools", READ_ONLY_TOOLS, "--disallowedTools", WRITE_TOOLS),
    ]


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
        weakref.finalize(self, shutil.rmtree, self.home, True)

    def argv(self, request: AgentRequest, prompt: str, session: str | None = None) -> list[str]:
        settings = self.config.for_role(request.role.value)
        argv = [
            self.config.claude,
            "-p",
            prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--max-turns",
            str(settings.max_turns if session is None else 2),
            *permission_flags(request.role),
        ]
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

        async def once() -> Attempt:
            nonlocal usage
            attempt = await self._attempt(request, self.argv(request, prompt), emit)
            usage += attempt.reader.usage
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
                request, self.argv(request, repair_prompt(request.role, str(error)), session), emit
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

    async def _attempt(self, request: AgentRequest, argv: list[str], emit: Emit) -> Attempt:
        reader = StreamReader(cwd=request.cwd)

        def on_line(line: str) -> None:
            for text, kind in reader.feed(line):
                emit(text, kind)

        emit("$ " + display(argv), "info")
        view = replace(request.sandbox_view(), home=self.home, env=self.env)
        jailed, env = self.sandbox.wrap(argv, request.cwd, view)
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
        return Attempt(reader, result.returncode, result.stderr, result.timed_out)

    def _failure(self, request: AgentRequest, attempt: Attempt) -> str | None:
        """One clear line for whatever stopped the run, or None when it finished well."""
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
    """The command line as shown in the pane: prompts elided, everything else as run."""
    shown, hide_next = [Path(argv[0]).name], False
    for arg in argv[1:]:
        shown.append("…" if hide_next else arg)
        hide_next = arg in ("-p", "--append-system-prompt")
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
