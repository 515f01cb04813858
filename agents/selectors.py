from uuid import UUID

from django.db.models.fields.json import KT

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


def agent_search(
    *, team: Team, kind: str, name_contains: str = "", publish_status: str | None = None
) -> AgentQuerySet:
    """The dashboard's list: `agent_list` narrowed by name, carrying only the LLM's provider and
    model (as `llm_provider`, `llm_model`) instead of the whole configuration document."""
    agents = agent_list(team=team, publish_status=publish_status, kind=kind)
    if name_contains:
        agents = agents.filter(name__icontains=name_contains)
    return agents.defer("configuration", "metadata").annotate(
        llm_provider=KT("configuration__llm__provider"), llm_model=KT("configuration__llm__model")
    )


def agent_get(*, team: Team, agent_id: UUID) -> Agent:
    """One of the team's agents. Another team's agent is simply not found."""
    try:
        agent = Agent.objects.get(team=team, id=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(NOT_FOUND) from None
    if agent.is_expired():
        raise Gone(f"This single-use agent expired at {agent.expires_at:%Y-%m-%dT%H:%M:%SZ}.")
    return agent
