import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentVersion
from sessions.models import Session
from teams.models import Team


class EvalScenario(models.Model):
    """One scenario of an agent's test suite: a simulated user, a number of turns, and the
    checks its conversation must pass. Its settings are evals.spec.ScenarioSpec's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, models.CASCADE, related_name="eval_scenarios")
    name = models.CharField(max_length=200)
    spec = models.JSONField(default=dict)  # ScenarioSpec.as_document()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One name per agent's suite; also the index that lists a suite by name.
            models.UniqueConstraint(fields=["agent", "name"], name="eval_scenario_name"),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"  # a check failed, or a scenario could not be played


class EvalRun(models.Model):
    """One run of an agent's suite against one of its versions: every scenario, `trials`
    times each, as EvalResults. The counts move as the results settle."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, models.CASCADE, related_name="eval_runs")
    agent_version = models.ForeignKey(
        AgentVersion, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version_number = models.PositiveIntegerField()  # kept if the version row goes
    status = models.CharField(max_length=7, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trials = models.PositiveSmallIntegerField(default=1)
    total = models.PositiveIntegerField(default=0)  # scenarios x trials
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # could not be played or judged
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # An agent's runs, newest first.
            models.Index(fields=["agent", "-created_at"], name="eval_run_agent"),
        ]

    def __str__(self) -> str:
        return f"Eval run of v{self.version_number}: {self.get_status_display()}"

    @property
    def settled(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def is_running(self) -> bool:
        return self.status == RunStatus.RUNNING

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.created_at).total_seconds() * 1000)

    def as_document(self) -> dict[str, Any]:
        """The run as the API shows it, without its results."""
        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "version": self.version_number,
            "status": self.status,
            "trials": self.trials,
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "created_by": self.created_by.email if self.created_by else None,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
        }


class ResultStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"  # the conversation could not be played, or a check not judged


SETTLED = (ResultStatus.PASSED, ResultStatus.FAILED, ResultStatus.ERROR)


class EvalResult(models.Model):
    """One trial of one scenario in a run: the session it played and each check's outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(EvalRun, models.CASCADE, related_name="results")
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    # Kept when the scenario is deleted: the run is a record of what was played.
    scenario = models.ForeignKey(
        EvalScenario, models.SET_NULL, null=True, blank=True, related_name="results"
    )
    scenario_name = models.CharField(max_length=200)
    spec = models.JSONField(default=dict)  # the scenario as it was when the run started
    trial = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=7, choices=ResultStatus.choices, default=ResultStatus.PENDING
    )
    # [{name, kind, outcome: passed|failed|error, reason}]
    checks = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)  # why it could not be played
    session = models.ForeignKey(Session, models.SET_NULL, null=True, blank=True, related_name="+")
    turns = models.PositiveSmallIntegerField(default=0)
    ended = models.BooleanField(default=False)  # the simulated user was done in time
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "scenario_name", "trial"]
        constraints = [
            # Also the index that reads a run's results in order.
            models.UniqueConstraint(
                fields=["run", "scenario_name", "trial"], name="eval_result_once"
            ),
        ]
        indexes = [
            # Results left unsettled, few among many: the reconciler's.
            models.Index(
                fields=["status", "started_at"],
                condition=Q(status__in=["pending", "running"]),
                name="eval_result_unsettled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scenario_name} #{self.trial}: {self.get_status_display()}"

    @property
    def is_settled(self) -> bool:
        return self.status in SETTLED

    def check_outcomes(self) -> dict[str, str]:
        return {str(c.get("name")): str(c.get("outcome")) for c in self.checks}

    def as_document(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "scenario_id": str(self.scenario_id) if self.scenario_id else None,
            "scenario": self.scenario_name,
            "trial": self.trial,
            "status": self.status,
            "checks": self.checks,
            "error": self.error,
            "session_id": str(self.session_id) if self.session_id else None,
            "turns": self.turns,
            "ended": self.ended,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
        }
