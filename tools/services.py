from typing import Any

import pydantic
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from agents.services import tool_ids_remove_from_agents
from parley.errors import Conflict, InvalidInput, invalid_input_from_errors
from teams.models import Team

from .models import Tool
from .spec import (
    REDACTED,
    ToolSpec,
    auth_config_masked,
    auth_config_unmasked,
    headers_masked,
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
    document = {field: getattr(tool, field) for field in ToolSpec.model_fields}
    return document | {
        "server_url": str(tool.server_url),
        "headers": headers_masked(tool.headers or {}),
        "auth_config": auth_config_masked(tool.auth_config or {}),
    }


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
    tool = _save(Tool(team=team, created_by=actor.person), spec)
    _record(tool, actor, Action.CREATED, before={}, after=_snapshot(tool))
    return tool


@transaction.atomic
def tool_update(*, tool: Tool, actor: Actor, changes: dict[str, Any]) -> Tool:
    """Apply a partial update. Masked secrets sent back unchanged keep their stored values."""
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
    _record(tool, actor, Action.UPDATED, before, _snapshot(tool) | _secrets_changed(stored, tool))
    return tool


@transaction.atomic
def tool_delete(*, tool: Tool, actor: Actor) -> None:
    tool_ids_remove_from_agents(team=tool.team, tool_id=tool.id)
    _record(tool, actor, Action.DELETED, before=None, after=None)
    tool.delete()
