import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from teams.models import Team


class PublishStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


class AgentKind(models.TextChoices):
    PERMANENT = "permanent", "Permanent"
    SINGLE_USE = "single_use", "Single-use"


class Runtime(models.TextChoices):
    """Where an agent's calls run: Parley's own voice pipeline, or Agora's Conversational AI
    engine with Parley as its LLM (agora/)."""

    PARLEY = "parley", "Parley"
    AGORA = "agora", "Agora Conversational AI"


class AgentQuerySet(models.QuerySet["Agent"]):
    def unexpired(self, now: datetime | None = None) -> "AgentQuerySet":
        return self.filter(
            models.Q(expires_at=None) | models.Q(expires_at__gt=now or timezone.now())
        )


class Agent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    publish_status = models.CharField(
        max_length=10, choices=PublishStatus.choices, default=PublishStatus.DRAFT
    )
    kind = models.CharField(max_length=12, choices=AgentKind.choices, default=AgentKind.PERMANENT)
    # Set only for single-use agents; past it the agent is invalid, whether swept yet or not.
    expires_at = models.DateTimeField(null=True, blank=True)
    # Set when a single-use agent's one session starts, by a conditional update: exactly once.
    used_at = models.DateTimeField(null=True, blank=True)
    configuration = models.JSONField(default=dict)
    runtime = models.CharField(max_length=10, choices=Runtime.choices, default=Runtime.PARLEY)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AgentQuerySet.as_manager()

    class Meta:
        indexes = [
            # The API and dashboard list: a team's agents, newest first, by status.
            models.Index(fields=["team", "kind", "-created_at"], name="agent_team_list"),
            # The sweep of expired single-use agents.
            models.Index(
                fields=["expires_at"],
                name="agent_expiry",
                condition=models.Q(expires_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())
