"""Running a tool: check the arguments against its schema, call its webhook through
parley.outbound, turn the reply into a result an LLM can use, and record the call.

`tool_execute` never raises for a webhook's failure: a timeout, a refused address or a 500 all
come back as a short error string in `ToolRun.result`, and as a recorded ToolExecution."""

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from cachetools import LRUCache, cached
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from config.celery import enqueue_on_commit
from parley.db import database
from parley.outbound import Delivery, OutboundClient, OutboundError, OutboundRequest
from parley.records import body_capped, reply_record, text_cut, url_without_credentials
from parley.redact import MIN_SECRET_CHARS, redact
from parley.schemas import SchemaRefused, safe_validator
from sessions.models import EventKind, Session
from sessions.services import session_event_append

from .in_process import in_process_reply
from .models import ExecutionOutcome, ExecutionSource, Tool, ToolExecution
from .spec import PUBLIC_HEADERS, REDACTED

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_PROBLEMS = 20
# Shown in the record: they prove nothing without the secret, and help a receiver debug.
SIGNATURE_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"}
)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    blocks_call: bool = False  # the tool cannot be called, strict_params or not


@dataclass
class ToolRun:
    """One execution's outcome. `result` is what the agent's LLM is given."""

    execution: ToolExecution
    result: str
    problems: list[Problem] = field(default_factory=list)
    delivery: Delivery | None = None

    @property
    def ok(self) -> bool:
        return self.execution.outcome in (ExecutionOutcome.SUCCESS, ExecutionOutcome.PENDING)


# The arguments: checked against the tool's JSON Schema.


@cached(LRUCache(maxsize=512), key=lambda tool: (tool.id, tool.updated_at), lock=threading.Lock())
def _validator(tool: Tool) -> Any:
    """The tool's validator, or why its schema is refused: one stored before the rules of
    parley.schemas (a remote $ref, say) is never applied, so nothing it names is fetched."""
    schema = tool.parameters_schema
    if tool.strict_params and "additionalProperties" not in schema:
        schema = schema | {"additionalProperties": False}
    try:
        return safe_validator(schema)
    except SchemaRefused as exc:
        return exc


def _schema_refused(exc: SchemaRefused) -> Problem:
    where = ".".join(filter(None, ["parameters_schema", exc.where]))
    said = f"{exc.reason}; the tool's schema must be changed before the tool can be called"
    return Problem(where, said, blocks_call=True)


def _problems_of(error: Any) -> list[Problem]:
    where = ".".join(["parameters", *(str(p) for p in error.absolute_path)])
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a parameter"
        return [Problem(f"{where}.{missing}", "is required")]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        return [
            Problem(f"{where}.{name}", "is not a parameter of this tool")
            for name in error.instance
            if name not in known
        ]
    return [Problem(where, error.message)]


def arguments_problems(tool: Tool, arguments: Any) -> list[Problem]:
    """Each way the arguments break the tool's schema (unknown ones too, with strict_params)."""
    if not isinstance(arguments, dict):
        return [Problem("parameters", "must be a JSON object of named parameters")]
    validator = _validator(tool)
    if isinstance(validator, SchemaRefused):
        return [_schema_refused(validator)]
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    problems = [problem for error in errors for problem in _problems_of(error)]
    return problems[:MAX_PROBLEMS]


# The request: {tool_id, tool_name, parameters, session} as JSON, or a query string.


def _query_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def url_with_query(url: str, parameters: dict[str, Any]) -> str:
    """GET and DELETE send the parameters in the query string, objects and arrays as JSON."""
    query = urlencode({key: _query_value(value) for key, value in parameters.items()})
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + query


def webhook_payload(
    *, tool_id: str, tool_name: str, parameters: Any, session: Session | None
) -> dict[str, Any]:
    context = None
    if session is not None:
        agent_id = str(session.agent_id) if session.agent_id else None
        context = {"id": str(session.id), "agent_id": agent_id, "metadata": session.metadata}
    return {
        "tool_id": tool_id,
        "tool_name": tool_name,
        "parameters": parameters,
        "session": context,
    }


def _auth_headers(auth: dict[str, Any], body: bytes, message_id: str) -> dict[str, str]:
    kind = auth.get("type", "none")
    if kind == "bearer":
        return {"Authorization": f"Bearer {auth['token']}"}
    if kind == "basic":
        pair = f"{auth['username']}:{auth['password']}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if kind == "header":
        return {auth["header_name"]: auth["header_value"]}
    if kind == "hmac":  # Standard Webhooks: sign "{id}.{timestamp}.{body}"
        now = datetime.now(UTC)
        signature = Webhook(auth["secret"]).sign(message_id, now, body.decode())
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
    return {}


def _secret_values(tool: Tool) -> list[str]:
    """What the request carries that a far end must not get to show: the auth's secrets (Basic
    as `user:password` too, which redaction also finds in base64) and the private headers."""
    auth = tool.auth_config or {}
    secrets = [auth.get(key) for key in ("token", "password", "header_value", "secret")]
    if auth.get("type") == "basic":
        secrets.append(f"{auth.get('username', '')}:{auth.get('password', '')}")
    secrets += [v for k, v in (tool.headers or {}).items() if k.lower() not in PUBLIC_HEADERS]
    return [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS]


def _shown_headers(headers: dict[str, str]) -> dict[str, str]:
    visible = PUBLIC_HEADERS | SIGNATURE_HEADERS
    return {k: v if k.lower() in visible else REDACTED for k, v in headers.items()}


def tool_request(
    tool: Tool, arguments: Any, *, session: Session | None, message_id: str
) -> tuple[OutboundRequest, dict[str, Any]]:
    """The webhook request, and how the record and the test response show it (secrets hidden)."""
    payload = None
    url, body = tool.server_url, b""
    if tool.method in BODY_METHODS:
        payload = webhook_payload(
            tool_id=str(tool.id), tool_name=tool.name, parameters=arguments, session=session
        )
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        url = url_with_query(url, arguments if isinstance(arguments, dict) else {})
    headers = dict(tool.headers or {})
    if payload is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    headers |= _auth_headers(tool.auth_config or {}, body, message_id)
    # The same on every attempt of one call (as webhook-id is), so a receiver can tell a retry.
    headers = {k: v for k, v in headers.items() if k.lower() != "idempotency-key"}
    headers["Idempotency-Key"] = message_id
    request = OutboundRequest(tool.method, url, headers, body if payload is not None else None)
    shown = {
        "url": url_without_credentials(url),
        "method": tool.method,
        "headers": _shown_headers(headers),
        "payload": payload,
    }
    return request, shown


# The reply: the LLM's result, and the record's copy.


def _as_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def _result_for_llm(tool: Tool, delivery: Delivery) -> str:
    """Redacted before it is cut, so that a cut cannot leave half a secret behind."""
    error = delivery.error
    given = delivery.content not in (None, "")
    content = _scrubbed(_as_text(delivery.content), tool, by_name=False) if given else ""
    if error is None:
        return (
            text_cut(content, settings.TOOL_RESULT_MAX_CHARS) or "OK (the tool returned no content)"
        )
    said = f": {text_cut(content, 500)}" if delivery.content else ""
    return f"Error: the tool {tool.name} failed: {_scrubbed(error.message, tool)}{said}"


def _capped(value: Any) -> Any:
    return body_capped(value, settings.TOOL_RECORD_BODY_MAX_CHARS)


def _scrubbed(text: str, tool: Tool, *, by_name: bool = True) -> str:
    """Text from the far end, with any of the tool's secrets it echoes back hidden."""
    return redact(text, secrets=_secret_values(tool), by_name=by_name)


# Recording: a ToolExecution, and a tool_call event on the session's timeline.


def _timeline_event(execution: ToolExecution, result: str) -> dict[str, Any]:
    mocked = {"mocked": True} if execution.request.get("mocked") else {}
    return mocked | {
        "tool_name": execution.tool_name,
        "tool_id": str(execution.tool_id) if execution.tool_id else None,
        "execution_id": str(execution.id),
        "arguments": execution.arguments,
        "result": text_cut(result, settings.TOOL_RECORD_BODY_MAX_CHARS),
        "duration_ms": execution.duration_ms,
        "outcome": execution.outcome,
        "status_code": execution.status_code,
        "error": execution.error,
        "async": execution.is_async,
    }


def _validated(execution: ToolExecution) -> ToolExecution:
    # A fresh uuid4 needs no uniqueness query (bench/tools.py: 0.3 to 0.6 ms a call).
    execution.full_clean(
        exclude=["team", "tool", "session", "arguments", "request", "response"],
        validate_unique=False,
    )
    return execution


def _record(execution: ToolExecution, result: str) -> ToolExecution:
    """Save the call; with a session, also its timeline event, in one transaction. Without one
    the single INSERT commits on its own."""
    if execution.session_id is None:
        _validated(execution).save()
        return execution
    with transaction.atomic():
        _validated(execution).save()
        session = Session.objects.get(pk=execution.session_id)
        session_event_append(
            session=session, kind=EventKind.TOOL_CALL, data=_timeline_event(execution, result)
        )
    return execution


def _execution(
    tool: Tool, arguments: Any, session: Session | None, source: ExecutionSource
) -> ToolExecution:
    return ToolExecution(
        id=uuid.uuid4(),
        team_id=tool.team_id,
        tool=tool,
        tool_name=tool.name,
        session=session,
        source=source,
        is_async=tool.is_async and source == ExecutionSource.AGENT,
        # Kept whole: an async call is made from this copy, and nothing the model said is lost.
        arguments=arguments if isinstance(arguments, dict) else {"not_an_object": arguments},
    )


def _finish(execution: ToolExecution, outcome: str, *, duration_ms: float, error: str = "") -> None:
    execution.outcome = outcome
    execution.finished_at = timezone.now()
    execution.duration_ms = round(duration_ms)
    execution.error = error


async def _send(
    request: OutboundRequest, *, timeout: float, outbound: OutboundClient | None
) -> Delivery:
    """The webhook's reply. A host an app answers itself (tools.in_process, such as the demo's
    order-status tool) gets its answer here: nothing is sent."""
    if (reply := in_process_reply(request)) is not None:
        return reply
    if outbound is None:
        async with OutboundClient() as client:
            return await client.send(request, timeout=timeout)
    return await outbound.send(request, timeout=timeout)


async def _call(
    tool: Tool, execution: ToolExecution, session: Session | None, outbound: OutboundClient | None
) -> tuple[Delivery, str]:
    request, shown = tool_request(
        tool, execution.arguments, session=session, message_id=f"msg_{execution.id.hex}"
    )
    execution.request = shown | {
        "url": _scrubbed(shown["url"], tool),  # a key in the query string stays out too
        "payload": _capped(shown["payload"]),
    }
    delivery = await _send(request, timeout=float(tool.timeout_seconds), outbound=outbound)
    error: OutboundError | None = delivery.error
    execution.status_code = delivery.status
    execution.response = reply_record(
        delivery, limit=settings.TOOL_RECORD_BODY_MAX_CHARS, secrets=_secret_values(tool)
    )
    outcome = error.outcome if error else ExecutionOutcome.SUCCESS
    message = _scrubbed(error.message, tool) if error else ""
    _finish(execution, outcome, duration_ms=delivery.duration_ms, error=message)
    return delivery, _result_for_llm(tool, delivery)


def _invalid(tool: Tool, problems: list[Problem]) -> str:
    listed = "; ".join(f"{p.field} {p.message}" for p in problems)
    return f"Error: the arguments for {tool.name} are not valid: {listed}"


def _queued(execution: ToolExecution) -> ToolExecution:
    from .tasks import tool_execution_run  # the task module imports this one

    execution.outcome = ExecutionOutcome.PENDING
    _validated(execution).save()
    enqueue_on_commit(tool_execution_run, str(execution.id))
    return execution


async def _mocked(
    tool: Tool, execution: ToolExecution, reply: str, problems: list[Problem]
) -> ToolRun:
    """A canned reply in place of the webhook's: nothing is sent, the call is recorded."""
    execution.request = {"mocked": True}
    _finish(execution, ExecutionOutcome.SUCCESS, duration_ms=0)
    result = text_cut(reply, settings.TOOL_RESULT_MAX_CHARS) or "OK (the tool returned no content)"
    await database(_record)(execution, result)
    return ToolRun(execution, result, problems)


async def tool_execute(
    *,
    tool: Tool,
    arguments: Any,
    session: Session | None = None,
    source: ExecutionSource = ExecutionSource.AGENT,
    outbound: OutboundClient | None = None,
    canned: str | None = None,
) -> ToolRun:
    """Call the tool with these arguments and record it. An `is_async` tool called by an agent is
    queued instead, and its result recorded when it arrives; the agent is told so at once.
    Pass an open `outbound` client to share its connections across calls. `canned`: the reply
    to give instead of calling the webhook (an eval's mocked tool), recorded as mocked."""
    execution = _execution(tool, arguments, session, source)
    problems = arguments_problems(tool, arguments)
    blocked = any(problem.blocks_call for problem in problems)
    if problems and (tool.strict_params or blocked or not isinstance(arguments, dict)):
        result = _invalid(tool, problems)
        _finish(execution, ExecutionOutcome.INVALID_ARGUMENTS, duration_ms=0, error=result)
        await database(_record)(execution, result)
        return ToolRun(execution, result, problems)
    if canned is not None:
        return await _mocked(tool, execution, canned, problems)
    if execution.is_async:
        await database(_queued)(execution)
        result = (
            f"The tool {tool.name} was started and runs in the background; "
            "its result will be recorded when it arrives."
        )
        return ToolRun(execution, result, problems)
    delivery, result = await _call(tool, execution, session, outbound)
    await database(_record)(execution, result)
    return ToolRun(execution, result, problems, delivery)


def _claimed(execution_id: uuid.UUID) -> ToolExecution | None:
    """The queued call, if this worker is the one to run it (a task may be delivered twice)."""
    queued = ToolExecution.objects.filter(id=execution_id, outcome=ExecutionOutcome.PENDING)
    claim = {"claimed_at": timezone.now(), "attempts": F("attempts") + 1}
    if queued.update(outcome=ExecutionOutcome.RUNNING, **claim) != 1:
        return None
    return ToolExecution.objects.select_related("tool", "session").get(id=execution_id)


async def tool_execution_complete(*, execution_id: uuid.UUID) -> ToolRun | None:
    """Make a queued call of an async tool and record its result; None if it was not queued,
    was taken by another worker, or its tool has since been deleted (recorded as refused)."""
    execution = await database(_claimed)(execution_id)
    if execution is None:
        return None
    if execution.tool is None:
        message = "the tool was deleted before its queued call could be made"
        _finish(execution, ExecutionOutcome.REFUSED, duration_ms=0, error=message)
        await database(_record)(execution, f"Error: {message}")
        return None
    delivery, result = await _call(execution.tool, execution, execution.session, None)
    await database(_record)(execution, result)
    return ToolRun(execution, result, delivery=delivery)


def tool_execution_give_up(execution: ToolExecution, *, error: str) -> None:
    """Record an async call that no worker finished as failed, on its session's timeline too."""
    taken = execution.claimed_at or execution.started_at
    elapsed = (timezone.now() - taken).total_seconds() * 1000
    _finish(execution, ExecutionOutcome.WORKER_LOST, duration_ms=max(elapsed, 0), error=error)
    _record(execution, f"Error: the tool {execution.tool_name} failed: {error}")
