"""POST /v1/agents/{id}/chat/completions: the agent as an OpenAI-compatible LLM.

A remote engine (Agora's Conversational AI, a telephony stack, any OpenAI client) sends the
conversation; Parley answers as the agent, with the same engine as its own chat sessions
(sessions.engine.session_turn): the agent's system prompt and model, its tools run server-side
through the webhook engine and never shown to the caller, its failure message when the LLM fails.
Each remote conversation is one Parley session, found by X-Conversation-Id (or the body's
`conversation_id`, or OpenAI's `user`), with its whole transcript.

History: the caller's. Its `messages` before the last are what the conversation was as the
caller knows it (an engine that was interrupted knows what was really heard), capped at the
agent's max_history; its own system messages follow the agent's system prompt; its last
message, a user's, is the new turn. Parley records the turns as they happen.

When the agent's LLM fails, the answer is the agent's failure message, except that a whole
(unstreamed) answer is 503 `local_llm_unavailable`, with Retry-After, when the LLM is the local
model and it is not serving: a retry succeeds once it serves (OpenAI's SDKs retry 503s). A
stream has begun by then, with 200, and carries the failure message.

Async, like sessions.streaming: a streamed reply holds no thread while the LLM thinks."""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import OperationalError
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from agents.models import Agent
from parley.db import database
from parley.errors import Busy, ParleyError, Unauthorized
from parley.jsonbody import request_body, text_valid
from parley.llm import ToolCallRequest
from sessions.engine import (
    LOCAL_LLM_RETRY_AFTER,
    LOCAL_LLM_UNAVAILABLE,
    Turn,
    TurnContext,
    session_turn,
    turn_begin,
)
from sessions.models import Session
from teams.auth import bad_keys_counted
from tools.execution import ToolRun

from .requests import CompletionRequest, completion_request_parse
from .services import (
    SESSION_KEY_PREFIX,
    conversation_session,
    llm_key_agent,
    session_llm_key_session,
)

logger = logging.getLogger(__name__)
DONE = object()
NO_KEY = "Send the agent's key as 'Authorization: Bearer ak_…' (or a session's sl_… secret)."
ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def openai_error(exc: ParleyError) -> JsonResponse:
    """OpenAI's error shape, which its SDKs read: {"error": {message, type, code, param}}."""
    kind = ERROR_TYPES.get(exc.status, "server_error" if exc.status >= 500 else "")
    error = {
        "message": exc.message,
        "type": kind or "invalid_request_error",
        "code": "invalid_api_key" if exc.status == 401 else exc.code,
        "param": None,
    }
    response = JsonResponse({"error": error}, status=exc.status)
    if retry_after := getattr(exc, "retry_after", None):
        response["Retry-After"] = str(retry_after)
    return response


class LocalModelUnavailable(ParleyError):
    """The agent's LLM is the local model, and it is not serving: the turn says why."""

    status = 503
    code = LOCAL_LLM_UNAVAILABLE
    retry_after = LOCAL_LLM_RETRY_AFTER


@dataclass
class _Begun:
    session: Session
    request: CompletionRequest
    context: TurnContext
    model: str


def _secret(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized(NO_KEY)
    return value.strip()


def _history(asked: CompletionRequest, context: TurnContext, images: bool) -> list[dict[str, Any]]:
    limit = context.config.llm.max_history
    said = [m.message(images=images) for m in asked.history[-limit:]] if limit else []
    return [{"role": "system", "content": text} for text in asked.system] + said


def _images(asked: CompletionRequest) -> dict[str, Any]:
    """The images of the new turn, recorded with its text: nothing the caller sent is lost."""
    parts = asked.parts or []
    return {"images": [p["image_url"] for p in parts if p["type"] == "image_url"]} if parts else {}


def _caller(request: HttpRequest, agent_id: UUID) -> tuple[Agent, CompletionRequest, Session]:
    """Who calls, what they said, and the session it goes into: the one a session-scoped
    secret (sl_) names, else the one the caller's conversation id maps to."""
    secret = _secret(request)
    header = request.headers.get("X-Conversation-Id", "")
    if secret.startswith(SESSION_KEY_PREFIX):
        with bad_keys_counted(request):
            session, agent = session_llm_key_session(secret=secret, agent_id=agent_id)
        asked = completion_request_parse(request_body(request), conversation_header=header)
        return agent, asked, session
    with bad_keys_counted(request):
        agent = llm_key_agent(secret=secret, agent_id=agent_id)
    asked = completion_request_parse(request_body(request), conversation_header=header)
    session = conversation_session(agent=agent, conversation_id=asked.conversation_id)
    return agent, asked, session


def _begin(request: HttpRequest, agent_id: UUID) -> _Begun:
    """Everything before the LLM is asked, in one trip to the database's thread: who calls,
    what they said, the conversation's session, and the user's message recorded."""
    agent, asked, session = _caller(request, agent_id)
    Session.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    context = turn_begin(session, asked.content, extra=_images(asked))
    images = "image" in context.config.llm.input_modalities
    context.history = _history(asked, context, images)
    context.user_parts = asked.parts if images else None
    return _Begun(session, asked, context, asked.model or f"parley-agent-{agent.id}")


class _Pieces:
    """A TurnListener that passes on the reply's text; tool calls stay on Parley's side."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def text(self, piece: str) -> None:
        await self.queue.put(piece)

    async def tool_started(self, call: ToolCallRequest) -> None:
        return None

    async def tool_finished(self, call: ToolCallRequest, run: ToolRun) -> None:
        return None


def _usage(turn: Turn) -> dict[str, int]:
    prompt = turn.usage.get("prompt_tokens", 0)
    completion = turn.usage.get("completion_tokens", 0)
    total = turn.usage.get("total_tokens", prompt + completion)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


class _Chunks:
    """chat.completion.chunk documents of one reply."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        document = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        text = text_valid(json.dumps(document, ensure_ascii=False))  # else the stream is cut
        return f"data: {text}\n\n".encode()

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": finish}])

    def usage(self, turn: Turn) -> bytes:
        return self._chunk([], usage=_usage(turn))


async def _stream(begun: _Begun) -> AsyncIterator[bytes]:
    pieces, chunks = _Pieces(), _Chunks(begun.model)

    async def answer() -> Turn:
        try:
            return await session_turn(
                session=begun.session,
                content=begun.request.content,
                listener=pieces,
                context=begun.context,
            )
        finally:
            await pieces.queue.put(DONE)

    task = asyncio.create_task(answer())
    yield chunks.delta({"role": "assistant", "content": ""})
    while (piece := await pieces.queue.get()) is not DONE:
        yield chunks.delta({"content": piece})
    turn = await task
    yield chunks.delta({}, finish="stop")
    if begun.request.include_usage:
        yield chunks.usage(turn)
    yield b"data: [DONE]\n\n"


async def _answer(begun: _Begun) -> JsonResponse:
    turn = await session_turn(
        session=begun.session, content=begun.request.content, context=begun.context
    )
    if turn.error_code == LOCAL_LLM_UNAVAILABLE:
        return openai_error(LocalModelUnavailable(turn.error))
    chunks = _Chunks(begun.model)
    return JsonResponse(
        {
            "id": chunks.id,
            "object": "chat.completion",
            "created": chunks.created,
            "model": chunks.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": turn.reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(turn),
        }
    )


@csrf_exempt  # authenticated by the agent's key in a header, never by a cookie
async def chat_completions(request: HttpRequest, agent_id: UUID) -> HttpResponseBase:
    if request.method != "POST":
        response = openai_error(ParleyError("Send chat completions with POST."))
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    try:
        begun = await database(_begin)(request, agent_id)
    except ParleyError as exc:
        return openai_error(exc)
    except OperationalError:  # the database is down, or every pooled connection is busy
        logger.exception("A completion for agent %s found no database connection", agent_id)
        response = openai_error(Busy("The server is too busy right now; try again."))
        response["Retry-After"] = "1"
        return response
    if not begun.request.stream:
        return await _answer(begun)
    stream = StreamingHttpResponse(_stream(begun), content_type="text/event-stream")
    stream["Cache-Control"] = "no-cache"
    stream["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the tokens back
    return stream


_OPENAI_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": ["string", "null"]},
                "param": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "code"],
        }
    },
    "required": ["error"],
}
_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "null"}]},
    },
    "required": ["role"],
}
# The view is outside ninja, so its entry in the API's OpenAPI document is written here
# (config/api.py adds it); its errors are in OpenAI's shape, which OpenAI's SDKs read.
OPENAPI_PATH = {
    "/v1/agents/{agent_id}/chat/completions": {
        "post": {
            "operationId": "agent_chat_completions",
            "summary": "The agent as an OpenAI-compatible LLM",
            "description": __doc__,
            "tags": ["Chat completions"],
            "parameters": [
                {
                    "in": "path",
                    "name": "agent_id",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
                {
                    "in": "header",
                    "name": "X-Conversation-Id",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 200},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "messages": {"type": "array", "items": _MESSAGE, "minItems": 1},
                                "model": {"type": "string"},
                                "stream": {"type": "boolean"},
                                "stream_options": {
                                    "type": "object",
                                    "properties": {"include_usage": {"type": "boolean"}},
                                },
                                "user": {"type": "string"},
                                "conversation_id": {"type": "string"},
                            },
                            "required": ["messages"],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "A chat.completion, or chat.completion.chunk server-sent "
                    "events with `stream: true`.",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **{
                    str(status): {
                        "description": description,
                        "content": {"application/json": {"schema": _OPENAI_ERROR}},
                    }
                    for status, description in [
                        (400, "The body is not a chat completion request."),
                        (401, "No agent key, or not this agent's."),
                        (404, "No such agent."),
                        (
                            503,
                            "The server is too busy (`busy`), or, for a whole answer, the "
                            "agent's LLM is the local model and it is not serving "
                            "(`local_llm_unavailable`); try again after Retry-After.",
                        ),
                    ]
                },
            },
            "security": [{"BearerAuth": []}],
        }
    }
}
