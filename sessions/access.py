"""Who may start a session with an agent, and who may talk in one.

- A draft agent: only its own team (an API key, or a signed-in member: the dashboard preview).
- A private or public agent: anyone holding its id; from a browser, only from the agent's
  allowed origins when it lists any.
- A single-use agent: once. Two starts at the same moment: the database lets exactly one claim
  it. Never after its TTL.
- Starts are limited per agent and per client address, and a team's running sessions are
  capped (sessions.limits).
- Talking in a session: the team's API key, or the session token handed out at its start.

A refused start says why in `details.reason` too (`agent_draft`, `origin_not_allowed`,
`single_use_used`, `single_use_expired`), so that the widget can tell a visitor in their words.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind, PublishStatus
from parley.errors import Forbidden, Gone, NotFound, Unauthorized
from teams.models import Team

from .limits import TooManyRequests, session_start_limits_check
from .models import Session, SessionStatus, SessionType
from .services import session_create
from .tokens import session_token_session_id

NO_AGENT = "No agent with this id exists."
NO_SESSION = "No session with this id exists."
LIVE = (SessionStatus.STARTING, SessionStatus.RUNNING)


@dataclass(frozen=True)
class Starter:
    """Who is asking to start: a team (by key or sign-in) or nobody in particular, and from
    which browser origin and address."""

    team: Team | None = None
    origin: str = ""
    client_ip: str = ""


def _agent(agent_id: UUID) -> Agent:
    try:
        return Agent.objects.select_related("team").get(id=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(NO_AGENT) from None


def _check_audience(agent: Agent, starter: Starter, config: AgentConfiguration) -> None:
    own_team = starter.team is not None and starter.team.pk == agent.team_id
    if agent.publish_status == PublishStatus.DRAFT and not own_team:
        raise Forbidden(
            "This agent is a draft: only its team can start sessions with it. "
            "Publish it as private or public to let others talk to it.",
            details={"reason": "agent_draft"},
        )
    allowed = config.allowed_origins
    origin = starter.origin.rstrip("/").lower()
    if origin and allowed and "*" not in allowed and origin not in allowed and not own_team:
        raise Forbidden(
            f"This agent does not accept sessions from {starter.origin}.",
            details={"reason": "origin_not_allowed"},
        )


def _check_capacity(agent: Agent) -> None:
    running = Session.objects.filter(team_id=agent.team_id, status__in=LIVE).count()
    if running >= settings.SESSION_MAX_CONCURRENT_PER_TEAM:
        raise TooManyRequests(
            "This team has as many conversations running as it may have at once; "
            "try again when one has ended."
        )


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
) -> Session:
    """Start a session with the agent, if this starter may. Raises NotFound, Forbidden, Gone or
    TooManyRequests with a message saying why not. `check`: what else must hold for this kind
    of session (a call needs a voice worker with room), asked once the starter may start and
    before a single-use agent is spent."""
    agent = _agent(agent_id)
    config = AgentConfiguration.model_validate(agent.configuration)
    _check_audience(agent, starter, config)
    session_start_limits_check(agent_id=str(agent.id), client_ip=starter.client_ip)
    _check_capacity(agent)
    if check is not None:
        check(agent, config)
    with transaction.atomic():
        if agent.kind == AgentKind.SINGLE_USE:
            _claim_single_use(agent)
        return session_create(agent=agent, type=type, metadata=metadata)


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
