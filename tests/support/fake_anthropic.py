"""A scripted Anthropic Messages API on 127.0.0.1, for driving the real Claude Code CLI.

Each main conversation turn (a POST /v1/messages carrying a tool list) takes the next entry
of the script and answers it as the real API does: a stream of server-sent events
(message_start, content blocks with text or tool-input deltas, message_delta, message_stop).
Entries:

    {"text": "..."}                                  a final answer
    {"tool_use": [{"name": "Edit", "input": {...}}]} tool calls (the CLI runs them and comes back)
    {"error": {"status": 529, "type": "overloaded_error"}, "times": 3}
    {"hang": True}                                   accept the request and never answer

Every request is recorded in `requests` (path, parsed body, kind) for assertions. The CLI's
own side requests leave the script alone: a WebSearch call's search (a request whose only
tool is the server's `web_search_*`) is answered with one search and two results, as the
real API does; anything else (no tool list, or a small model, such as WebFetch's summary of
a page) gets a short text.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def sse(blocks: list[dict], stop_reason: str, model: str) -> bytes:
    """The Messages API's streaming answer for `blocks`, as server-sent events."""
    events: list[tuple[str, dict]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": _id("msg"),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 100,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            text = block["text"]
            for start in range(0, max(len(text), 1), 50):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": text[start : start + 50]},
                        },
                    )
                )
        elif block["type"] == "web_search_tool_result":
            # The server's search results arrive whole, in the block's start.
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
        else:
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": block["type"],
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            payload = json.dumps(block["input"])
            for start in range(0, len(payload), 50):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": payload[start : start + 50],
                            },
                        },
                    )
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 50},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


class FakeAnthropic(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._served = itertools.count()
        self._repeats = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def main_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["main"]]

    @property
    def web_searches(self) -> list[str]:
        """The queries the CLI searched the web for, in order."""
        return [r["query"] for r in self.requests if r["kind"] == "web_search"]

    def __enter__(self) -> FakeAnthropic:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def next_entry(self) -> dict[str, Any]:
        with self.lock:
            if not self.script:
                return {"text": "(script exhausted)"}
            entry = self.script[0]
            self._repeats += 1
            if self._repeats >= int(entry.get("times", 1)):
                self.script.pop(0)
                self._repeats = 0
            return entry


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeAnthropic

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._json(200, {"data": [], "has_more": False})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        model = str(body.get("model", "claude-test"))
        tools = body.get("tools") or []
        searching = any(str(tool.get("type", "")).startswith("web_search") for tool in tools)
        main = bool(tools) and not searching and "haiku" not in model
        kind = "main" if main else "web_search" if searching else "side"
        record = {"path": self.path, "body": body, "kind": kind, "main": main}
        if searching:
            record["query"] = _search_query(body)
        with self.server.lock:
            self.server.requests.append(record)
        if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
            self._json(200, {"input_tokens": 10})
            return
        if searching:
            self._stream(_search_answer(record["query"]), "end_turn", model)
            return
        entry = self.server.next_entry() if main else {"text": "ok"}
        if entry.get("hang"):
            self.server.stopping.wait()
            self.close_connection = True
            return
        if "error" in entry:
            error = entry["error"]
            self._json(
                int(error["status"]),
                {
                    "type": "error",
                    "error": {
                        "type": error.get("type", "api_error"),
                        "message": error.get("message", "error"),
                    },
                },
                entry.get("headers"),
            )
            return
        blocks: list[dict] = []
        if entry.get("text") is not None:
            blocks.append({"type": "text", "text": entry["text"]})
        for call in entry.get("tool_use", []):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": _id("toolu"),
                    "name": call["name"],
                    "input": call["input"],
                }
            )
        stop = "tool_use" if entry.get("tool_use") else "end_turn"
        if not body.get("stream", False):
            self._json(
                200,
                {
                    "id": _id("msg"),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop,
                    "usage": {"input_tokens": 100, "output_tokens": 50},
                },
            )
            return
        self._stream(blocks, stop, model)

    def _stream(self, blocks: list[dict], stop: str, model: str) -> None:
        data = sse(blocks, stop, model)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True


def _search_query(body: dict) -> str:
    """The query of a WebSearch side request ("Perform a web search for the query: ...")."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    return text.partition("for the query: ")[2].strip()


def _search_answer(query: str) -> list[dict]:
    """One search by the server's tool and two results, then a line of text."""
    call = _id("srvtoolu")
    results = [
        {
            "type": "web_search_result",
            "title": f"{query} ({n})",
            "url": f"https://docs.example.org/{n}/{query.replace(' ', '-')}",
            "encrypted_content": "e30=",
            "page_age": None,
        }
        for n in (1, 2)
    ]
    return [
        {"type": "server_tool_use", "id": call, "name": "web_search", "input": {"query": query}},
        {"type": "web_search_tool_result", "tool_use_id": call, "content": results},
        {"type": "text", "text": f"Two results for {query}."},
    ]


def final(result: dict, prose: str = "Done.") -> dict:
    """A script entry: the agent's final message ending with its JSON block."""
    return {"text": f"{prose}\n\n```json\n{json.dumps(result)}\n```"}
