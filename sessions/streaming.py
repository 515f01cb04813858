"""POST /api/v1/sessions/{id}/messages: send a message, get the agent's reply.

An async view, so that a reply streamed as server-sent events holds no thread while the LLM
thinks; the ASGI process serves it best (`make run` starts one), and under WSGI it still works.
`Accept: text/event-stream` streams the reply: `token` events with each piece of text,
`tool_call_started` and `tool_call_finished` around each tool call, `error` when the LLM failed
(the failure message follows as tokens), and `done` with the whole message. Otherwise the answer
is one JSON document once the reply is complete: 200, or 503 with Retry-After when the agent's
LLM is the local model and it is not serving (`local_llm_unavailable`)."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from django.db import OperationalError
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from parley.db import database
from parley.errors import Busy, InvalidInput, ParleyError, Unauthorized
from parley.jsonbody import request_json, text_valid
from parley.llm import ToolCallRequest
from teams.auth import caller_for_key
from tools.execution import ToolRun

from .chat import session_turn_begin, session_turn_release
from .engine import (
    LOCAL_LLM_RETRY_AFTER,
    LOCAL_LLM_UNAVAILABLE,
    Turn,
    TurnContext,
    session_turn,
)
from .limits import client_ip
from .models import Session

MAX_MESSAGE_CHARS = 20_000
BUSY = "The server is too busy to take this message right now; send it again in a moment."
logger = logging.getLogger(__name__)
DONE = object()


def _error(exc: ParleyError) -> JsonResponse:
    body = {"success": False, "error": exc.message, "code": exc.code, "details": exc.details}
    return JsonResponse(body, status=exc.status)


def _credentials(request: HttpRequest) -> tuple[str | None, str | None]:
    """(API key, session token), from x-api-key or Authorization: Bearer."""
    if key := request.headers.get("x-api-key", "").strip():
        return key, None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthorized("Send the session token as 'Authorization: Bearer st_…', or an API key.")
    return (None, value) if value.startswith("st_") else (value, None)


def _begin(request: HttpRequest, session_id: UUID) -> tuple[Session, str, TurnContext]:
    """Everything before the LLM is asked, in one trip to the database's thread."""
    key, token = _credentials(request)
    team = caller_for_key(key, write=True, client_ip=client_ip(request)).team if key else None
    content = _content(request)
    session, context = session_turn_begin(
        session_id=session_id, team=team, token=token, content=content
    )
    return session, content, context


def _content(request: HttpRequest) -> str:
    body = request_json(request, empty={})
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise InvalidInput.for_field("content", "must be the message's text, not empty")
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidInput.for_field("content", f"is longer than {MAX_MESSAGE_CHARS} characters")
    return content


def _message(turn: Turn) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": turn.reply,
        "failed": turn.failed,
        "ttft_ms": round(turn.ttft_ms) if turn.ttft_ms is not None else None,
        "total_ms": round(turn.total_ms),
    }


def _tool_calls(turn: Turn) -> list[dict[str, Any]]:
    return [
        {
            "name": run.execution.tool_name,
            "outcome": run.execution.outcome,
            "duration_ms": run.execution.duration_ms,
        }
        for run in turn.tool_runs
    ]


class _Relay:
    """A TurnListener that hands what it hears to the response as server-sent events."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def text(self, piece: str) -> None:
        await self.queue.put(("token", {"text": piece}))

    async def tool_started(self, call: ToolCallRequest) -> None:
        await self.queue.put(("tool_call_started", {"id": call.id, "name": call.name}))

    async def tool_finished(self, call: ToolCallRequest, run: ToolRun) -> None:
        data = {"id": call.id, "name": call.name, "outcome": run.execution.outcome}
        await self.queue.put(
            ("tool_call_finished", data | {"duration_ms": run.execution.duration_ms})
        )


def _sse(event: str, data: dict[str, Any]) -> bytes:
    text = text_valid(json.dumps(data, ensure_ascii=False))  # else the stream is cut mid-reply
    return f"event: {event}\ndata: {text}\n\n".encode()


class _Turn:
    """The turn's claim, released once: when the reply is done, or as soon as the client leaves.
    The reply is still finished and recorded then, but the session takes the next message."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.released = False

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await database(session_turn_release)(self.session)


_ANSWERING: set[asyncio.Task[Turn]] = set()  # replies whose client left, kept till they finish


async def _stream(session: Session, content: str, context: TurnContext) -> AsyncIterator[bytes]:
    relay, claim = _Relay(), _Turn(session)

    async def answer() -> Turn:
        try:
            return await session_turn(
                session=session, content=content, listener=relay, context=context
            )
        finally:
            await claim.release()
            await relay.queue.put(DONE)

    task = asyncio.create_task(answer())
    heard = False
    try:
        while (item := await relay.queue.get()) is not DONE:
            yield _sse(*item)
        heard = True
    finally:
        if not heard:  # the client disconnected: the server stopped reading this stream
            _ANSWERING.add(task)
            task.add_done_callback(_ANSWERING.discard)
            await asyncio.shield(claim.release())
    turn = await task
    if turn.failed:
        yield _sse("error", {"code": turn.error_code, "message": turn.error})
    yield _sse("done", {"message": _message(turn), "tool_calls": _tool_calls(turn)})


async def _answer(session: Session, content: str, context: TurnContext) -> JsonResponse:
    try:
        turn = await session_turn(session=session, content=content, context=context)
    finally:
        await database(session_turn_release)(session)
    # A failed turn still answers 200 with the failure message, but says it did not succeed;
    # 503 when the local model is not serving, as a retry succeeds once it is.
    body = {"success": not turn.failed, "message": _message(turn), "tool_calls": _tool_calls(turn)}
    if turn.failed:
        body |= {"error": turn.error, "code": turn.error_code}
    if turn.error_code != LOCAL_LLM_UNAVAILABLE:
        return JsonResponse(body)
    response = JsonResponse(body, status=503)
    response["Retry-After"] = str(LOCAL_LLM_RETRY_AFTER)
    return response


@csrf_exempt  # authenticated by key or session token in a header, never by a cookie
async def session_messages(request: HttpRequest, session_id: UUID) -> HttpResponseBase:
    if request.method != "POST":
        response = _error(ParleyError("Send messages with POST."))
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    try:
        session, content, context = await database(_begin)(request, session_id)
    except ParleyError as exc:
        return _error(exc)
    except OperationalError:  # the database is down, or every pooled connection is busy
        logger.exception("A message to session %s found no database connection", session_id)
        response = _error(Busy(BUSY))
        response["Retry-After"] = "1"
        return response
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return await _answer(session, content, context)
    stream = StreamingHttpResponse(
        _stream(session, content, context), content_type="text/event-stream"
    )
    stream["Cache-Control"] = "no-cache"
    stream["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the tokens back
    return stream


# The view is outside ninja, so its entry in the Agent Human API's OpenAPI document is written
# here (config/api.py adds it): what to send, and the errors it answers with.
OPENAPI_PATH = {
    "/api/v1/sessions/{session_id}/messages": {
        "post": {
            "operationId": "agent_human_session_message",
            "summary": "Send a message",
            "description": __doc__,
            "tags": ["Sessions (Agent Human)"],
            "parameters": [
                {
                    "in": "path",
                    "name": "session_id",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "content": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_MESSAGE_CHARS,
                                }
                            },
                            "required": ["content"],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The agent's reply: one JSON document, or server-sent events "
                    "with `Accept: text/event-stream`.",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                "503": {
                    "description": "The database is busy (`busy`), or the agent's LLM is the "
                    "local model and it is not serving (`local_llm_unavailable`, with the "
                    "failure message as `message`); Retry-After says when to send it again.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
            "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
        }
    }
}
