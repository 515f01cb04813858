import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from parley.fields import EncryptedJSONField
from teams.models import Team

from .catalog import KIND_CHOICES, provider_kind


class Provider(models.Model):
    """A team's own credentials for one kind of provider, LLM or speech. They win over the
    install-wide default from the environment (settings.LLM_PROVIDER_DEFAULTS and
    SPEECH_PROVIDER_DEFAULTS)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="providers")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    # Blank: the kind's well-known address (providers.catalog); always blank for a speech kind.
    # Validated by provider_save.
    base_url = models.CharField(max_length=2000, blank=True)
    # {"api_key": "..."}, encrypted at rest; empty for a self-hosted server without a key. Azure
    # Speech adds "region", which is no secret but belongs with its key.
    credentials = EncryptedJSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One set of credentials per kind and team. Its index also serves the engine's
            # lookup (team, kind) and the Providers page's list (team).
            models.UniqueConstraint(fields=["team", "kind"], name="provider_unique_team_kind"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return provider_kind(self.kind).label

    @property
    def api_key(self) -> str:
        return str((self.credentials or {}).get("api_key") or "")

    @property
    def region(self) -> str:
        return str((self.credentials or {}).get("region") or "")
