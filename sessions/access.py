"""Who may start a session with an agent, and who may talk in one.

- A draft agent: only its own team (an API key, or a signed-in member: the dashboard preview).
  To anyone else it does not exist: 404, exactly as an id that was never made.
- A private or public agent: anyone holding its id; from a browser, only from the agent's
  allowed origins when it lists any. An API key speaks for its team only: another team's key
  finds no agent of this team, whatever its state.
- A read-only API key starts nothing: a session is a conversation it would take part in.
- A single-use agent: once. Two starts at the same moment: the database lets exactly one claim
  it. Never after its TTL.
- Starts are limited per agent and per client address, and a team's running sessions are
  capped (sessions.limits).
- Talking in a session: the team's API key, or the session token handed out at its start.

A refused start says why in `details.reason` too (`origin_not_allowed`,
`single_use_used`, `single_use_expired`), so that the widget can tell a visitor in their words.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind, AgentVersion, PublishStatus
from parley.errors import Forbidden, Gone, NotFound, Unauthorized
from teams.auth import READ_ONLY_KEY
from teams.models import Team

from .limits import session_capacity_check, session_start_limits_check, visitor_key
from .models import Channel, Session, SessionType
from .services import session_create
from .tokens import session_token_session_id

NO_AGENT = "No agent with this id exists."
NO_SESSION = "No session with this id exists."
NO_VERSION = "This agent has no version {number}."
VERSION_TEAM_ONLY = (
    "Only the agent's team, signed in to the dashboard, may start a session with a version "
    "other than the published one."
)


@dataclass(frozen=True)
class Starter:
    """Who is asking to start: a team (by key or sign-in) or nobody in particular, and from
    which browser origin and address. `by_key`: the team came from an API key, which speaks
    for its team only; `can_write`: that key may act, not only read."""

    team: Team | None = None
    origin: str = ""
    client_ip: str = ""
    by_key: bool = False
    can_write: bool = True
    channel: Channel = Channel.UNKNOWN  # where the start came from, for analytics


def _agent(agent_id: UUID) -> Agent:
    try:
        return Agent.objects.select_related("team").get(id=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(NO_AGENT) from None


def _check_starter(agent: Agent, starter: Starter) -> bool:
    """Whether the starter is the agent's own team. Before anything about the agent's state
    is told: whoever may not see it gets the NotFound an unknown id gets."""
    own_team = starter.team is not None and starter.team.pk == agent.team_id
    if not own_team and (starter.by_key or agent.publish_status == PublishStatus.DRAFT):
        raise NotFound(NO_AGENT)
    if starter.by_key and not starter.can_write:
        raise Forbidden(READ_ONLY_KEY)
    return own_team


def _check_audience(agent: Agent, starter: Starter, config: AgentConfiguration) -> None:
    own_team = _check_starter(agent, starter)
    allowed = config.allowed_origins
    origin = starter.origin.rstrip("/").lower()
    if origin and allowed and "*" not in allowed and origin not in allowed and not own_team:
        raise Forbidden(
            f"This agent does not accept sessions from {starter.origin}.",
            details={"reason": "origin_not_allowed"},
        )


def _version(agent: Agent, starter: Starter, number: int | None) -> AgentVersion | None:
    """The version a session runs when the starter asks for one: only a signed-in member of
    the agent's team may (the test call), so that no visitor or key ever reaches a draft."""
    if number is None:
        return None
    if starter.team is None or starter.team.pk != agent.team_id or starter.by_key:
        raise Forbidden(VERSION_TEAM_ONLY)
    try:
        return agent.versions.get(number=number)
    except AgentVersion.DoesNotExist:
        raise NotFound(NO_VERSION.format(number=number)) from None


def _claim_single_use(agent: Agent) -> None:
    """Mark a single-use agent used. The conditional update lets one start win a race."""
    now = timezone.now()
    if agent.is_expired(now):
        raise Gone(
            "This single-use agent has expired; ask for a new link.",
            details={"reason": "single_use_expired"},
        )
    claimed = Agent.objects.filter(id=agent.id, used_at__isnull=True).update(used_at=now)
    if claimed != 1:
        raise Gone(
            "This single-use agent has already been used; ask for a new link.",
            details={"reason": "single_use_used"},
        )


def session_start(
    *,
    agent_id: UUID,
    starter: Starter,
    type: SessionType = SessionType.CHAT,
    metadata: dict[str, Any] | None = None,
    check: Callable[[Agent, AgentConfiguration], None] | None = None,
    version: int | None = None,
) -> Session:
    """Start a session with the agent, if this starter may. Raises NotFound, Forbidden, Gone or
    TooManyRequests with a message saying why not. `check`: what else must hold for this kind
    of session (a call needs a voice worker with room), asked once the starter may start and
    before a single-use agent is spent. `version`: the number of the version to run instead of
    the published one, for the agent's team signed in (the test call)."""
    agent = _agent(agent_id)
    config = AgentConfiguration.model_validate(agent.configuration)
    _check_audience(agent, starter, config)
    pinned = _version(agent, starter, version)
    if pinned is not None:
        config = AgentConfiguration.model_validate(pinned.configuration)
    session_start_limits_check(agent_id=str(agent.id), client_ip=starter.client_ip)
    # Anonymous (no team): counted apart, so that they cannot take every place (sessions.limits).
    visitor = visitor_key(starter.client_ip) if starter.team is None else None
    session_capacity_check(team_id=agent.team_id, agent_id=agent.id, visitor=visitor)
    if check is not None:
        check(agent, config)
    with transaction.atomic():
        if agent.kind == AgentKind.SINGLE_USE:
            _claim_single_use(agent)
        return session_create(
            agent=agent,
            type=type,
            metadata=metadata,
            visitor=visitor,
            version=pinned,
            channel=starter.channel,
        )


def session_for_caller(
    *, session_id: UUID, team: Team | None, token: str | None, lock: bool = False
) -> Session:
    """The session, if the caller's team owns it or the caller holds its token. Another team's
    session is not found, exactly like one that does not exist. `lock`: its row is locked for
    the rest of the caller's transaction."""
    found = Session.objects.select_related("team", "agent")
    if lock:
        found = found.select_for_update(of=("self",))
    try:
        session: Session | None = found.get(id=session_id)
    except Session.DoesNotExist:
        session = None
    if team is not None:
        if session is None or session.team_id != team.pk:
            raise NotFound(NO_SESSION)
        return session
    if not token:
        raise Unauthorized(
            "Send the session token as 'Authorization: Bearer st_…', or your API key."
        )
    if session_token_session_id(token) != session_id or session is None:
        raise Forbidden("This session token is not valid for this session, or has expired.")
    return session
