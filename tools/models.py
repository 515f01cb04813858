import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from parley.fields import EncryptedJSONField
from teams.models import Team


class HttpMethod(models.TextChoices):
    POST = "POST"
    GET = "GET"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class Tool(models.Model):
    """A webhook an agent can call, described to the LLM by a JSON Schema."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="tools")
    name = models.CharField(max_length=64)
    description = models.TextField(max_length=4000)
    # Validated by tools.spec.ToolSpec, which accepts intranet hosts such as http://crm:8080.
    server_url = models.CharField(max_length=2000)
    method = models.CharField(max_length=6, choices=HttpMethod.choices, default=HttpMethod.POST)
    parameters_schema = models.JSONField(default=dict)
    # Header values and auth secrets are encrypted at rest and leave the API masked.
    headers = EncryptedJSONField(default=dict, blank=True)
    auth_config = EncryptedJSONField(default=dict, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(300)]
    )
    is_async = models.BooleanField(default=False)
    strict_params = models.BooleanField(default=False)
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # The LLM tells tools apart by name, so a name means one tool within a team.
            models.UniqueConstraint(fields=["team", "name"], name="tool_unique_team_name"),
        ]
        indexes = [
            # The API and dashboard list: a team's tools, newest first.
            models.Index(fields=["team", "-created_at"], name="tool_team_list"),
        ]

    def __str__(self) -> str:
        return self.name
