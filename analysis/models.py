import uuid
from typing import Any

from django.db import models
from django.db.models import Q

from agents.models import AgentVersion
from sessions.models import Session
from teams.models import Team


class AnalysisStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    UNKNOWN = "unknown", "Unknown"


class SessionAnalysis(models.Model):
    """The post-call analysis of one session: its summary, the data extracted, and a verdict
    per success criterion, as judged by an LLM with the agent's analysis settings. Running it
    again replaces it; `run` counts the runs, so a task queued for an earlier one does nothing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.OneToOneField(Session, models.CASCADE, related_name="analysis")
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=7, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING
    )
    run = models.PositiveIntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0)  # of this run
    summary = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)  # as the data schema describes
    criteria = models.JSONField(default=list, blank=True)  # [{name, result, reason}]
    # {criterion name: result}: what the sessions list filters on, as JSON key lookups work on
    # every database and list containment does not on SQLite.
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)  # why it failed, for the team
    # The agent version whose analysis settings were applied: the published one when it ran.
    agent_version = models.ForeignKey(
        AgentVersion, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    llm = models.CharField(max_length=300, blank=True)  # "provider/model"
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)  # the LLM's answer
    # When a failed attempt is tried again; null once nothing follows.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "session analyses"
        indexes = [
            # The reconciler reads the analyses not finished, few among many.
            models.Index(
                fields=["status", "requested_at"],
                condition=Q(status__in=["pending", "running"]),
                name="analysis_unfinished",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="analysis_retry_due",
            ),
            # The analytics rollup recomputes the hours of the analyses finished lately.
            models.Index(fields=["finished_at"], name="analysis_finished"),
        ]

    def __str__(self) -> str:
        return f"Analysis of {self.session_id}: {self.get_status_display()}"

    def as_document(self) -> dict[str, Any]:
        """The analysis as the API and the end-of-conversation callback show it."""
        version = self.agent_version
        return {
            "status": self.status,
            "summary": self.summary,
            "data": self.data,
            "criteria": self.criteria,
            "error": self.error,
            "agent_version": version.number if version is not None else None,
            "llm": self.llm,
            "attempts": self.attempts,
            "requested_at": self.requested_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_ms": self.duration_ms,
        }
