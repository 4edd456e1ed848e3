"""The command runtime: any agent CLI given as an argument template.

`command = "aider --yes --message-file {prompt_file}"` in `[agents]`; the placeholders are
`{prompt}`, `{prompt_file}`, `{cwd}` and `{role}`. Stdout is streamed line by line, and the
output must end with the role's ```json block, as for every runtime.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from factory_tui.engine.config import AgentsConfig
from factory_tui.engine.errors import UsageError
from factory_tui.engine.models import AgentUsage
from factory_tui.engine.process import stream_process
from factory_tui.engine.sandbox import Sandbox

from .base import AgentRequest, AgentRun, Emit, ModelRuntime
from .contracts import Contract, ContractError, parse_result
from .prompts import system_prompt, task_message

PLACEHOLDERS = ("{prompt}", "{prompt_file}", "{cwd}", "{role}")


class CommandRuntime(ModelRuntime):
    name = "command"

    def __init__(self, config: AgentsConfig, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox or Sandbox("off")
        if not config.command or not config.command.strip():
            raise UsageError(
                'the command runtime needs `command = "..."` under [agents] in .factory/config.toml'
            )
        try:
            self.template = shlex.split(config.command)
        except ValueError as error:
            raise UsageError(f"[agents] command: {error}") from None
        self.config = config

    def argv(self, prompt: str, prompt_file: Path, cwd: Path, role: str) -> list[str]:
        values = {
            "{prompt}": prompt,
            "{prompt_file}": str(prompt_file),
            "{cwd}": str(cwd),
            "{role}": role,
        }
        argv = []
        for part in self.template:
            for key, value in values.items():
                part = part.replace(key, value)
            argv.append(part)
        return argv

    async def run(self, request: AgentRequest, emit: Emit) -> AgentRun[Contract]:
        started = time.monotonic()
        prompt = (
            system_prompt(request.role, request.context)
            + "\n\n"
            + task_message(request.role, request.context)
        )
        lines: list[str] = []

        def on_line(line: str) -> None:
            lines.append(line)
            emit(line, "text")

        with tempfile.TemporaryDirectory(prefix="factory-prompt-") as scratch:
            prompt_file = Path(scratch) / f"{request.role.value}.md"
            prompt_file.write_text(prompt, encoding="utf-8")
            argv = self.argv(prompt, prompt_file, request.cwd, request.role.value)
            env = dict(os.environ, FACTORY_ROLE=request.role.value)
            view = request.sandbox_view()
            view = replace(view, readable=(*view.readable, Path(scratch)))
            jailed, env = self.sandbox.wrap(argv, request.cwd, view, env)
            try:
                result = await stream_process(
                    jailed,
                    request.cwd,
                    on_line,
                    env=env,
                    wall_timeout=request.wall_timeout,
                    inactivity_timeout=request.inactivity_timeout,
                )
            except FileNotFoundError:
                return AgentRun(request.role, error=f"{argv[0]}: command not found")
        usage = AgentUsage(duration_s=time.monotonic() - started, turns=1)
        if result.timed_out == "inactivity":
            return AgentRun(
                request.role,
                usage=usage,
                error=(f"no output for {request.inactivity_timeout:.0f}s; the agent was stopped"),
            )
        if result.timed_out == "wall":
            return AgentRun(
                request.role,
                usage=usage,
                error=(f"still running after {request.wall_timeout:.0f}s; the agent was stopped"),
            )
        if result.returncode != 0:
            last = next((line for line in reversed(lines) if line.strip()), "")
            return AgentRun(
                request.role,
                usage=usage,
                error=(
                    f"{Path(argv[0]).name} exited with status {result.returncode}"
                    + (f": {last.strip()[:200]}" if last else "")
                ),
            )
        try:
            output = parse_result(request.role, "\n".join(lines))
        except ContractError as error:
            return AgentRun(request.role, usage=usage, error=str(error))
        return AgentRun(request.role, output=output, usage=usage)
