from uuid import UUID

from django.db.models import QuerySet

from parley.errors import NotFound
from teams.models import Team

from .models import Tool

NOT_FOUND = "No tool with this id exists in your team."


def tool_list(*, team: Team) -> QuerySet[Tool]:
    return Tool.objects.filter(team=team).order_by("-created_at", "-id")


def tool_get(*, team: Team, tool_id: UUID) -> Tool:
    """One of the team's tools. Another team's tool is simply not found."""
    try:
        return Tool.objects.get(team=team, id=tool_id)
    except Tool.DoesNotExist:
        raise NotFound(NOT_FOUND) from None


def tool_list_for_dashboard(*, team: Team) -> QuerySet[Tool]:
    """The dashboard's list: only the columns it shows, so no secret is read or decrypted."""
    return tool_list(team=team).only(
        "id",
        "name",
        "method",
        "server_url",
        "is_async",
        "strict_params",
        "timeout_seconds",
        "created_at",
        "updated_at",
    )
