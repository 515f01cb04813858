"""Which agent a hosted page (/meet/<id>) and the widget's card of it may show, read with the same
rules as starting a session (sessions.access, sessions.limits), so that the page, the widget and
the start never disagree."""

from uuid import UUID

from agents.models import Agent, AgentKind, PublishStatus
from parley.errors import Gone, NotFound
from sessions.limits import session_capacity_check, visitor_key

NOT_AVAILABLE = "No agent with this id is available."


def meet_agent_get(*, agent_id: str, team_id: int | None) -> Agent:
    """The agent a visitor may meet. `team_id`: the signed-in person's current team, whose
    drafts they may try out as in the dashboard preview.

    Unknown ids and other teams' drafts are both NotFound, so that a page does not tell
    whether an agent exists. A single-use agent is Gone once it has expired, or once its one
    session has started (`used_at`, set by the start that claimed it), with `details.reason`
    as the start endpoint gives it."""
    try:
        agent = Agent.objects.get(id=UUID(agent_id))
    except (ValueError, Agent.DoesNotExist):
        raise NotFound(NOT_AVAILABLE) from None
    if agent.publish_status == PublishStatus.DRAFT and agent.team_id != team_id:
        raise NotFound(NOT_AVAILABLE)
    if agent.kind == AgentKind.SINGLE_USE:
        if agent.is_expired():
            raise Gone("This link has expired.", details={"reason": "single_use_expired"})
        if agent.used_at is not None:
            raise Gone("This link has been used.", details={"reason": "single_use_used"})
    return agent


def meet_room_check(*, agent: Agent, team_id: int | None, client_ip: str) -> None:
    """Raise TooManyRequests when a start now would be refused for the sessions running: the
    agent's team, or its visitors, hold as many as they may (sessions.limits; nothing counted).
    A signed-in person starts as their team, an anonymous visitor as an address, as the
    widget's start does (sessions.access)."""
    visitor = None if team_id is not None else visitor_key(client_ip)
    session_capacity_check(team_id=agent.team_id, agent_id=agent.id, visitor=visitor)
