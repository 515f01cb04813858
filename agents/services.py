from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from iwy.hooks import agent_changed as iwy_agent_changed
from parley.errors import InvalidInput, invalid_input_from_errors
from teams.models import Team
from tools.models import Tool

from .configuration import AgentConfiguration, merge_patch
from .models import Agent, AgentKind, Runtime

SINGLE_USE_NAME = "Single-use agent"
COPY_PREFIX = "Copy of "
NOT_NULL = "cannot be null; leave the field out to keep its value"


def _check_tools(*, team: Team, configuration: AgentConfiguration) -> None:
    wanted = set(configuration.tool_calling.selected_tool_ids)
    if not wanted:
        return
    found = set(Tool.objects.filter(team=team, id__in=wanted).values_list("id", flat=True))
    if missing := wanted - found:
        ids = ", ".join(sorted(str(i) for i in missing))
        raise InvalidInput.for_field(
            "configuration.tool_calling.selected_tool_ids", f"no tool in this team has id {ids}"
        )


def _validated(document: dict[str, Any]) -> AgentConfiguration:
    try:
        return AgentConfiguration.model_validate(document)
    except pydantic.ValidationError as exc:
        raise invalid_input_from_errors(exc.errors(), prefix=("configuration",)) from exc


def _snapshot(agent: Agent) -> dict[str, Any]:
    """What the activity log compares: the fields a person edits."""
    return {
        "name": agent.name,
        "publish_status": agent.publish_status,
        "runtime": agent.runtime,
        "configuration": agent.configuration,
        "metadata": agent.metadata,
    }


def _record(agent: Agent, actor: Actor, action: Action, before: dict[str, Any] | None) -> None:
    after = None if action == Action.DELETED else _snapshot(agent)
    activity_record(
        team=agent.team,
        actor=actor,
        action=action,
        target_type=TargetType.AGENT,
        target_id=agent.id,
        target_label=agent.name,
        before=before,
        after=after,
    )


def _save(agent: Agent, configuration: AgentConfiguration) -> Agent:
    _check_tools(team=agent.team, configuration=configuration)
    agent.configuration = configuration.as_document()
    agent.full_clean(exclude=["team", "created_by"], validate_unique=False)
    agent.save()
    return agent


@transaction.atomic
def agent_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    configuration: AgentConfiguration,
    publish_status: str = "draft",
    runtime: str = Runtime.PARLEY,
    metadata: dict[str, Any] | None = None,
) -> Agent:
    agent = Agent(
        team=team,
        created_by=actor.person,
        name=name,
        publish_status=publish_status,
        runtime=runtime,
        metadata=metadata or {},
    )
    _save(agent, configuration)
    _record(agent, actor, Action.CREATED, before={})
    return agent


@transaction.atomic
def ephemeral_agent_create(
    *,
    team: Team,
    actor: Actor,
    configuration: AgentConfiguration,
    ttl_seconds: int,
    name: str = "",
    metadata: dict[str, Any] | None = None,
) -> Agent:
    """A single-use agent: one session, invalid after `ttl_seconds` whether swept or not."""
    now = timezone.now()
    agent = Agent(
        team=team,
        created_by=actor.person,
        name=name or SINGLE_USE_NAME,
        kind=AgentKind.SINGLE_USE,
        # Usable by anyone holding the id, like iwy's: it exists to be handed to one end user.
        publish_status="private",
        expires_at=now + timedelta(seconds=ttl_seconds),
        metadata=metadata or {},
        created_at=now,
        updated_at=now,
    )
    _save(agent, configuration)
    _record(agent, actor, Action.CREATED, before={})
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, actor: Actor, changes: dict[str, Any]) -> Agent:
    """Apply a partial update: only the fields present in `changes` change.

    `configuration` is a JSON Merge Patch (RFC 7396) over the stored document."""
    for field in ("name", "publish_status", "runtime", "configuration"):
        if field in changes and changes[field] is None:
            raise InvalidInput.for_field(field, NOT_NULL)
    before = _snapshot(agent)
    document = agent.configuration
    if "configuration" in changes:
        document = merge_patch(document, changes["configuration"])
    for field in ("name", "publish_status", "runtime"):
        if field in changes:
            setattr(agent, field, changes[field])
    if "metadata" in changes:
        agent.metadata = changes["metadata"] or {}
    agent.updated_at = timezone.now()
    _save(agent, _validated(document))
    published = agent.publish_status != before["publish_status"]
    _record(agent, actor, Action.PUBLISHED if published else Action.UPDATED, before)
    iwy_agent_changed(agent)
    return agent


def agent_configuration_validate(*, team: Team, document: dict[str, Any]) -> AgentConfiguration:
    """Check a configuration document as saving it would, and save nothing.

    Raises InvalidInput naming each problem as `configuration.<path>`; the dashboard uses it to
    show errors while a person types."""
    configuration = _validated(document)
    _check_tools(team=team, configuration=configuration)
    return configuration


@transaction.atomic
def agent_duplicate(*, agent: Agent, actor: Actor) -> Agent:
    """A new draft agent with the same configuration, named "Copy of <name>".

    The metadata stays with the original: it is the caller's bookkeeping about that agent."""
    name_length = Agent._meta.get_field("name").max_length or 200
    return agent_create(
        team=agent.team,
        actor=actor,
        name=f"{COPY_PREFIX}{agent.name}"[:name_length],
        runtime=agent.runtime,
        configuration=_validated(agent.configuration),
    )


@transaction.atomic
def agent_delete(*, agent: Agent, actor: Actor) -> None:
    # Sessions keep their own copy of the agent's name, so history survives the delete.
    _record(agent, actor, Action.DELETED, before=None)
    agent.delete()


def agents_delete_expired(*, now: datetime | None = None) -> int:
    """Delete single-use agents that expired longer ago than the retention setting."""
    cutoff = (now or timezone.now()) - settings.SINGLE_USE_AGENT_RETENTION
    deleted, _ = Agent.objects.filter(kind=AgentKind.SINGLE_USE, expires_at__lt=cutoff).delete()
    return deleted


def tool_ids_remove_from_agents(*, team: Team, tool_id: UUID) -> None:
    """Drop a deleted tool from every agent of the team that had it selected."""
    for agent in Agent.objects.filter(team=team).only("id", "configuration"):
        selected = agent.configuration.get("tool_calling", {}).get("selected_tool_ids", [])
        if str(tool_id) in selected:
            selected[:] = [i for i in selected if i != str(tool_id)]
            agent.save(update_fields=["configuration"])
            iwy_agent_changed(agent)
