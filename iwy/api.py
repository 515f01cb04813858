"""/v1/iwy: single-use agents minted on the team's iwy account."""

from typing import Any

from django.db.models import QuerySet
from ninja import Router, Status
from ninja.pagination import paginate

from agents.selectors import agent_get
from teams.auth import READ, WRITE, ApiRequest

from . import selectors, services
from .models import MintedAgent
from .schemas import MintedOut, MintIn, MintOut

router = Router(tags=["iwy"])


@router.post(
    "/iwy/ephemeral-agent", response={201: MintOut}, auth=WRITE, operation_id="iwy_agent_mint"
)
def iwy_agent_mint(request: ApiRequest, payload: MintIn) -> Status:
    """Mint a single-use agent on iwy (iwy's POST /ephemeral-agent) from one of the team's
    permanent agents (`agent_id`) or a `configuration`. Answers iwy's {agent: {id, expires_at,
    created_at}}; 409 when the team has no iwy account, 502/503 with iwy's message when iwy
    refuses or fails, 422 when iwy refuses the configuration."""
    team = request.auth.team
    agent = agent_get(team=team, agent_id=payload.agent_id) if payload.agent_id else None
    _, remote = services.agent_mint(
        team=team,
        actor=request.auth.actor,
        agent=agent,
        configuration=payload.configuration,
        ttl_seconds=payload.ttl_seconds,
        metadata=payload.metadata,
    )
    agent_ref: dict[str, Any] = {k: remote.get(k) for k in ("id", "expires_at", "created_at")}
    return Status(201, {"agent": agent_ref})


@router.get(
    "/iwy/ephemeral-agents", response=list[MintedOut], auth=READ, operation_id="iwy_agent_minted"
)
@paginate
def iwy_agent_minted(request: ApiRequest) -> QuerySet[MintedAgent]:
    """The single-use agents minted on iwy through Parley, newest first."""
    return selectors.minted_list(team=request.auth.team)
