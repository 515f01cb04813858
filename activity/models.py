from django.conf import settings
from django.db import models
from django.utils import timezone

from teams.models import ApiKey, Team


class Action(models.TextChoices):
    CREATED = "created", "created"
    UPDATED = "updated", "updated"
    PUBLISHED = "published", "changed the publish status of"
    DELETED = "deleted", "deleted"
    REVOKED = "revoked", "revoked"
    INVITED = "invited", "invited"
    JOINED = "joined", "joined"
    ROLE_CHANGED = "role_changed", "changed the role of"
    REMOVED = "removed", "removed"
    IWY_PUBLISHED = "iwy_publish", "published to iwy"
    IWY_KEPT = "iwy_keep", "pushed Parley's version to iwy of"
    IWY_UNLINKED = "iwy_unlink", "unlinked from iwy"
    VERSION_PUBLISHED = "version_pub", "published a version of"
    VERSION_RESTORED = "version_rest", "restored a version of"


class TargetType(models.TextChoices):
    AGENT = "agent", "agent"
    TOOL = "tool", "tool"
    API_KEY = "api_key", "API key"
    MEMBER = "member", "member"
    INVITATION = "invitation", "invitation"
    PROVIDER = "provider", "provider"
    LLM_KEY = "llm_key", "agent LLM key"


class ActivityEntry(models.Model):
    """Who did what to which object of a team, and which fields changed. Append-only."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="activity")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set when the change came through the API with a key.
    api_key = models.ForeignKey(ApiKey, models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=12, choices=Action.choices)
    target_type = models.CharField(max_length=10, choices=TargetType.choices)
    target_id = models.CharField(max_length=64)
    # The name at the time, so entries stay readable after the object is deleted.
    target_label = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activity entries"
        indexes = [
            # The activity page: a team's entries, newest first, optionally by type.
            models.Index(fields=["team", "-created_at"], name="activity_team_list"),
            models.Index(fields=["team", "target_type", "-created_at"], name="activity_team_type"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.actor_label} {self.get_action_display()} {self.target_type} {self.target_label}"
        )

    @property
    def actor_label(self) -> str:
        if self.actor is not None:
            return str(self.actor)
        if self.api_key_id is not None:
            return f"API key {self.api_key.prefix}…" if self.api_key else "an API key"
        return "Parley"
