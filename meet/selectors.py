"""Which agent a hosted page (/meet/<id>) may show, read with the same rules as starting a
session (sessions.access), so that the page and the widget on it never disagree."""

from uuid import UUID

from agents.models import Agent, AgentKind, PublishStatus
from parley.errors import Gone, NotFound

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
