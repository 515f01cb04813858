"""iwy sync's Celery tasks: thin, by link id, idempotent (a push with nothing to push does
nothing). A push that failed for a passing reason (429, 5xx, no answer) is retried with a
growing delay; one that keeps failing marks the link failed, and the next pull tries again."""

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from config.celery import enqueue

from . import services
from .client import IwyError
from .models import AgentLink, IwyAccount, ToolLink
from .services import LinkModel

__all__ = ["pull_agent", "pull_links", "pull_tool", "push_agent", "push_tool"]


def _push(task: Task, model: LinkModel, link_id: str) -> str:
    try:
        return services.link_push(model=model, link_id=link_id)
    except IwyError as exc:
        retries = task.request.retries
        # An eager run (tests, or no broker) has nothing to retry through: the pull will.
        if exc.retryable and retries < settings.IWY_PUSH_MAX_RETRIES and not task.request.is_eager:
            countdown = settings.IWY_RETRY_BASE_SECONDS * 2**retries
            raise task.retry(
                countdown=countdown, max_retries=settings.IWY_PUSH_MAX_RETRIES
            ) from exc
        services.link_failed(model=model, link_id=link_id, message=exc.message)
        return "error"


def _pull(model: LinkModel, link_id: str) -> str:
    try:
        return services.link_pull(model=model, link_id=link_id)
    except IwyError:  # recorded on the link; the next round tries again
        return "error"


@shared_task(name="iwy.tasks.push_agent", bind=True)
def push_agent(self: Task, link_id: str) -> str:
    return _push(self, AgentLink, link_id)


@shared_task(name="iwy.tasks.push_tool", bind=True)
def push_tool(self: Task, link_id: str) -> str:
    return _push(self, ToolLink, link_id)


@shared_task(name="iwy.tasks.pull_agent")
def pull_agent(link_id: str) -> str:
    return _pull(AgentLink, link_id)


@shared_task(name="iwy.tasks.pull_tool")
def pull_tool(link_id: str) -> str:
    return _pull(ToolLink, link_id)


@shared_task(name="iwy.tasks.pull_links")
def pull_links() -> dict[str, Any]:
    """The beat's round: one pull per link of every team with an iwy account, tools first."""
    teams = IwyAccount.objects.values("team_id")
    tools = [
        str(i) for i in ToolLink.objects.filter(team_id__in=teams).values_list("pk", flat=True)
    ]
    agents = [
        str(i) for i in AgentLink.objects.filter(team_id__in=teams).values_list("pk", flat=True)
    ]
    for link_id in tools:
        enqueue(pull_tool, link_id)
    for link_id in agents:
        enqueue(pull_agent, link_id)
    return {"tools": len(tools), "agents": len(agents)}
