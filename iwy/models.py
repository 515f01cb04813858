"""A team's iwy account, and the links between Parley's agents and tools and their copies on iwy.

A link keeps two snapshots taken when both sides last agreed: Parley's side as Parley would
publish it (`local_synced`) and iwy's side as iwy answered it (`remote_synced`). Comparing each
side with its own snapshot says which side changed since, even where iwy stores a value in its
own way (a default filled in, a number reformatted)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.models import Agent
from parley.fields import EncryptedJSONField
from teams.models import ApiKey, Team
from tools.models import Tool


class IwyAccount(models.Model):
    """One iwy account per team: its Service API key, encrypted."""

    team = models.OneToOneField(Team, models.CASCADE, related_name="iwy_account")
    # {"api_key": "..."}
    credentials = EncryptedJSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"iwy account of {self.team}"

    @property
    def api_key(self) -> str:
        return str((self.credentials or {}).get("api_key") or "")


class SyncState(models.TextChoices):
    IN_SYNC = "in_sync", "In sync"
    PENDING = "pending", "Changes waiting to be pushed"
    DRIFT = "drift", "Changed on iwy"
    ERROR = "error", "Error"


class Link(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    remote_id = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=SyncState.choices, default=SyncState.IN_SYNC)
    last_error = models.TextField(blank=True)
    # Encrypted: a tool's headers, which iwy needs in clear to call the webhook, are secrets.
    local_synced = EncryptedJSONField(default=dict)
    remote_synced = EncryptedJSONField(default=dict)
    # iwy's side as the last pull found it, kept while it differs from remote_synced (drift).
    remote_seen = EncryptedJSONField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)
    pulled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    @property
    def drifted(self) -> bool:
        return self.state == SyncState.DRIFT


class AgentLink(Link):
    agent = models.OneToOneField(Agent, models.CASCADE, related_name="iwy_link")

    class Meta:
        indexes = [
            # The iwy page's list and the pull's round: a team's links.
            models.Index(fields=["team", "state"], name="iwy_agentlink_team"),
        ]

    def __str__(self) -> str:
        return f"{self.agent} on iwy ({self.remote_id})"


class ToolLink(Link):
    tool = models.OneToOneField(Tool, models.CASCADE, related_name="iwy_link")

    class Meta:
        indexes = [
            models.Index(fields=["team", "state"], name="iwy_toollink_team"),
        ]

    def __str__(self) -> str:
        return f"{self.tool} on iwy ({self.remote_id})"


class MintedAgent(models.Model):
    """A single-use agent minted on iwy through Parley, recorded so the team sees it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="iwy_minted_agents")
    # The Parley agent it was made from; null when it came from a configuration alone.
    source_agent = models.ForeignKey(
        Agent, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_name = models.CharField(max_length=200, blank=True)
    remote_id = models.CharField(max_length=64)
    ttl_seconds = models.PositiveIntegerField()
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The iwy page and the API list: a team's minted agents, newest first.
            models.Index(fields=["team", "-created_at"], name="iwy_minted_team_list"),
        ]

    def __str__(self) -> str:
        return f"single-use {self.remote_id}"
