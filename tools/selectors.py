import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from parley.errors import NotFound
from teams.models import Team

from .models import ExecutionOutcome, Tool, ToolExecution

NOT_FOUND = "No tool with this id exists in your team."
EXECUTION_NOT_FOUND = "This tool has no call with this id."
# Percentiles come from the newest calls only, so a busy tool's page stays cheap.
STATS_SAMPLE = 5000
UNFINISHED = (ExecutionOutcome.PENDING, ExecutionOutcome.RUNNING)


def tool_list(*, team: Team) -> QuerySet[Tool]:
    return Tool.objects.filter(team=team).order_by("-created_at", "-id")


def tool_get(*, team: Team, tool_id: UUID) -> Tool:
    """One of the team's tools. Another team's tool is simply not found."""
    try:
        return Tool.objects.get(team=team, id=tool_id)
    except Tool.DoesNotExist:
        raise NotFound(NOT_FOUND) from None


def tool_list_for_dashboard(*, team: Team) -> QuerySet[Tool]:
    """The dashboard's list: only the columns it shows, so no secret is read or decrypted."""
    return tool_list(team=team).only(
        "id",
        "name",
        "method",
        "server_url",
        "is_async",
        "strict_params",
        "timeout_seconds",
        "created_at",
        "updated_at",
    )


# A tool's calls.


def tool_executions_recent(*, tool: Tool, limit: int) -> QuerySet[ToolExecution]:
    """The tool's newest calls, without the recorded bodies a list does not show."""
    return (
        ToolExecution.objects.filter(tool=tool)
        .order_by("-started_at", "-id")
        .only("id", "source", "started_at", "duration_ms", "outcome", "status_code", "error")[
            :limit
        ]
    )


def tool_executions(*, tool: Tool) -> QuerySet[ToolExecution]:
    """The tool's calls with their records, newest first: the API's list."""
    return ToolExecution.objects.filter(tool=tool).order_by("-started_at", "-id")


def tool_execution_get(*, tool: Tool, execution_id: UUID) -> ToolExecution:
    """One call of this tool; a call of another tool, or of none, is not found."""
    try:
        return ToolExecution.objects.get(tool=tool, id=execution_id)
    except ToolExecution.DoesNotExist:
        raise NotFound(EXECUTION_NOT_FOUND) from None


@dataclass(frozen=True)
class ExecutionStats:
    """A tool's calls since a moment. `success_rate` is the percentage of finished calls that
    succeeded; the percentiles are of the durations of finished calls that went out (a call
    refused for invalid arguments never reaches the webhook, so takes 0 ms). None where there
    is nothing to measure."""

    calls: int
    finished: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None


def _percentiles(durations: list[int]) -> tuple[float | None, float | None]:
    if not durations:
        return None, None
    if len(durations) == 1:  # statistics.quantiles needs two points
        return float(durations[0]), float(durations[0])
    p95 = statistics.quantiles(durations, n=20, method="inclusive")[-1]
    return float(statistics.median(durations)), p95


def tool_execution_stats(*, tool: Tool, since: datetime) -> ExecutionStats:
    """Counts over every call since `since`; percentiles over the newest STATS_SAMPLE
    finished ones. Two queries, both on the (tool, -started_at) index."""
    calls = ToolExecution.objects.filter(tool=tool, started_at__gte=since)
    finished = ~Q(outcome__in=UNFINISHED)
    counts = calls.aggregate(
        calls=Count("id"),
        finished=Count("id", filter=finished),
        succeeded=Count("id", filter=Q(outcome=ExecutionOutcome.SUCCESS)),
    )
    durations = list(
        calls.filter(finished, duration_ms__isnull=False)
        .exclude(outcome=ExecutionOutcome.INVALID_ARGUMENTS)
        .order_by("-started_at")
        .values_list("duration_ms", flat=True)[:STATS_SAMPLE]
    )
    finished_count = counts["finished"]
    rate = 100 * counts["succeeded"] / finished_count if finished_count else None
    p50, p95 = _percentiles([d for d in durations if d is not None])
    return ExecutionStats(counts["calls"], finished_count, rate, p50, p95)


# Async calls whose queued message never reached a worker (the reconciler queues them again).
STRANDED_AFTER = timedelta(minutes=1)
STRANDED_WINDOW = timedelta(days=1)


def tool_executions_stranded(*, now: datetime | None = None) -> list[str]:
    """Ids of async tool calls queued over a minute ago and still pending: their message never
    reached a worker. Running them twice is safe: a worker claims a call before making it."""
    now = now or timezone.now()
    stranded = ToolExecution.objects.filter(
        started_at__gte=now - STRANDED_WINDOW,
        started_at__lt=now - STRANDED_AFTER,
        outcome=ExecutionOutcome.PENDING,
    )
    return [str(pk) for pk in stranded.values_list("id", flat=True)]
