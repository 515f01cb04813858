from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from agents.models import VersionSource
from agents.services import tool_ids_remove_from_agents
from config.celery import enqueue_on_commit
from iwy.hooks import tool_changed as iwy_tool_changed
from parley.errors import Conflict, InvalidInput, invalid_input_from_errors
from teams.models import Team

from .execution import (
    BODY_METHODS,
    Problem,
    ToolRun,
    arguments_problems,
    tool_execute,
    tool_execution_give_up,
    url_with_query,
    webhook_payload,
)
from .models import ExecutionOutcome, ExecutionSource, Tool, ToolExecution, ToolVersion
from .spec import (
    REDACTED,
    ToolSpec,
    auth_config_unmasked,
    headers_unmasked,
)

NAME_TAKEN = "A tool named {name!r} already exists in this team; tool names must be unique."
NOT_NULL = "cannot be null; leave the field out to keep its value"
NO_STORED_SECRET = f"{REDACTED} stands for a stored secret, but this tool has none to keep"


def _document(tool: Tool) -> dict[str, Any]:
    """The tool as a spec document, secrets in clear, for merging a partial update."""
    return {field: getattr(tool, field) for field in ToolSpec.model_fields} | {
        "auth_config": tool.auth_config or {}
    }


def _validated(document: dict[str, Any]) -> ToolSpec:
    try:
        return ToolSpec.model_validate(document)
    except pydantic.ValidationError as exc:
        raise invalid_input_from_errors(exc.errors()) from exc


def _refuse_leftover_masks(spec: ToolSpec) -> None:
    for name, value in spec.headers.items():
        if value == REDACTED:
            raise InvalidInput.for_field(f"headers.{name}", NO_STORED_SECRET)
    for key, value in spec.auth_config.model_dump().items():
        if value == REDACTED:
            raise InvalidInput.for_field(f"auth_config.{key}", NO_STORED_SECRET)


def _snapshot(tool: Tool) -> dict[str, Any]:
    """What the activity log compares, secrets masked. A changed secret shows as changed."""
    return tool.definition()


def _version_add(tool: Tool, actor: Actor, source: str | None) -> ToolVersion:
    """The tool's next version. Numbered under the tool's row lock."""
    Tool.objects.select_for_update().filter(pk=tool.pk).exists()  # one number at a time
    newest = tool.versions.aggregate(newest=Max("number"))["newest"] or 0
    if source is None:
        source = VersionSource.API if actor.api_key is not None else VersionSource.DASHBOARD
    return ToolVersion.objects.create(
        tool=tool,
        number=newest + 1,
        definition=tool.definition(),
        source=source,
        author=actor.person,
    )


def _secrets_changed(before: Tool, after: Tool) -> dict[str, Any]:
    """Masked values that hide a change get a marker, so the log says a secret changed."""
    marked: dict[str, Any] = {}
    for field in ("headers", "auth_config"):
        old, new = getattr(before, field) or {}, getattr(after, field) or {}
        masked = _snapshot(after)[field]
        marked[field] = {
            key: f"{REDACTED} (changed)"
            if value == REDACTED and old.get(key) != new.get(key)
            else value
            for key, value in masked.items()
        }
    return marked


def _record(
    tool: Tool,
    actor: Actor,
    action: Action,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    activity_record(
        team=tool.team,
        actor=actor,
        action=action,
        target_type=TargetType.TOOL,
        target_id=tool.id,
        target_label=tool.name,
        before=before,
        after=after,
    )


def _save(tool: Tool, spec: ToolSpec) -> Tool:
    _refuse_leftover_masks(spec)
    if Tool.objects.filter(team=tool.team, name=spec.name).exclude(pk=tool.pk).exists():
        raise Conflict(NAME_TAKEN.format(name=spec.name))
    for field, value in spec.model_dump(mode="json").items():
        setattr(tool, field, value)
    try:
        tool.full_clean(exclude=["team", "created_by", "name"], validate_unique=False)
    except ValidationError as exc:  # the spec should have caught it; never let it become a 500
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput.for_field(field, " ".join(messages)) from exc
    try:
        with transaction.atomic():
            tool.save()
    except IntegrityError as exc:  # a concurrent create took the name between check and save
        raise Conflict(NAME_TAKEN.format(name=spec.name)) from exc
    return tool


@transaction.atomic
def tool_create(*, team: Team, actor: Actor, spec: ToolSpec) -> Tool:
    """A new tool, as its version 1."""
    tool = _save(Tool(team=team, created_by=actor.person), spec)
    _version_add(tool, actor, None)
    _record(tool, actor, Action.CREATED, before={}, after=_snapshot(tool))
    return tool


@transaction.atomic
def tool_update(
    *, tool: Tool, actor: Actor, changes: dict[str, Any], source: str | None = None
) -> Tool:
    """Apply a partial update, as one new version. Masked secrets sent back unchanged keep
    their stored values. `source`: by default the dashboard or the API as the actor says."""
    if nulls := [field for field, value in changes.items() if value is None]:
        raise InvalidInput.for_field(nulls[0], NOT_NULL)
    document = _document(tool) | changes
    if "headers" in changes:
        document["headers"] = headers_unmasked(changes["headers"], tool.headers or {})
    if "auth_config" in changes:
        document["auth_config"] = auth_config_unmasked(
            changes["auth_config"], tool.auth_config or {}
        )
    before, stored = _snapshot(tool), Tool(headers=tool.headers, auth_config=tool.auth_config)
    tool.updated_at = timezone.now()
    _save(tool, _validated(document))
    _version_add(tool, actor, source)
    _record(tool, actor, Action.UPDATED, before, _snapshot(tool) | _secrets_changed(stored, tool))
    iwy_tool_changed(tool)
    return tool


@transaction.atomic
def tool_delete(*, tool: Tool, actor: Actor) -> None:
    tool_ids_remove_from_agents(team=tool.team, tool_id=tool.id, tool_name=tool.name, actor=actor)
    _record(tool, actor, Action.DELETED, before=None, after=None)
    tool.delete()


@transaction.atomic
def tool_create_from_document(*, team: Team, actor: Actor, document: dict[str, Any]) -> Tool:
    """tool_create for a document not yet validated, such as the dashboard's form: bad input
    raises InvalidInput naming each field, exactly as the API answers it."""
    return tool_create(team=team, actor=actor, spec=_validated(document))


# The sample call: what Parley would send the webhook, with example values from the schema.

SAMPLE_NESTING = 8  # deeper schemas (or $ref cycles) end in null rather than recurse forever


@dataclass(frozen=True)
class SampleCall:
    method: str
    url: str
    body: dict[str, Any] | None  # the JSON body; None for GET and DELETE, which use the query


def _local_ref(root: dict[str, Any], ref: str) -> Any:
    """The schema a local reference such as "#/$defs/city" points at, else None."""
    if not ref.startswith("#"):
        return None
    target: Any = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target


def _example_number(schema: dict[str, Any]) -> int | float:
    """0, unless the schema's bounds rule it out."""
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float) and low > 0:
        return low
    if isinstance(high, int | float) and high < 0:
        return high
    return 0


def _example(schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    if depth > SAMPLE_NESTING:
        return None
    if not isinstance(schema, dict):  # `true`, or a $ref that leads nowhere
        return "example"
    if isinstance(schema.get("$ref"), str):
        return _example(_local_ref(root, schema["$ref"]), root, depth + 1)
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    for given in ("example", "default", "const"):  # `example`: OpenAPI's singular form
        if given in schema:
            return schema[given]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combined in ("oneOf", "anyOf", "allOf"):
        if isinstance(schema.get(combined), list) and schema[combined]:
            return _example(schema[combined][0], root, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):  # e.g. ["string", "null"]: the first type that is not null
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {name: _example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        return [_example(items, root, depth + 1)] if isinstance(items, dict) else []
    if kind in ("integer", "number"):
        return _example_number(schema)
    return {"boolean": True, "null": None}.get(kind, "example")


def tool_example_parameters(*, parameters_schema: dict[str, Any]) -> dict[str, Any]:
    """Example values for the parameters the schema describes: its own examples, defaults,
    consts or enums where it gives them, else a plain value of each type."""
    parameters = _example(parameters_schema, parameters_schema)
    return parameters if isinstance(parameters, dict) else {}


def tool_sample_call(
    *, tool_id: str, name: str, method: str, server_url: str, parameters_schema: dict[str, Any]
) -> SampleCall:
    """The request Parley would send for this tool, parameters filled with example values: a JSON
    body {tool_id, tool_name, parameters, session} for POST, PUT and PATCH; for GET and DELETE,
    the parameters in the query string (objects and arrays as compact JSON)."""
    parameters = tool_example_parameters(parameters_schema=parameters_schema)
    if method in BODY_METHODS:
        body = webhook_payload(tool_id=tool_id, tool_name=name, parameters=parameters, session=None)
        return SampleCall(method=method, url=server_url, body=body)
    return SampleCall(method=method, url=url_with_query(server_url, parameters), body=None)


def _validation_summary(problems: list[Problem], strict: bool) -> tuple[str, str]:
    if not problems:
        return "valid", "The parameters are valid."
    listed = "; ".join(f"{p.field} {p.message}" for p in problems)
    if strict:
        return "invalid", f"The parameters are not valid: {listed}."
    return "warnings", (
        f"The parameters do not match the schema ({listed}), but strict_params is off, "
        "so the webhook is called with them anyway."
    )


def _test_message(run: ToolRun) -> str:
    execution = run.execution
    if execution.outcome == ExecutionOutcome.INVALID_ARGUMENTS:
        return "The webhook was not called. " + execution.error.removeprefix("Error: ")
    if run.delivery is None or run.delivery.error is None:
        return (
            f"The webhook answered {execution.status_code} "
            f"{(execution.response or {}).get('status_text', '')} in {execution.duration_ms} ms."
        )
    return f"The call failed: {execution.error}."


def tool_test(*, tool: Tool, parameters: Any, validate_only: bool = False) -> dict[str, Any]:
    """Check the parameters against the tool's schema and, unless `validate_only`, call the
    webhook now (async tools too), recording the call. The report has the shape of iwy's
    POST /tool/{id}/test: success, message, validation, request_sent, response_received."""
    problems = arguments_problems(tool, parameters)
    blocked = any(problem.blocks_call for problem in problems)  # a refused stored schema
    validation, said = _validation_summary(problems, tool.strict_params or blocked)
    report: dict[str, Any] = {
        "validation": validation,
        "validation_errors": [{"field": p.field, "message": p.message} for p in problems],
        "tool": {"id": str(tool.id), "name": tool.name},
    }
    if validate_only:
        usable = validation != "invalid" and isinstance(parameters, dict)
        return report | {
            "success": usable,
            "execution_time_ms": 0,
            "message": said + " The webhook was not called (validate_only).",
        }
    run = async_to_sync(tool_execute)(tool=tool, arguments=parameters, source=ExecutionSource.TEST)
    execution = run.execution
    return report | {
        "success": execution.outcome == ExecutionOutcome.SUCCESS,
        "execution_time_ms": execution.duration_ms or 0,
        "message": _test_message(run),
        "outcome": execution.outcome,
        "result": run.result,
        "execution_id": str(execution.id),
        "request_sent": execution.request or None,
        "response_received": execution.response,
    }


def tool_executions_prune(*, older_than: datetime, batch: int = 1000) -> int:
    """Delete the records of tool calls started before `older_than`, a batch at a time so a
    large backlog never holds one long transaction. Returns how many were deleted."""
    deleted = 0
    while True:
        ids = list(
            ToolExecution.objects.filter(started_at__lt=older_than).values_list("id", flat=True)[
                :batch
            ]
        )
        if not ids:
            return deleted
        deleted += ToolExecution.objects.filter(id__in=ids).delete()[0]


# Recovery: async calls whose worker died mid-call (killed, out of memory, past the task's hard
# time limit) stay "running" until this sweep notices them.

WORKER_LOST = (
    "the worker making the call stopped before it finished, {attempts} times; "
    "the webhook may have received it"
)


@dataclass(frozen=True)
class Recovery:
    requeued: list[str]  # execution ids queued again
    given_up: list[str]  # execution ids recorded as failed


def _running_overdue(now: datetime) -> list[tuple[UUID, int]]:
    """(id, attempts) of calls running past their tool's timeout plus TOOL_RECOVERY_MARGIN."""
    cutoff = now - settings.TOOL_RECOVERY_MARGIN  # no tool has a timeout under a second
    running = ToolExecution.objects.filter(outcome=ExecutionOutcome.RUNNING).filter(
        Q(claimed_at__lt=cutoff) | Q(claimed_at__isnull=True, started_at__lt=cutoff)
    )
    rows = running.values_list(
        "id", "attempts", "claimed_at", "started_at", "tool__timeout_seconds"
    )
    return [
        (pk, attempts)
        for pk, attempts, claimed_at, started_at, timeout in rows
        if (claimed_at or started_at) + timedelta(seconds=timeout or 0) < cutoff
    ]


@transaction.atomic
def _give_up(pk: UUID, attempts: int) -> bool:
    execution = (
        ToolExecution.objects.select_for_update()
        .filter(id=pk, outcome=ExecutionOutcome.RUNNING, attempts=attempts)
        .first()
    )
    if execution is None:  # it finished, or was taken again, meanwhile
        return False
    tool_execution_give_up(execution, error=WORKER_LOST.format(attempts=max(attempts, 1)))
    return True


@transaction.atomic
def _requeue(pk: UUID, attempts: int) -> bool:
    from .tasks import tool_execution_run  # the task module imports this one

    running = ToolExecution.objects.filter(
        id=pk, outcome=ExecutionOutcome.RUNNING, attempts=attempts
    )
    if running.update(outcome=ExecutionOutcome.PENDING) != 1:
        return False
    # Should the broker not take it, the reconciler's sweep of pending calls queues it later.
    enqueue_on_commit(tool_execution_run, str(pk))
    return True


def tool_executions_recover(*, now: datetime | None = None) -> Recovery:
    """Queue again each async call still running well past its tool's timeout, whose worker
    must have died, up to TOOL_EXECUTION_MAX_ATTEMPTS attempts; record those that reached it as
    failed (outcome worker_lost). A retry sends the same Idempotency-Key and webhook-id."""
    requeued, given_up = [], []
    for pk, attempts in _running_overdue(now or timezone.now()):
        if attempts >= settings.TOOL_EXECUTION_MAX_ATTEMPTS:
            given_up += [str(pk)] if _give_up(pk, attempts) else []
        else:
            requeued += [str(pk)] if _requeue(pk, attempts) else []
    return Recovery(requeued=requeued, given_up=given_up)
