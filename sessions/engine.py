"""The conversation engine: one user turn of a session, from the text that arrived to the reply.

It does not care how text arrives or leaves: chat over HTTP, server-sent events, and later voice
all call `session_turn` and hear the reply through a `TurnListener`. Each turn: the user's message
is recorded first; the agent's system prompt, the last `max_history` messages and its enabled
tools go to the LLM; tool calls run through the webhook engine (in parallel when the model asks
for several) and their results go back to the model, for at most CHAT_MAX_TOOL_ROUNDS rounds; the
answer is streamed to the listener and recorded. When the LLM fails, what it said so far is kept,
the error recorded, and the agent's failure message sent: the session stays usable.
"""

import asyncio
import json
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

from agents.configuration import AgentConfiguration
from parley.db import database
from parley.errors import ParleyError
from parley.llm import LLMEndpoint, LLMFailure, LLMReply, ToolCallRequest, chat_stream
from parley.outbound import OutboundClient, OutboundFailure, Outcome, Policy, outbound_client
from parley.redact import redact
from providers.catalog import llm_kind
from providers.selectors import provider_resolve
from tools.execution import ToolRun, tool_execute
from tools.models import Tool

from .models import EventKind, Session, SessionEvent
from .selectors import session_configuration
from .services import session_event_append, session_event_insert

# The local model (the provider Parley runs itself, localllm) cannot take the turn: not running,
# still loading, or unable to load its model. The API answers it with 503 and Retry-After, as a
# retry succeeds once the model serves, with no change on the caller's side.
LOCAL_LLM_UNAVAILABLE = "local_llm_unavailable"
LOCAL_LLM_RETRY_AFTER = 5  # seconds
# What llama.cpp answers, with 503, while it loads the model.
LLAMA_LOADING = "Loading model"
# For whoever sent the message: no address, command or file name.
LOCAL_DOWN = "The local model this agent uses is not running; the server's operator can start it."
LOCAL_LOADING = "The local model this agent uses is still loading; send the message again shortly."
LOCAL_BROKEN = "The local model this agent uses could not be loaded; the Providers page says why."


class TurnListener(Protocol):
    """How the reply leaves: each piece of text as the model writes it, and the tool calls."""

    async def text(self, piece: str) -> None: ...

    async def tool_started(self, call: ToolCallRequest) -> None: ...

    async def tool_finished(self, call: ToolCallRequest, run: ToolRun) -> None: ...


class Silent:
    """A listener for callers that want only the finished turn."""

    async def text(self, piece: str) -> None:
        return None

    async def tool_started(self, call: ToolCallRequest) -> None:
        return None

    async def tool_finished(self, call: ToolCallRequest, run: ToolRun) -> None:
        return None


@dataclass
class Turn:
    """What the turn said and how long it took. `failed`: the failure message was sent;
    `error` and `error_code` say why in words fit for whoever sent the message (the LLM's own
    answer, redacted, is on the session's timeline for the team)."""

    reply: str
    failed: bool = False
    error: str = ""
    error_code: str = ""
    ttft_ms: float | None = None
    total_ms: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)
    tool_runs: list[ToolRun] = field(default_factory=list)


@dataclass
class TurnContext:
    """Everything a turn needs from the database, read once before the LLM is called: what
    `turn_begin` returns."""

    config: AgentConfiguration
    tools: dict[str, Tool]
    history: list[dict[str, Any]]
    endpoint: LLMEndpoint | None
    trusted_host: str | None
    missing: str = ""  # why there is no endpoint, in words that say how to fix it
    # The endpoint is the local model, which Parley runs: its failures say how to start it.
    managed: bool = False
    # The user's message as content parts, text and images, for a model that takes images;
    # None: the message's text is what the model gets.
    user_parts: list[dict[str, Any]] | None = None
    # Tool name → a canned reply given instead of calling the tool (an eval's mocked tools).
    tool_replies: dict[str, str] = field(default_factory=dict)


def llm_endpoint(
    session: Session, config: AgentConfiguration
) -> tuple[LLMEndpoint, str | None, bool]:
    """The agent's LLM: its custom_url, else its provider's credentials (the team's or the
    install's). The host of an operator's own endpoint is exempt from the address checks.
    Last, whether it is the local model, which Parley runs."""
    llm = config.llm
    if llm.custom_url is not None:
        return LLMEndpoint(str(llm.custom_url), llm.model), None, False
    resolved = provider_resolve(team=session.team, kind=llm.provider)
    endpoint = LLMEndpoint(resolved.base_url, llm.model, resolved.api_key)
    host = endpoint.base_url.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    trusted = host.strip("[]") if resolved.trusted else None
    return endpoint, trusted, llm_kind(resolved.kind).managed


def _history(session: Session, limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages said before this turn, oldest first; failure messages are
    left out, as they say nothing about the conversation."""
    if limit == 0:
        return []
    events = SessionEvent.objects.filter(session=session, kind=EventKind.MESSAGE).order_by("-seq")
    said = []
    # Only the data column: building whole model rows cost twice as much (bench/chat.py).
    for document in events.values_list("data", flat=True)[: limit * 2]:
        data = document if isinstance(document, dict) else {}
        if (
            data.get("role") in ("user", "assistant")
            and data.get("content")
            and not data.get("failure")
        ):
            said.append({"role": data["role"], "content": str(data["content"])})
        if len(said) == limit:
            break
    return said[::-1]


def _turn_context(session: Session) -> TurnContext:
    config = AgentConfiguration.model_validate(session_configuration(session=session))
    ids = config.tool_calling.selected_tool_ids
    tools = {tool.name: tool for tool in Tool.objects.filter(team_id=session.team_id, id__in=ids)}
    history = _history(session, config.llm.max_history)
    try:
        endpoint, trusted, managed = llm_endpoint(session, config)
    except ParleyError as missing:
        return TurnContext(config, tools, history, None, None, missing.message)
    except LookupError:  # "custom" names no provider: the agent's custom_url is the endpoint
        why = "The agent's LLM provider is custom, but it has no llm.custom_url: set one."
        return TurnContext(config, tools, history, None, None, why)
    return TurnContext(config, tools, history, endpoint, trusted, managed=managed)


def _function(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters_schema,
        },
    }


def _record(session: Session, kind: EventKind, data: dict[str, Any]) -> None:
    session_event_append(session=session, kind=kind, data=data)


record = database(_record)


@transaction.atomic(savepoint=False)
def turn_begin(
    session: Session,
    content: str,
    *,
    seq: int | None = None,
    extra: dict[str, Any] | None = None,
) -> TurnContext:
    """Read what the turn needs (the history before this message) and record the user's message,
    in one transaction: the message is stored before the LLM is called. `seq`: the event number
    the caller took for the message under the session's lock, in this same transaction.
    `extra`: more of what the user sent, recorded with the message (the images of a caller)."""
    context = _turn_context(session)
    said = {"role": "user", "content": content, **(extra or {})}
    if seq is None:
        _record(session, EventKind.MESSAGE, said)
    else:
        session_event_insert(session=session, seq=seq, kind=EventKind.MESSAGE, data=said)
    return context


async def _call_tool(
    call: ToolCallRequest,
    context: TurnContext,
    session: Session,
    outbound: OutboundClient,
    listener: TurnListener,
) -> tuple[ToolCallRequest, str, ToolRun | None]:
    await listener.tool_started(call)
    tool = context.tools.get(call.name)
    if tool is None:
        result = f"Error: there is no tool named {call.name!r}."
        data = {"tool_name": call.name, "arguments": call.arguments, "result": result}
        await record(session, EventKind.TOOL_CALL, data | {"outcome": "unknown_tool"})
        return call, result, None
    try:
        arguments: Any = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = call.arguments  # not JSON: the engine records it and tells the model
    run = await tool_execute(
        tool=tool,
        arguments=arguments,
        session=session,
        outbound=outbound,
        canned=context.tool_replies.get(call.name),
    )
    await listener.tool_finished(call, run)
    return call, run.result, run


def _assistant_calls(reply: LLMReply) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": reply.content or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ],
    }


class _Conversation:
    """One turn's exchange with the LLM, round by round."""

    def __init__(
        self,
        session: Session,
        context: TurnContext,
        endpoint: LLMEndpoint,
        listener: TurnListener,
    ) -> None:
        self.session, self.context, self.listener = session, context, listener
        self.endpoint = endpoint
        self.turn = Turn(reply="")
        self.said: list[str] = []

    async def _ask(
        self, client: OutboundClient, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> LLMReply:
        stream = chat_stream(
            client,
            self.endpoint,
            messages=messages,
            tools=tools,
            connect_timeout=settings.LLM_CONNECT_TIMEOUT,
            read_timeout=settings.LLM_READ_TIMEOUT,
            temperature=self.context.config.llm.temperature,
        )
        async for item in stream:
            if isinstance(item, LLMReply):
                return item
            self.said.append(item)
            await self.listener.text(item)
        raise AssertionError("chat_stream ends with its reply")  # pragma: no cover

    def _account(self, reply: LLMReply, first_round: bool) -> None:
        if first_round or self.turn.ttft_ms is None:
            self.turn.ttft_ms = reply.ttft_ms
        for key, value in reply.usage.items():
            self.turn.usage[key] = self.turn.usage.get(key, 0) + value

    async def run(self, messages: list[dict[str, Any]]) -> Turn:
        tools = [_function(tool) for tool in self.context.tools.values()]
        policy = Policy.from_settings()
        if self.context.trusted_host:
            trusted = policy.allowed_hosts | {self.context.trusted_host}
            policy = replace(policy, allowed_hosts=trusted)
        # The event loop's clients, kept open: each turn reuses their connections.
        llm_client, tool_client = outbound_client(policy), outbound_client()
        for round_ in range(settings.CHAT_MAX_TOOL_ROUNDS + 1):
            last = round_ == settings.CHAT_MAX_TOOL_ROUNDS
            reply = await self._ask(llm_client, messages, [] if last else tools)
            self._account(reply, round_ == 0)
            if not reply.tool_calls or last:
                self.turn.reply = "".join(self.said)
                return self.turn
            messages.append(_assistant_calls(reply))
            results = await asyncio.gather(
                *(
                    _call_tool(c, self.context, self.session, tool_client, self.listener)
                    for c in reply.tool_calls
                )
            )
            for call, result, run in results:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
                if run is not None:
                    self.turn.tool_runs.append(run)
        raise AssertionError("the last round answers without tools")  # pragma: no cover


async def _fail(
    session: Session, context: TurnContext, turn: Turn, listener: TurnListener, keep: bool
) -> Turn:
    """Send the agent's failure message, and record it as such (`keep`)."""
    message = context.config.llm.failure_message
    await listener.text(message)
    if keep:
        data = {"role": "assistant", "content": message, "failure": True}
        await record(session, EventKind.MESSAGE, data)
    turn.reply, turn.failed = message, True
    return turn


async def session_turn(
    *,
    session: Session,
    content: str,
    listener: TurnListener | None = None,
    context: TurnContext | None = None,
    record_reply: bool = True,
) -> Turn:
    """Answer one user message. Never raises because the LLM or a tool failed. `context` is what
    `turn_begin(session, content)` returned, when the caller began the turn in a transaction of
    its own (with its own bookkeeping); otherwise the turn begins here. `record_reply=False`:
    the caller records what the agent said itself, as a call does with what was spoken before
    an interruption; the user's message, tool calls and errors are recorded here all the same."""
    listener = listener or Silent()
    if context is None:
        context = await database(turn_begin)(session, content)
    if context.endpoint is None:
        await record(
            session,
            EventKind.ERROR,
            {"code": "provider_not_configured", "message": context.missing},
        )
        turn = Turn(reply="", error=context.missing, error_code="provider_not_configured")
        return await _fail(session, context, turn, listener, record_reply)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": context.config.llm.system_prompt}
    ]
    messages += [*context.history, {"role": "user", "content": context.user_parts or content}]
    conversation = _Conversation(session, context, context.endpoint, listener)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        turn = await conversation.run(messages)
    except LLMFailure as failure:
        return await _failed_turn(session, context, conversation, failure, listener, record_reply)
    turn.total_ms = (loop.time() - started) * 1000
    if record_reply:
        await record(session, EventKind.MESSAGE, assistant_event(turn))
    return turn


def assistant_event(turn: Turn) -> dict[str, Any]:
    data: dict[str, Any] = {"role": "assistant", "content": turn.reply}
    if turn.ttft_ms is not None:
        data["ttft_ms"] = round(turn.ttft_ms)
    data["total_ms"] = round(turn.total_ms)
    return data | {k: v for k, v in turn.usage.items()}


def _local_down(failure: LLMFailure, base_url: str) -> tuple[str, str] | None:
    """When the local model's server could not take the turn: what the sender is told, and what
    the team reads on the timeline. None when it answered and failed otherwise."""
    if not isinstance(failure.__cause__, OutboundFailure):
        return None  # it answered 200, and the stream itself failed
    error = failure.error
    if error.outcome in (Outcome.UNREACHABLE, Outcome.DNS_ERROR):
        return LOCAL_DOWN, (
            f"The local model's server does not answer at {base_url} ({error.message}): start "
            "`manage.py localllm` (the Procfile's llm process), or point LOCAL_LLM_URL at "
            "where it runs."
        )
    if error.status != 503:
        return None
    said = error.said
    with suppress(ValueError, KeyError, TypeError):
        said = str(json.loads(said)["error"]["message"])  # llama.cpp's error shape
    if said == LLAMA_LOADING:
        return LOCAL_LOADING, (
            f"The local model's server at {base_url} is still loading the model: messages are "
            "answered once it has."
        )
    return LOCAL_BROKEN, f"The local model's server at {base_url} cannot serve: {said}"


async def _failed_turn(
    session: Session,
    context: TurnContext,
    conversation: _Conversation,
    failure: LLMFailure,
    listener: TurnListener,
    keep: bool,
) -> Turn:
    turn = conversation.turn
    turn.error, turn.error_code = failure.public_message, failure.code
    detail = f"The LLM failed: {failure.error.message}"
    endpoint = context.endpoint
    if endpoint and context.managed and (down := _local_down(failure, endpoint.base_url)):
        (turn.error, detail), turn.error_code = down, LOCAL_LLM_UNAVAILABLE
    if keep and (said := "".join(conversation.said)):
        data = {"role": "assistant", "content": said, "interrupted": True}
        await record(session, EventKind.MESSAGE, data)
    # llm.chat_stream redacted the message; redacted again here, as the one place the timeline
    # gets an upstream's words from, whoever raised the failure.
    detail = redact(detail, secrets=[endpoint.api_key if endpoint else None])
    await record(session, EventKind.ERROR, {"code": turn.error_code, "message": detail})
    return await _fail(session, context, turn, listener, keep)


async def session_greet(*, session: Session, listener: TurnListener | None = None) -> str:
    """Say the agent's first message, if it has one, and record it."""
    context = await database(_turn_context)(session)
    message = context.config.llm.first_message
    if message:
        await (listener or Silent()).text(message)
        await record(session, EventKind.MESSAGE, {"role": "assistant", "content": message})
    return message
