"""The floor bench/api.py holds the API against: plain Django views doing one query each.

They live under /v1/ so that the API's request guard middleware runs for them too."""

import json
from datetime import timedelta
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent, AgentKind


@require_GET
def agent_read(request: HttpRequest, agent_id: UUID) -> JsonResponse:
    """The whole agent row, in one SELECT."""
    return JsonResponse(Agent.objects.values().get(pk=agent_id), encoder=DjangoJSONEncoder)


@csrf_exempt  # as ninja's views are for API-key callers
@require_POST
def agent_insert(request: HttpRequest, team_id: int) -> JsonResponse:
    """A single-use agent from the body POST /v1/ephemeral-agent takes, in one INSERT."""
    body = json.loads(request.body)
    now = timezone.now()
    agent = Agent.objects.create(
        team_id=team_id,
        name="Single-use agent",
        kind=AgentKind.SINGLE_USE,
        publish_status="private",
        expires_at=now + timedelta(seconds=body["ttl_seconds"]),
        configuration=body["configuration"],
        created_at=now,
        updated_at=now,
    )
    ref = {"id": agent.id, "expires_at": agent.expires_at, "created_at": agent.created_at}
    return JsonResponse({"agent": ref}, encoder=DjangoJSONEncoder)


urlpatterns = [
    path("v1/minimal/agent/<uuid:agent_id>", agent_read),
    path("v1/minimal/team/<int:team_id>/ephemeral-agent", agent_insert),
]
