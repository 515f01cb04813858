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


class PublishMode(models.TextChoices):
    """When a saved change reaches live traffic: at once, or once a person publishes it."""

    IMMEDIATE = "immediate", "At once"
    REVIEW = "review", "After review"


class VersionSource(models.TextChoices):
    """Where a version of an agent or a tool was made."""

    DASHBOARD = "dashboard", "Dashboard"
    API = "api", "API"
    SYNC = "sync", "iwy sync"
    SYSTEM = "system", "Parley"


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
    publish_mode = models.CharField(
        max_length=9, choices=PublishMode.choices, default=PublishMode.IMMEDIATE
    )
    # `configuration` is always the published version's: every live reader reads it as it is.
    published_version = models.ForeignKey(
        "AgentVersion", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The newest version not yet published (publish_mode review only); edits start from it.
    draft_version = models.ForeignKey(
        "AgentVersion", models.SET_NULL, null=True, blank=True, related_name="+"
    )
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


class AgentVersion(models.Model):
    """One saved state of an agent, numbered 1, 2, 3… per agent. Never changed once made:
    restoring an old version makes a new one equal to it."""

    agent = models.ForeignKey(Agent, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    configuration = models.JSONField(default=dict)
    # The selected tools' definitions as they were, secrets masked (tools.models.Tool.definition).
    tools = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=9, choices=VersionSource.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["agent", "-number"]
        constraints = [
            # One number per agent; also the index that lists an agent's versions, newest first.
            models.UniqueConstraint(fields=["agent", "number"], name="agent_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"
