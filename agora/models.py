"""A team's Agora credentials: what Parley calls Agora's Conversational AI engine with."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from parley.fields import EncryptedJSONField
from teams.models import Team


class AgoraAccount(models.Model):
    """One set of Agora credentials per team. `credentials` is encrypted at rest:
    {"app_id", "customer_id", "customer_secret", "app_certificate"} (the certificate may be
    ""; with one, Parley signs RTC tokens for the channel)."""

    team = models.OneToOneField(Team, models.CASCADE, related_name="agora_account")
    credentials = EncryptedJSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Agora account"

    def __str__(self) -> str:
        return f"Agora app {self.app_id}"

    def _value(self, name: str) -> str:
        return str((self.credentials or {}).get(name) or "")

    @property
    def app_id(self) -> str:
        return self._value("app_id")

    @property
    def customer_id(self) -> str:
        return self._value("customer_id")

    @property
    def customer_secret(self) -> str:
        return self._value("customer_secret")

    @property
    def app_certificate(self) -> str:
        return self._value("app_certificate")
