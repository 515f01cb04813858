"""The team's iwy account in the API: single-use agents minted on it (/v1/iwy), and agents and
tools published to it (/v1/agents/{id}/iwy, /v1/tools/{id}/iwy): publish, read how the two
copies stand, resolve drift, unlink. The same services as the dashboard's iwy panel."""

from typing import Any, Literal
from uuid import UUID

from django.db.models import QuerySet
from ninja import Router, Status
from ninja.pagination import paginate

from agents.models import Agent
from agents.selectors import agent_get
from parley.errors import NotFound
from teams.auth import READ, WRITE, ApiRequest
from tools.models import Tool
from tools.selectors import tool_get

from . import selectors, services
from .models import AgentLink, Link, MintedAgent, ToolLink
from .schemas import LinkOut, MintedOut, MintIn, MintOut, PublishIn, ResolveIn

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


# Agents and tools on iwy.

Kind = Literal["agents", "tools"]
KIND = "{kind}"


def _target(request: ApiRequest, kind: Kind, object_id: UUID) -> Agent | Tool:
    team = request.auth.team
    if kind == "agents":
        return agent_get(team=team, agent_id=object_id)
    return tool_get(team=team, tool_id=object_id)


def _link(target: Agent | Tool) -> Link:
    if isinstance(target, Agent):
        link: Link | None = AgentLink.objects.filter(agent=target).first()
    else:
        link = ToolLink.objects.filter(tool=target).first()
    if link is None:
        raise NotFound(f"{target.name} is not on iwy: publish it first.")
    return link


def _shown(link: Link) -> dict[str, Any]:
    """What LinkOut reads: the link's fields, and the diff while drifted."""
    fields = ("remote_id", "state", "last_error", "synced_at", "pulled_at")
    shown = {name: getattr(link, name) for name in fields}
    return shown | {"diff": services.link_diff(link=link) if link.drifted else []}


@router.post(
    f"/{KIND}/{{object_id}}/iwy",
    response={201: LinkOut},
    auth=WRITE,
    operation_id="iwy_publish",
)
def iwy_publish(request: ApiRequest, kind: Kind, object_id: UUID, payload: PublishIn) -> Status:
    """Publish the agent or tool to iwy (iwy's POST /agent or /tool); from then on every
    change in Parley is pushed to iwy. An agent's tools must be on iwy first, or be published
    with it (`with_tools`). 409 when already on iwy or the team has no iwy account."""
    target = _target(request, kind, object_id)
    actor = request.auth.actor
    if isinstance(target, Agent):
        link: Link = services.agent_publish(
            agent=target, with_tools=payload.with_tools, actor=actor
        )
    else:
        link = services.tool_publish(tool=target, actor=actor)
    return Status(201, _shown(link))


@router.get(f"/{KIND}/{{object_id}}/iwy", response=LinkOut, auth=READ, operation_id="iwy_link")
def iwy_link(request: ApiRequest, kind: Kind, object_id: UUID) -> dict[str, Any]:
    """How Parley's copy and iwy's stand; while drifted, the fields that differ."""
    return _shown(_link(_target(request, kind, object_id)))


@router.post(
    f"/{KIND}/{{object_id}}/iwy/resolve", response=LinkOut, auth=WRITE, operation_id="iwy_resolve"
)
def iwy_resolve(
    request: ApiRequest, kind: Kind, object_id: UUID, payload: ResolveIn
) -> dict[str, Any]:
    """Drift: say which side wins. `parley` pushes Parley's values over iwy's; `iwy` takes
    iwy's into Parley through the usual update, validated as any change is."""
    link = _link(_target(request, kind, object_id))
    actor = request.auth.actor
    if payload.keep == "parley":
        link = services.link_keep_parley(link=link, actor=actor)
    else:
        link = services.link_take_iwy(link=link, actor=actor)
    return _shown(link)


@router.delete(
    f"/{KIND}/{{object_id}}/iwy", response={204: None}, auth=WRITE, operation_id="iwy_unlink"
)
def iwy_unlink(request: ApiRequest, kind: Kind, object_id: UUID) -> Status:
    """Forget the link; iwy's copy is left as it is (iwy documents no delete)."""
    link = _link(_target(request, kind, object_id))
    services.link_unlink(link=link, actor=request.auth.actor)
    return Status(204, None)
