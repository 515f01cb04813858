import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from agents.models import VersionSource
from parley.fields import EncryptedJSONField
from teams.models import Team

from .spec import ToolSpec, auth_config_masked, headers_masked


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

    def definition(self) -> dict[str, Any]:
        """The tool as the LLM and its webhook see it, secrets masked: what versions record."""
        document = {field: getattr(self, field) for field in ToolSpec.model_fields}
        return document | {
            "server_url": str(self.server_url),
            "headers": headers_masked(self.headers or {}),
            "auth_config": auth_config_masked(self.auth_config or {}),
        }


class ToolVersion(models.Model):
    """One saved state of a tool, numbered 1, 2, 3… per tool; never changed once made."""

    tool = models.ForeignKey(Tool, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField(default=dict)
    source = models.CharField(max_length=9, choices=VersionSource.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tool", "-number"]
        constraints = [
            # One number per tool; also the index that finds a tool's newest version.
            models.UniqueConstraint(fields=["tool", "number"], name="tool_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_id} v{self.number}"


class ExecutionSource(models.TextChoices):
    AGENT = "agent", "Agent"
    TEST = "test", "Test"


class ExecutionOutcome(models.TextChoices):
    """parley.outbound.Outcome, plus what happens before or instead of a request."""

    PENDING = "pending", "Pending"  # an async tool's call, queued
    RUNNING = "running", "Running"  # ... and taken by a worker
    SUCCESS = "success", "Success"
    INVALID_ARGUMENTS = "invalid_arguments", "Invalid arguments"
    HTTP_ERROR = "http_error", "HTTP error"
    TIMEOUT = "timeout", "Timeout"
    REFUSED = "refused", "Refused"
    DNS_ERROR = "dns_error", "DNS error"
    UNREACHABLE = "unreachable", "Unreachable"
    TOO_LARGE = "too_large", "Reply too large"
    UNDECODABLE = "undecodable", "Unreadable reply"
    TOO_MANY_REDIRECTS = "too_many_redirects", "Too many redirects"
    WORKER_LOST = "worker_lost", "Worker lost"  # every worker that took it died mid-call


class ToolExecution(models.Model):
    """One call of a tool's webhook (or its refusal), with secrets redacted and bodies capped."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="tool_executions")
    # Kept when the tool or the session goes: the record outlives both until it is pruned.
    tool = models.ForeignKey(
        Tool, models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    tool_name = models.CharField(max_length=64)
    session = models.ForeignKey(
        "conversations.Session",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="tool_executions",
    )
    source = models.CharField(max_length=5, choices=ExecutionSource.choices)
    is_async = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # An async call: when a worker last took it, and how many times one has. A call still
    # running long past its tool's timeout lost its worker, and is queued again or given up.
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=18, choices=ExecutionOutcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    # {url, method, headers, payload}, as the test endpoint shows it.
    request = models.JSONField(default=dict, blank=True)
    # {status, status_text, headers, body, content_type}, or null when no reply came.
    response = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            # The tool page: a tool's recent calls and their statistics.
            models.Index(fields=["tool", "-started_at"], name="toolexec_tool_recent"),
            # A session's timeline links to its calls.
            models.Index(fields=["session", "started_at"], name="toolexec_session"),
            # The retention sweep deletes by age.
            models.Index(fields=["started_at"], name="toolexec_age"),
            # The recovery sweep looks for calls still running, by when they were taken.
            models.Index(
                fields=["claimed_at"],
                name="toolexec_running",
                condition=models.Q(outcome="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.outcome == ExecutionOutcome.SUCCESS

    @property
    def is_finished(self) -> bool:
        return self.outcome not in (ExecutionOutcome.PENDING, ExecutionOutcome.RUNNING)
