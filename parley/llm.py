"""The one client for LLMs: any OpenAI-compatible chat-completions endpoint, streamed.

OpenAI, Google Gemini (its OpenAI-compatible endpoint), Groq, OpenRouter, Together, and
self-hosted Ollama, vLLM or llama.cpp all speak it; so does an agent's `custom_url`. Requests go
through parley.outbound, so an endpoint a team typed in is held to the same address rules as a
tool's webhook.

`chat_stream` yields the reply's text as it arrives, then one `LLMReply` with the whole of it;
every failure (refused, unreachable, an HTTP error, a stall, a stream cut off or unreadable)
raises `LLMFailure`, which carries the text received before it.
"""

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from .jsonbody import json_valid
from .outbound import OutboundClient, OutboundError, OutboundFailure, OutboundRequest, Outcome
from .redact import redact

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True)
class LLMEndpoint:
    """Where to send a chat completion: a base URL such as https://api.openai.com/v1."""

    base_url: str
    model: str
    api_key: str | None = None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class ToolCallRequest:
    """A function call the model asked for; `arguments` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str


@dataclass
class LLMReply:
    content: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    ttft_ms: float | None = None  # from the request to the first token of text
    total_ms: float = 0.0


class LLMFailure(Exception):
    """`error.message` may quote the provider's reply, redacted: it is for the team's records,
    never for a visitor (say `public_message` there)."""

    def __init__(self, error: OutboundError, partial: str = "") -> None:
        super().__init__(error.message)
        self.error = error
        self.partial = partial  # text received before the failure

    @property
    def code(self) -> str:
        return f"llm_{self.error.outcome}"

    @property
    def public_message(self) -> str:
        """What a visitor or an API caller is told: no address, header or reply of the LLM."""
        return PUBLIC_MESSAGES.get(self.error.outcome, PUBLIC_MESSAGES[Outcome.UNREACHABLE])


PUBLIC_MESSAGES = {
    Outcome.HTTP_ERROR: "The agent's language model refused or failed the request.",
    Outcome.TIMEOUT: "The agent's language model did not answer in time.",
    Outcome.REFUSED: (
        "The agent's language model is at an address this server may not call; "
        "ask your operator to allow it."
    ),
    Outcome.UNREACHABLE: "The agent's language model could not be reached.",
    Outcome.DNS_ERROR: "The agent's language model could not be reached.",
    Outcome.TOO_LARGE: "The agent's language model sent a reply too large to read.",
    Outcome.UNDECODABLE: "The agent's language model sent a reply that could not be read.",
}


def _redacted(error: OutboundError, endpoint: LLMEndpoint) -> OutboundError:
    """A provider may echo the request, its key included, in what it answers."""
    return replace(error, message=redact(error.message, secrets=[endpoint.api_key]))


@dataclass
class _Pending:
    """A tool call as its pieces arrive, by index."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def _request(
    endpoint: LLMEndpoint,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    **params: Any,
) -> OutboundRequest:
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        **params,
    }
    if tools:
        body["tools"] = tools
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return OutboundRequest("POST", endpoint.url, headers, json.dumps(body).encode())


def _broken(message: str, partial: str) -> LLMFailure:
    return LLMFailure(OutboundError(Outcome.UNREACHABLE, message, True), partial)


def _chunk(line: str, partial: str) -> dict[str, Any] | None:
    """One server-sent event's JSON; None for comments and blank lines."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    try:
        chunk = json_valid(json.loads(data))  # a lone surrogate cannot be stored or shown
    except ValueError:
        raise _broken(
            f"the stream sent something that is not JSON: {data[:200]}", partial
        ) from None
    if not isinstance(chunk, dict):
        raise _broken("the stream sent something that is not a chunk", partial)
    if "error" in chunk:  # some servers report a failure inside the stream
        error = chunk["error"]
        said = error.get("message", error) if isinstance(error, dict) else error
        raise _broken(f"the model reported an error: {said}", partial)
    return chunk


def _usage(chunk: dict[str, Any]) -> dict[str, int]:
    usage = chunk.get("usage") or {}
    return {key: usage[key] for key in USAGE_KEYS if isinstance(usage.get(key), int)}


def _take_tool_calls(delta: dict[str, Any], pending: dict[int, _Pending]) -> None:
    for piece in delta.get("tool_calls") or []:
        call = pending.setdefault(int(piece.get("index", len(pending))), _Pending())
        call.id = piece.get("id") or call.id
        function = piece.get("function") or {}
        call.name = function.get("name") or call.name
        if function.get("arguments"):
            call.arguments.append(function["arguments"])


async def chat_stream(
    client: OutboundClient,
    endpoint: LLMEndpoint,
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    connect_timeout: float = 10,
    read_timeout: float = 30,
    **params: Any,
) -> AsyncIterator[str | LLMReply]:
    """Stream one chat completion: each piece of text as it comes, then the LLMReply.
    `params` go into the request as they are (temperature, max_tokens, ...)."""
    started = time.perf_counter()
    reply, done = LLMReply(), False
    pending: dict[int, _Pending] = {}
    text: list[str] = []
    request = _request(endpoint, messages, tools or [], **params)
    try:
        async with client.stream(
            request, connect_timeout=connect_timeout, read_timeout=read_timeout
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and line[5:].strip() == "[DONE]":
                    done = True
                    break
                chunk = _chunk(line, "".join(text))
                if chunk is None:
                    continue
                reply.usage = _usage(chunk) or reply.usage
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        if reply.ttft_ms is None:
                            reply.ttft_ms = (time.perf_counter() - started) * 1000
                        text.append(delta["content"])
                        yield delta["content"]
                    _take_tool_calls(delta, pending)
                    reply.finish_reason = choice.get("finish_reason") or reply.finish_reason
    except OutboundFailure as exc:
        raise LLMFailure(_redacted(exc.error, endpoint), "".join(text)) from exc
    except LLMFailure as exc:  # what the stream itself reported (_chunk)
        raise LLMFailure(_redacted(exc.error, endpoint), exc.partial) from exc
    if not done and reply.finish_reason is None:
        raise _broken("the stream ended before the reply was complete", "".join(text))
    reply.content = "".join(text)
    reply.tool_calls = [
        ToolCallRequest(call.id or f"call_{index}", call.name, "".join(call.arguments))
        for index, call in sorted(pending.items())
    ]
    reply.total_ms = (time.perf_counter() - started) * 1000
    yield reply
