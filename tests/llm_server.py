"""A scripted OpenAI-compatible chat-completions server, for tests: each request gets the next
script's reply, streamed as server-sent events the way OpenAI streams them (or, with stream
off, as one JSON body). It runs on a real HTTP server on loopback."""

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PATH = "/v1/chat/completions"
# A held reply waits this long at most for the test to let its last piece go.
HOLD_SECONDS = 30


@dataclass
class Script:
    """One reply. `text` arrives in the pieces given; each tool call is {"name", "arguments"}
    (arguments a dict, or a string sent as it is), its arguments split in two chunks."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    )
    status: int = 200
    error: str = ""
    first_token_delay: float = 0.0  # seconds before the first chunk
    chunk_delay: float = 0.0
    cut_after: int | None = None  # close the connection after this many chunks, unfinished
    # The last piece of text waits until the test sets this: a test can then tell that the
    # reply's first piece reached the client while the LLM was still writing it.
    hold_last: threading.Event | None = None
    # The reply starts only once the barrier's every party is being answered at once: a test
    # can tell that requests were in flight together, not one after another.
    together: threading.Barrier | None = None


def says(*pieces: str, **kwargs: Any) -> Script:
    return Script(text=list(pieces), **kwargs)


def calls(*tool_calls: tuple[str, Any], **kwargs: Any) -> Script:
    return Script(tool_calls=[{"name": n, "arguments": a} for n, a in tool_calls], **kwargs)


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _tool_call_chunks(script: Script) -> Iterator[dict[str, Any]]:
    for index, call in enumerate(script.tool_calls):
        arguments = call["arguments"]
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        half = len(text) // 2
        head = {"index": index, "id": f"call_{index}", "type": "function"}
        yield _chunk(
            {"tool_calls": [head | {"function": {"name": call["name"], "arguments": text[:half]}}]}
        )
        yield _chunk({"tool_calls": [{"index": index, "function": {"arguments": text[half:]}}]})


def _events(script: Script) -> Iterator[dict[str, Any]]:
    yield _chunk({"role": "assistant", "content": ""})
    for piece in script.text:
        yield _chunk({"content": piece})
    yield from _tool_call_chunks(script)
    yield _chunk({}, "tool_calls" if script.tool_calls else "stop")
    if script.usage:
        yield {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": script.usage,
        }


class ScriptedLLM:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.scripts: deque[Script] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        # For each held reply: whether the test let it go (False: it waited HOLD_SECONDS).
        self.released: list[bool] = []
        # For each reply with `together`: whether the others came (False: HOLD_SECONDS passed).
        self.met: list[bool] = []
        server.expect_request(PATH, method="POST").respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/v1")

    def will(self, *scripts: Script) -> "ScriptedLLM":
        self.scripts.extend(scripts)
        return self

    def _handle(self, request: Request) -> Response:
        body = request.get_json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        script = self.scripts.popleft() if self.scripts else says("OK")
        if script.status != 200:
            return Response(script.error or "scripted failure", status=script.status)
        if not body.get("stream"):
            return Response(json.dumps(self._whole(script)), mimetype="application/json")
        return Response(self._stream(script), mimetype="text/event-stream")

    def _meet(self, script: Script) -> None:
        if script.together is not None:
            try:
                script.together.wait(HOLD_SECONDS)
                self.met.append(True)
            except threading.BrokenBarrierError:
                self.met.append(False)

    def _stream(self, script: Script) -> Iterator[bytes]:
        self._meet(script)
        time.sleep(script.first_token_delay)
        for sent, event in enumerate(_events(script)):
            if script.cut_after is not None and sent >= script.cut_after:
                return
            # The events: the role, then each piece of text; so the last piece is number len.
            if script.hold_last and script.text and sent == len(script.text):
                self.released.append(script.hold_last.wait(HOLD_SECONDS))
            yield _sse(event)
            time.sleep(script.chunk_delay)
        yield b"data: [DONE]\n\n"

    def _whole(self, script: Script) -> dict[str, Any]:
        self._meet(script)
        time.sleep(script.first_token_delay)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(script.text) or None}
        if script.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": c["arguments"]
                        if isinstance(c["arguments"], str)
                        else json.dumps(c["arguments"]),
                    },
                }
                for i, c in enumerate(script.tool_calls)
            ]
        finish = "tool_calls" if script.tool_calls else "stop"
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": script.usage,
        }
