import statistics
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from sessions.models import EventKind, Session, SessionEvent

from .models import AgentDailyStats

FIGURES = [
    "team",
    "sessions",
    "ended_sessions",
    "duration_seconds",
    "turns",
    "tool_calls",
    "tool_failures",
    "llm_ttft_p50_ms",
    "llm_ttft_p95_ms",
    "computed_at",
]


def _bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    """Median and 95th percentile, as the tool page computes them."""
    if len(values) < 2:
        first = float(values[0]) if values else None
        return first, first
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
    return float(statistics.median(values)), p95


def _session_figures(sessions: QuerySet[Session]) -> dict[UUID, dict[str, Any]]:
    rows = sessions.values("agent_id", "team_id").annotate(
        sessions=Count("id"),
        ended_sessions=Count("id", filter=Q(ended_at__isnull=False)),
        duration=Sum(F("ended_at") - F("started_at")),
    )
    return {
        row["agent_id"]: {
            "team_id": row["team_id"],
            "sessions": row["sessions"],
            "ended_sessions": row["ended_sessions"],
            "duration_seconds": round(row["duration"].total_seconds()) if row["duration"] else 0,
        }
        for row in rows
    }


def _event_figures(events: QuerySet[SessionEvent]) -> dict[UUID, dict[str, int]]:
    tool_call = Q(kind=EventKind.TOOL_CALL)
    rows = events.values("session__agent_id").annotate(
        turns=Count("id", filter=Q(kind=EventKind.MESSAGE, data__role="user")),
        tool_calls=Count("id", filter=tool_call),
        tool_successes=Count("id", filter=tool_call & Q(data__outcome="success")),
    )
    return {
        row["session__agent_id"]: {
            "turns": row["turns"],
            "tool_calls": row["tool_calls"],
            "tool_failures": row["tool_calls"] - row["tool_successes"],
        }
        for row in rows
    }


def _latencies(events: QuerySet[SessionEvent]) -> dict[UUID, list[float]]:
    replies = events.filter(kind=EventKind.MESSAGE, data__role="assistant", data__has_key="ttft_ms")
    found: dict[UUID, list[float]] = defaultdict(list)
    for agent_id, ttft in replies.values_list("session__agent_id", "data__ttft_ms"):
        if isinstance(ttft, int | float):
            found[agent_id].append(float(ttft))
    return found


@transaction.atomic
def agent_daily_stats_compute(*, day: date) -> int:
    """Recompute every agent's figures for `day` and store them, replacing what was there; the
    number of agents with sessions that day. Three queries read the day: its sessions (on the
    started_at index), and their events, counted and then their reply latencies."""
    start, end = _bounds(day)
    sessions = Session.objects.filter(
        started_at__gte=start, started_at__lt=end, agent__isnull=False
    )
    events = SessionEvent.objects.filter(session__in=sessions.values("id"))
    per_session, per_event, latency = (
        _session_figures(sessions),
        _event_figures(events),
        _latencies(events),
    )
    now = timezone.now()
    rows = []
    for agent_id, figures in per_session.items():
        p50, p95 = _percentiles(latency.get(agent_id, []))
        counts = per_event.get(agent_id, {"turns": 0, "tool_calls": 0, "tool_failures": 0})
        rows.append(
            AgentDailyStats(
                agent_id=agent_id,
                day=day,
                **figures,
                **counts,
                llm_ttft_p50_ms=p50,
                llm_ttft_p95_ms=p95,
                computed_at=now,
            )
        )
    AgentDailyStats.objects.filter(day=day).exclude(agent_id__in=per_session).delete()
    AgentDailyStats.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["agent", "day"], update_fields=FIGURES
    )
    return len(rows)
