from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from iwy.hooks import agent_changed as iwy_agent_changed
from parley.errors import Conflict, InvalidInput, NotFound, invalid_input_from_errors
from providers.selectors import llm_default
from teams.models import Team
from tools.models import Tool

from .configuration import AgentConfiguration, merge_patch
from .models import Agent, AgentKind, AgentVersion, PublishMode, Runtime, VersionSource

SINGLE_USE_NAME = "Single-use agent"
COPY_PREFIX = "Copy of "
NOT_NULL = "cannot be null; leave the field out to keep its value"
STALE = (
    "This agent was saved as version {head} since you started from version {base}: "
    "nothing was saved. Reload it, then make your change again."
)
NO_VERSION = "This agent has no version {number}."


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


def _without_deleted_tools(team: Team, configuration: AgentConfiguration) -> AgentConfiguration:
    """The configuration less the selected tools deleted since it was published (an agent under
    review keeps naming them until its next published version)."""
    calling = configuration.tool_calling
    kept = set(
        Tool.objects.filter(team=team, id__in=calling.selected_tool_ids).values_list(
            "id", flat=True
        )
    )
    selected = [i for i in calling.selected_tool_ids if i in kept]
    update = {"tool_calling": calling.model_copy(update={"selected_tool_ids": selected})}
    return configuration.model_copy(update=update)


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
        "publish_mode": agent.publish_mode,
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


def _source(actor: Actor) -> str:
    return VersionSource.API if actor.api_key is not None else VersionSource.DASHBOARD


def _tool_definitions(team_id: Any, configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """The selected tools as they are now, each with its newest version's number."""
    ids = configuration.get("tool_calling", {}).get("selected_tool_ids", [])
    if not ids:
        return []
    tools = Tool.objects.filter(team_id=team_id, id__in=ids).annotate(
        version=Max("versions__number")
    )
    return [
        {"id": str(tool.id), "version": tool.version} | tool.definition()
        for tool in tools.order_by("name")
    ]


def _version_add(agent: Agent, actor: Actor, source: str, note: str) -> AgentVersion:
    """The agent's next version, from the configuration it is saving. The caller holds the
    agent's row (created or locked), so numbers come one at a time."""
    newest = agent.versions.aggregate(newest=Max("number"))["newest"] or 0
    version = AgentVersion(
        agent=agent,
        number=newest + 1,
        name=agent.name,
        configuration=agent.configuration,
        tools=_tool_definitions(agent.team_id, agent.configuration),
        source=source,
        author=actor.person,
        note=note,
    )
    version.full_clean(exclude=["agent", "author"], validate_unique=False)
    version.save()
    return version


def _save(
    agent: Agent,
    configuration: AgentConfiguration,
    *,
    actor: Actor,
    source: str | None = None,
    note: str = "",
) -> AgentVersion:
    """Save the agent with `configuration` as one new version. Published at once, unless the
    agent waits for review and the configuration differs from the published one: then it is
    the draft, and live traffic keeps the published configuration."""
    _check_tools(team=agent.team, configuration=configuration)
    document = configuration.as_document()
    published = agent.configuration
    draft = (
        agent.publish_mode == PublishMode.REVIEW
        and agent.published_version_id is not None
        and source != VersionSource.SYNC  # iwy's side is live already: taking it publishes it
        and document != published
    )
    agent.configuration = document
    agent.full_clean(
        exclude=["team", "created_by", "published_version", "draft_version"],
        validate_unique=False,
    )
    if agent._state.adding:
        agent.save()
    version = _version_add(agent, actor, source or _source(actor), note)
    if draft:
        agent.configuration, agent.draft_version = published, version
    else:
        agent.published_version, agent.draft_version = version, None
    agent.save()
    return version


def agent_llm_default(*, team: Team, configuration: AgentConfiguration) -> AgentConfiguration:
    """`configuration` with the team's usual LLM (providers.selectors.llm_default) where it
    names no `llm.provider`, and that LLM's model where it names no `llm.model` either. A
    provider that was named, even the schema's default, stays as it is."""
    llm = configuration.llm
    if "provider" in llm.model_fields_set:
        return configuration
    provider, model = llm_default(team=team)
    chosen = {"provider": provider}
    if "model" not in llm.model_fields_set:
        chosen["model"] = model
    return configuration.model_copy(update={"llm": llm.model_copy(update=chosen)})


@transaction.atomic
def agent_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    configuration: AgentConfiguration,
    publish_status: str = "draft",
    runtime: str = Runtime.PARLEY,
    publish_mode: str = PublishMode.IMMEDIATE,
    metadata: dict[str, Any] | None = None,
    note: str = "",
) -> Agent:
    """A permanent agent, whose version 1 is published. A configuration naming no LLM provider
    gets the team's usual one (agent_llm_default): OpenAI where the team can use it, else the
    local model."""
    agent = Agent(
        team=team,
        created_by=actor.person,
        name=name,
        publish_status=publish_status,
        runtime=runtime,
        publish_mode=publish_mode,
        metadata=metadata or {},
    )
    _save(agent, agent_llm_default(team=team, configuration=configuration), actor=actor, note=note)
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
    """A single-use agent: one session, invalid after `ttl_seconds` whether swept or not. Its
    LLM provider, when the configuration names none, is the team's usual one, as agent_create's.
    It has version 1 only: it cannot be changed."""
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
    _save(agent, agent_llm_default(team=team, configuration=configuration), actor=actor)
    _record(agent, actor, Action.CREATED, before={})
    return agent


def _locked(agent: Agent) -> Agent:
    """The agent's row, locked for the caller's transaction and read afresh: a save made
    meanwhile is built on, never overwritten."""
    locked = Agent.objects.select_for_update(of=("self",)).select_related(
        "team", "published_version", "draft_version"
    )
    return locked.get(pk=agent.pk)


def _head(agent: Agent) -> AgentVersion | None:
    """The version an edit starts from: the draft, if there is one, else the published one."""
    return agent.draft_version or agent.published_version


def _refresh(agent: Agent, saved: Agent) -> None:
    """Bring the caller's instance up to date with what was saved."""
    for field in Agent._meta.concrete_fields:
        setattr(agent, field.attname, getattr(saved, field.attname))
    for relation in ("published_version", "draft_version"):
        setattr(agent, relation, getattr(saved, relation))


@transaction.atomic
def agent_update(
    *,
    agent: Agent,
    actor: Actor,
    changes: dict[str, Any],
    base_version: int | None = None,
    source: str | None = None,
    note: str = "",
) -> Agent:
    """Apply a partial update as one new version: only the fields present in `changes` change.

    `configuration` is a JSON Merge Patch (RFC 7396) over the draft's configuration if there is
    a draft, else the published one. `base_version`: the version the change was made from;
    when the agent has a newer one, nothing is saved and Conflict says so. `source`: where
    the change comes from, by default the dashboard or the API as the actor says."""
    for field in ("name", "publish_status", "runtime", "publish_mode", "configuration"):
        if field in changes and changes[field] is None:
            raise InvalidInput.for_field(field, NOT_NULL)
    locked = _locked(agent)
    head = _head(locked)
    if base_version is not None and head is not None and head.number != base_version:
        raise Conflict(STALE.format(head=head.number, base=base_version))
    before = _snapshot(locked)
    document = head.configuration if head is not None else locked.configuration
    if "configuration" in changes:
        document = merge_patch(document, changes["configuration"])
    for field in ("name", "publish_status", "runtime", "publish_mode"):
        if field in changes:
            setattr(locked, field, changes[field])
    if "metadata" in changes:
        locked.metadata = changes["metadata"] or {}
    locked.updated_at = timezone.now()
    _save(locked, _validated(document), actor=actor, source=source, note=note)
    published = locked.publish_status != before["publish_status"]
    _record(locked, actor, Action.PUBLISHED if published else Action.UPDATED, before)
    iwy_agent_changed(locked)
    _refresh(agent, locked)
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
    """A new draft agent with the published configuration, named "Copy of <name>".

    The metadata stays with the original: it is the caller's bookkeeping about that agent."""
    name_length = Agent._meta.get_field("name").max_length or 200
    return agent_create(
        team=agent.team,
        actor=actor,
        name=f"{COPY_PREFIX}{agent.name}"[:name_length],
        runtime=agent.runtime,
        publish_mode=agent.publish_mode,
        configuration=_without_deleted_tools(agent.team, _validated(agent.configuration)),
        note=f"Copied from {agent.name}, version "
        f"{agent.published_version.number if agent.published_version else 1}.",
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


def tool_ids_remove_from_agents(*, team: Team, tool_id: UUID, tool_name: str, actor: Actor) -> None:
    """Drop a deleted tool from every agent of the team whose newest version selects it: one
    new version each, published or draft as any edit. A published version that still names it
    stays as it is until then: a session finds no tool by that id and offers none."""
    wanted = str(tool_id)
    for agent in Agent.objects.filter(team=team, kind=AgentKind.PERMANENT):
        head = _head(agent)
        document = head.configuration if head is not None else agent.configuration
        selected = document.get("tool_calling", {}).get("selected_tool_ids", [])
        if wanted in selected:
            kept = [i for i in selected if i != wanted]
            agent_update(
                agent=agent,
                actor=actor,
                changes={"configuration": {"tool_calling": {"selected_tool_ids": kept}}},
                source=VersionSource.SYSTEM,
                note=f"The tool {tool_name} was deleted.",
            )


# Versions: publishing one, restoring one, and what changed between two.


def _version(agent: Agent, number: int) -> AgentVersion:
    try:
        return agent.versions.get(number=number)
    except AgentVersion.DoesNotExist:
        raise NotFound(NO_VERSION.format(number=number)) from None


def _record_version(agent: Agent, actor: Actor, action: Action, version: AgentVersion) -> None:
    activity_record(
        team=agent.team,
        actor=actor,
        action=action,
        target_type=TargetType.AGENT,
        target_id=agent.id,
        target_label=agent.name,
        before={},
        after={"version": version.number},
    )


@transaction.atomic
def agent_version_publish(*, agent: Agent, actor: Actor, number: int) -> Agent:
    """Make version `number` the one live traffic runs. Publishing the draft clears it; any
    other version leaves the draft waiting."""
    locked = _locked(agent)
    version = _version(locked, number)
    configuration = _validated(version.configuration)
    _check_tools(team=locked.team, configuration=configuration)
    locked.configuration = version.configuration
    locked.published_version = version
    if locked.draft_version_id == version.pk:
        locked.draft_version = None
    locked.updated_at = timezone.now()
    locked.save()
    _record_version(locked, actor, Action.VERSION_PUBLISHED, version)
    iwy_agent_changed(locked)
    _refresh(agent, locked)
    return agent


@transaction.atomic
def agent_version_restore(*, agent: Agent, actor: Actor, number: int) -> AgentVersion:
    """A new version whose configuration is exactly version `number`'s: published at once, or
    the draft while the agent waits for review. Returns the new version."""
    locked = _locked(agent)
    version = _version(locked, number)
    locked.updated_at = timezone.now()
    restored = _save(
        locked,
        _validated(version.configuration),
        actor=actor,
        note=f"Restored from version {number}.",
    )
    _record_version(locked, actor, Action.VERSION_RESTORED, version)
    iwy_agent_changed(locked)
    _refresh(agent, locked)
    return restored
