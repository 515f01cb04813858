from uuid import UUID

from parley.errors import Gone, NotFound
from teams.models import Team

from .models import Agent, AgentQuerySet

NOT_FOUND = "No agent with this id exists in your team."


def agent_list(
    *, team: Team, publish_status: str | None = None, kind: str | None = None
) -> AgentQuerySet:
    """The team's usable agents, newest first; expired single-use agents are left out."""
    agents = Agent.objects.filter(team=team).unexpired().order_by("-created_at", "-id")
    if publish_status:
        agents = agents.filter(publish_status=publish_status)
    if kind:
        agents = agents.filter(kind=kind)
    return agents


def agent_get(*, team: Team, agent_id: UUID) -> Agent:
    """One of the team's agents. Another team's agent is simply not found."""
    try:
        agent = Agent.objects.get(team=team, id=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(NOT_FOUND) from None
    if agent.is_expired():
        raise Gone(f"This single-use agent expired at {agent.expires_at:%Y-%m-%dT%H:%M:%SZ}.")
    return agent
