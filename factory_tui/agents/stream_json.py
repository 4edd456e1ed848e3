"""Claude Code's `--output-format stream-json` read line by line.

Each line is one JSON event: `system/init` (model, session, tools), one `assistant` event per
content block (text, tool use, thinking), `user` events carrying tool results, `system`
notices (API retries, permission denials) and a final `result` (cost, tokens, turns,
duration, `is_error`). `StreamReader.feed` turns each into readable pane lines and keeps the
run's totals. Unknown event types are ignored: the CLI adds new ones often.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory_tui.engine.models import AgentUsage
from factory_tui.engine.text import money

from .base import OutputKind

RESULT_PREVIEW = 120
TEXT_LINES = 40
TRANSIENT_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}


def shorten(text: str, limit: int = RESULT_PREVIEW) -> str:
    """The first line of `text`, cut to `limit` characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    more = len([line for line in text.splitlines() if line.strip()]) > 1
    if len(first) > limit:
        return first[: limit - 1] + "…"
    return first + (" …" if more else "")


def tool_line(name: str, arguments: dict[str, Any], cwd: Path | None = None) -> str:
    """One readable line for a tool call, e.g. `Edit pkg/core.py` or `$ pytest -q`."""

    def path(key: str = "file_path") -> str:
        value = str(arguments.get(key) or arguments.get("path") or "")
        if cwd is not None and value.startswith(str(cwd) + "/"):
            value = value[len(str(cwd)) + 1 :]
        return value

    if name == "Bash":
        return "$ " + shorten(str(arguments.get("command", "")), 160)
    if name in ("Edit", "MultiEdit", "Write", "Read", "NotebookEdit"):
        return f"{name} {path() or path('notebook_path')}"
    if name in ("Grep", "Glob"):
        where = f" in {path('path')}" if arguments.get("path") else ""
        return f"{name} {arguments.get('pattern', '')}{where}"
    if name in ("WebFetch", "WebSearch"):
        return f"{name} {arguments.get('url') or arguments.get('query', '')}"
    if name in ("Task", "Agent"):
        return (
            f"{name}: {shorten(str(arguments.get('description') or arguments.get('prompt', '')))}"
        )
    if name == "TodoWrite":
        return f"TodoWrite ({len(arguments.get('todos') or [])} items)"
    return f"{name} {shorten(json.dumps(arguments, ensure_ascii=False), 100)}"


@dataclass
class StreamReader:
    """Reads one run's events; `feed` returns the lines to show for each."""

    cwd: Path | None = None
    session_id: str | None = None
    model: str | None = None
    tools: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # every assistant text block, in order
    result: dict[str, Any] | None = None
    plain: list[str] = field(default_factory=list)  # lines that were not JSON
    # Each tool call's name by its id, and how many calls of each name ran without an error
    # (a call denied by a hook or a permission comes back as an error and is not counted).
    calls: dict[str, str] = field(default_factory=dict)
    completed: Counter[str] = field(default_factory=Counter)

    def feed(self, line: str) -> list[tuple[str, OutputKind]]:
        if not line.strip():
            return []
        try:
            event = json.loads(line)
        except ValueError:
            self.plain.append(line)
            return [(line, "text")]
        if not isinstance(event, dict):
            return []
        kind, subtype = event.get("type"), event.get("subtype")
        if kind == "system":
            return self._system(subtype, event)
        if kind == "assistant":
            return self._assistant(event)
        if kind == "user":
            return self._user(event)
        if kind == "result":
            return self._result(event)
        return []

    # -- events ------------------------------------------------------------------------------
    def _system(self, subtype: str | None, event: dict[str, Any]) -> list[tuple[str, OutputKind]]:
        if subtype == "init":
            self.session_id = event.get("session_id")
            self.model = event.get("model")
            self.tools = list(event.get("tools") or [])
            version = event.get("claude_code_version", "?")
            return [
                (
                    f"claude {version} · {self.model} · session {str(self.session_id)[:8]} · "
                    f"{len(self.tools)} tools · {event.get('permissionMode', '')}",
                    "info",
                )
            ]
        if subtype == "api_retry":
            status = event.get("error_status") or "no response"
            delay = (event.get("retry_delay_ms") or 0) / 1000
            return [
                (
                    f"API error ({event.get('error', 'unknown')}, {status}); retry "
                    f"{event.get('attempt')}/{event.get('max_retries')} in {delay:.1f}s",
                    "error",
                )
            ]
        if subtype == "permission_denied":
            return [
                (
                    f"permission denied: {event.get('tool_name')} "
                    f"({shorten(str(event.get('message', '')))})",
                    "error",
                )
            ]
        return []

    def _assistant(self, event: dict[str, Any]) -> list[tuple[str, OutputKind]]:
        message = event.get("message") or {}
        lines: list[tuple[str, OutputKind]] = []
        for block in message.get("content") or []:
            block_type = block.get("type")
            if block_type == "text":
                text = str(block.get("text", ""))
                self.texts.append(text)
                kind: OutputKind = "error" if event.get("is_api_error_message") else "text"
                shown = text.splitlines()
                lines += [(line, kind) for line in shown[:TEXT_LINES]]
                if len(shown) > TEXT_LINES:
                    lines.append((f"… {len(shown) - TEXT_LINES} more lines", "info"))
            elif block_type == "tool_use":
                self.calls[str(block.get("id"))] = str(block.get("name"))
                lines.append(
                    (tool_line(str(block.get("name")), block.get("input") or {}, self.cwd), "tool")
                )
        return lines

    def _user(self, event: dict[str, Any]) -> list[tuple[str, OutputKind]]:
        content = (event.get("message") or {}).get("content")
        lines: list[tuple[str, OutputKind]] = []
        if not isinstance(content, list):
            return lines
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            result = block.get("content")
            if isinstance(result, list):
                result = " ".join(
                    str(part.get("text", "")) for part in result if isinstance(part, dict)
                )
            if not block.get("is_error"):
                self.completed[self.calls.get(str(block.get("tool_use_id")), "")] += 1
            text = shorten(str(result or ""))
            lines.append((f"  → {text}", "error" if block.get("is_error") else "info"))
        return lines

    def _result(self, event: dict[str, Any]) -> list[tuple[str, OutputKind]]:
        self.result = event
        usage = self.usage
        if event.get("is_error"):
            return [(f"✗ {self.error}", "error")]
        return [
            (
                f"✓ done: {usage.turns} turn(s), {usage.tokens:,} tokens, "
                f"{money(usage.cost_usd)}, {usage.duration_s:.1f}s",
                "result",
            )
        ]

    # -- totals ------------------------------------------------------------------------------
    @property
    def usage(self) -> AgentUsage:
        event = self.result or {}
        tokens = event.get("usage") or {}
        return AgentUsage(
            cost_usd=float(event.get("total_cost_usd") or 0.0),
            input_tokens=int(tokens.get("input_tokens") or 0)
            + int(tokens.get("cache_creation_input_tokens") or 0)
            + int(tokens.get("cache_read_input_tokens") or 0),
            output_tokens=int(tokens.get("output_tokens") or 0),
            turns=int(event.get("num_turns") or 0),
            duration_s=float(event.get("duration_ms") or 0) / 1000,
        )

    @property
    def is_error(self) -> bool:
        return bool(self.result and self.result.get("is_error"))

    @property
    def error(self) -> str:
        event = self.result or {}
        errors = event.get("errors")
        text = "; ".join(map(str, errors)) if errors else str(event.get("result") or "")
        status = event.get("api_error_status")
        reason = event.get("terminal_reason") or event.get("subtype") or "error"
        prefix = f"{reason} ({status})" if status else str(reason)
        return f"{prefix}: {shorten(text, 200)}" if text else prefix

    @property
    def transient(self) -> bool:
        """An API error worth retrying: overloaded, rate limited, a server error, a timeout."""
        event = self.result or {}
        if event.get("terminal_reason") != "api_error":
            return False
        status = event.get("api_error_status")
        if status is None:  # no answer at all: a timeout or a refused connection
            return True
        try:
            return int(status) in TRANSIENT_STATUSES
        except (TypeError, ValueError):
            return False

    @property
    def final_text(self) -> str:
        """The final message: the result's text, else the last assistant text."""
        result = self.result.get("result") if self.result else None
        if isinstance(result, str) and result:
            return result
        return self.texts[-1] if self.texts else ""
