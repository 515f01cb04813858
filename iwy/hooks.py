"""What agents.services and tools.services call after changing an agent or a tool: a linked one
is marked pending and pushed to iwy once the change commits. Kept free of iwy.services, which
imports those services itself."""

from agents.models import Agent
from config.celery import enqueue_on_commit
from tools.models import Tool

from .models import AgentLink, Link, SyncState, ToolLink


def push_later(link: Link) -> None:
    from .tasks import push_agent, push_tool

    enqueue_on_commit(push_agent if isinstance(link, AgentLink) else push_tool, str(link.pk))


def _changed(links: "type[AgentLink] | type[ToolLink]", link: Link | None) -> None:
    """A drifted link only waits: which side wins is for a person to say."""
    if link is None:
        return
    links.objects.filter(pk=link.pk).exclude(state=SyncState.DRIFT).update(state=SyncState.PENDING)
    push_later(link)


def agent_changed(agent: Agent) -> None:
    _changed(AgentLink, AgentLink.objects.filter(agent=agent).first())


def tool_changed(tool: Tool) -> None:
    _changed(ToolLink, ToolLink.objects.filter(tool=tool).first())
