"""/v1 agents: iwy's singular paths (/agent/{id}) and plural collection paths (/agents)."""

from typing import Literal
from uuid import UUID

from django.db.models import QuerySet
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from parley.errors import InvalidInput
from teams.auth import READ, WRITE, ApiRequest

from . import selectors, services
from .models import Agent, AgentVersion
from .schemas import (
    AgentIn,
    AgentOut,
    AgentPatch,
    AgentVersionDiffOut,
    AgentVersionOut,
    AgentVersionSummaryOut,
    EphemeralAgentIn,
    EphemeralAgentOut,
    PublishStatusIn,
)
from .selectors import VersionDiff

router = Router(tags=["Agents"])
NEEDED = "send the numbers of both versions, as ?from=1&to=2"


class AgentFilters(Schema):
    publish_status: PublishStatusIn | None = None
    # Single-use agents are listed only when asked for, as docs/api.md says.
    kind: Literal["permanent", "single_use"] = "permanent"


@router.get("/agents", response=list[AgentOut], auth=READ, operation_id="agent_list")
@paginate
def agent_list(request: ApiRequest, filters: Query[AgentFilters]) -> QuerySet[Agent]:
    """The team's agents, newest first: permanent ones unless `?kind=single_use` asks for the
    single-use ones. Expired single-use agents are not listed."""
    return selectors.agent_list(
        team=request.auth.team, publish_status=filters.publish_status, kind=filters.kind
    ).select_related("published_version", "draft_version")


@router.post("/agents", response={201: AgentOut}, auth=WRITE, operation_id="agent_create")
@router.post("/agent", response={201: AgentOut}, auth=WRITE, operation_id="agent_create_iwy")
def agent_create(request: ApiRequest, payload: AgentIn) -> Status:
    agent = services.agent_create(
        team=request.auth.team,
        actor=request.auth.actor,
        name=payload.name,
        publish_status=payload.publish_status,
        runtime=payload.runtime,
        publish_mode=payload.publish_mode,
        configuration=payload.configuration,
        metadata=payload.metadata,
    )
    return Status(201, agent)


@router.get("/agents/{agent_id}", response=AgentOut, auth=READ, operation_id="agent_get")
@router.get("/agent/{agent_id}", response=AgentOut, auth=READ, operation_id="agent_get_iwy")
def agent_get(request: ApiRequest, agent_id: UUID) -> Agent:
    return selectors.agent_get(team=request.auth.team, agent_id=agent_id)


@router.patch("/agents/{agent_id}", response=AgentOut, auth=WRITE, operation_id="agent_update")
@router.patch("/agent/{agent_id}", response=AgentOut, auth=WRITE, operation_id="agent_update_iwy")
def agent_update(request: ApiRequest, agent_id: UUID, payload: AgentPatch) -> Agent:
    """Only the fields sent change; `configuration` merges as a JSON Merge Patch. Every update
    is a new version: published at once, or the draft under `publish_mode` review. With
    `base_version`, a change made from an older version is refused with 409."""
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    changes = payload.model_dump(exclude_unset=True)
    base_version = changes.pop("base_version", None)
    return services.agent_update(
        agent=agent, actor=request.auth.actor, changes=changes, base_version=base_version
    )


@router.delete("/agents/{agent_id}", response={204: None}, auth=WRITE, operation_id="agent_delete")
@router.delete(
    "/agent/{agent_id}", response={204: None}, auth=WRITE, operation_id="agent_delete_iwy"
)
def agent_delete(request: ApiRequest, agent_id: UUID) -> Status:
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    services.agent_delete(agent=agent, actor=request.auth.actor)
    return Status(204, None)


@router.post(
    "/ephemeral-agent",
    response=EphemeralAgentOut,
    auth=WRITE,
    operation_id="ephemeral_agent_create",
)
def ephemeral_agent_create(request: ApiRequest, payload: EphemeralAgentIn) -> dict[str, Agent]:
    """A single-use agent: one session, then invalid; invalid after `ttl_seconds` in any case."""
    agent = services.ephemeral_agent_create(
        team=request.auth.team,
        actor=request.auth.actor,
        configuration=payload.configuration,
        ttl_seconds=payload.ttl_seconds,
        name=payload.name,
        metadata=payload.metadata,
    )
    return {"agent": agent}


# Versions: every saved change is one; live traffic runs the published one.


class DiffQuery(Schema):
    # Both are needed; checked once the agent is found, so that another team's id is a 404.
    from_: int | None = Field(None, alias="from", ge=1, description="The older version's number.")
    to: int | None = Field(None, ge=1, description="The newer version's number.")


@router.get(
    "/agents/{agent_id}/versions",
    response=list[AgentVersionSummaryOut],
    auth=READ,
    operation_id="agent_version_list",
)
@paginate
def agent_version_list(request: ApiRequest, agent_id: UUID) -> QuerySet[AgentVersion]:
    """The agent's versions, newest first."""
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    return selectors.agent_versions(agent=agent)


@router.get(
    "/agents/{agent_id}/versions/diff",
    response=AgentVersionDiffOut,
    auth=READ,
    operation_id="agent_version_diff",
)
def agent_version_diff(request: ApiRequest, agent_id: UUID, query: Query[DiffQuery]) -> VersionDiff:
    """What changed from version `from` to version `to`: the configuration field by field, the
    system prompt line by line, and the tools."""
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    if query.from_ is None or query.to is None:
        raise InvalidInput.for_field("to" if query.from_ else "from", NEEDED)
    return selectors.agent_version_diff(agent=agent, from_number=query.from_, to_number=query.to)


@router.get(
    "/agents/{agent_id}/versions/{number}",
    response=AgentVersionOut,
    auth=READ,
    operation_id="agent_version_get",
)
def agent_version_get(request: ApiRequest, agent_id: UUID, number: int) -> AgentVersion:
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    return selectors.agent_version_get(agent=agent, number=number)


@router.post(
    "/agents/{agent_id}/versions/{number}/restore",
    response={201: AgentVersionOut},
    auth=WRITE,
    operation_id="agent_version_restore",
)
def agent_version_restore(request: ApiRequest, agent_id: UUID, number: int) -> Status:
    """A new version equal to version `number`: published at once, or the draft under
    `publish_mode` review. Answers the new version."""
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    restored = services.agent_version_restore(agent=agent, actor=request.auth.actor, number=number)
    return Status(201, selectors.agent_version_get(agent=agent, number=restored.number))


@router.post(
    "/agents/{agent_id}/versions/{number}/publish",
    response=AgentOut,
    auth=WRITE,
    operation_id="agent_version_publish",
)
def agent_version_publish(request: ApiRequest, agent_id: UUID, number: int) -> Agent:
    """Make version `number` the one live traffic runs. Answers the agent."""
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    return services.agent_version_publish(agent=agent, actor=request.auth.actor, number=number)
