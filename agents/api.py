"""/v1 agents: iwy's singular paths (/agent/{id}) and plural collection paths (/agents)."""

from typing import Literal
from uuid import UUID

from django.db.models import QuerySet
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

from teams.auth import READ, WRITE, ApiRequest

from . import selectors, services
from .models import Agent
from .schemas import (
    AgentIn,
    AgentOut,
    AgentPatch,
    EphemeralAgentIn,
    EphemeralAgentOut,
    PublishStatusIn,
)

router = Router(tags=["Agents"])


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
    )


@router.post("/agents", response={201: AgentOut}, auth=WRITE, operation_id="agent_create")
@router.post("/agent", response={201: AgentOut}, auth=WRITE, operation_id="agent_create_iwy")
def agent_create(request: ApiRequest, payload: AgentIn) -> Status:
    agent = services.agent_create(
        team=request.auth.team,
        actor=request.auth.actor,
        name=payload.name,
        publish_status=payload.publish_status,
        runtime=payload.runtime,
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
    """Only the fields sent change; `configuration` merges as a JSON Merge Patch."""
    agent = selectors.agent_get(team=request.auth.team, agent_id=agent_id)
    return services.agent_update(
        agent=agent, actor=request.auth.actor, changes=payload.model_dump(exclude_unset=True)
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
