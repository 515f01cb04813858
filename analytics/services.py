import statistics
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from sessions.models import EventKind, Session, SessionEvent

from . import histograms
from .models import AgentDailyStats, AgentHourlyStats

HOUR = timedelta(hours=1)

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


# The event data the hourly rollup reads, by key: the rest (a message's text) stays unread.
EVENT_KEYS = {
    "role": "role",
    "ttft": "ttft_ms",
    "voice": "latency_ms",
    "turn_detection": "turn_detection_ms",
    "stt": "stt_ms",
    "llm": "llm_ms",
    "tts": "tts_ms",
    "tool": "tool_name",
    "outcome": "outcome",
    "code": "code",
}
LATENCY_KEYS = ["ttft", "voice", "turn_detection", "stt", "llm", "tts"]
ROLLUP_KINDS = [EventKind.MESSAGE, EventKind.TOOL_CALL, EventKind.ERROR]


def _hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _number(value: Any) -> float | None:
    """A measurement read from event data: numbers only (JSON text may come back as str)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


@dataclass
class _HourFigures:
    """One rollup row in the making."""

    sessions: int = 0
    ended: int = 0
    duration: int = 0
    turns: int = 0
    duration_histogram: list[int] = field(
        default_factory=lambda: histograms.empty(histograms.DURATION_EDGES)
    )
    turns_histogram: list[int] = field(
        default_factory=lambda: histograms.empty(histograms.TURN_EDGES)
    )
    end_reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tools: dict[str, list[int]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[str, list[int]] = field(default_factory=dict)

    def measure(self, kind: str, value: float) -> None:
        counts = self.latency.setdefault(kind, histograms.empty(histograms.LATENCY_EDGES))
        counts[histograms.bucket_of(value, histograms.LATENCY_EDGES)] += 1

    def add_event(self, event: Mapping[str, Any]) -> None:
        if event["kind"] == EventKind.TOOL_CALL:
            counts = self.tools.setdefault(str(event["tool"] or "unknown"), [0, 0])
            counts[0] += 1
            counts[1] += event["outcome"] != "success"
        elif event["kind"] == EventKind.ERROR:
            self.errors[str(event["code"] or "unknown")] += 1
        elif event["role"] == "assistant":
            for kind in LATENCY_KEYS:
                if (value := _number(event[kind])) is not None:
                    self.measure(kind, value)


def _hour_events(session_ids: Any) -> Iterator[Mapping[str, Any]]:
    events = SessionEvent.objects.filter(session_id__in=session_ids, kind__in=ROLLUP_KINDS)
    keys = {name: KeyTextTransform(key, "data") for name, key in EVENT_KEYS.items()}
    yield from events.order_by().values("session_id", "kind", **keys).iterator(chunk_size=5000)


@transaction.atomic
def analytics_rollup_compute(*, hour: datetime) -> int:
    """Recompute the rollup rows of the hour (UTC) that `hour` falls in, from the sessions that
    started in it and their events, replacing what was there: running it again gives the same
    rows. The number of rows stored. Two queries read the hour: its sessions (on the
    started_at index) and their events (on the session's timeline index)."""
    start = _hour_start(hour)
    sessions = Session.objects.filter(started_at__gte=start, started_at__lt=start + HOUR)
    rows: dict[tuple[Any, ...], _HourFigures] = defaultdict(_HourFigures)
    key_of: dict[UUID, tuple[Any, ...]] = {}
    turns: dict[UUID, int] = defaultdict(int)
    for session in sessions.order_by().values(
        "id", "team_id", "agent_id", "agent_version_id", "channel", "type", "started_at",
        "ended_at", "end_reason",
    ).iterator(chunk_size=5000):  # fmt: skip
        key_of[session["id"]] = key = (
            session["team_id"],
            session["agent_id"],
            session["agent_version_id"],
            session["channel"],
            session["type"],
        )
        figures = rows[key]
        figures.sessions += 1
        if session["ended_at"] is not None:
            seconds = max(0, round((session["ended_at"] - session["started_at"]).total_seconds()))
            figures.ended += 1
            figures.duration += seconds
            bucket = histograms.bucket_of(seconds, histograms.DURATION_EDGES)
            figures.duration_histogram[bucket] += 1
            figures.end_reasons[session["end_reason"]] += 1
    for event in _hour_events(sessions.values("id")):
        figures = rows[key_of[event["session_id"]]]
        if event["kind"] == EventKind.MESSAGE and event["role"] == "user":
            turns[event["session_id"]] += 1
        figures.add_event(event)
    for session_id, key in key_of.items():
        count = turns.get(session_id, 0)
        rows[key].turns += count
        rows[key].turns_histogram[histograms.bucket_of(count, histograms.TURN_EDGES)] += 1
    now = timezone.now()
    AgentHourlyStats.objects.filter(hour=start).delete()
    AgentHourlyStats.objects.bulk_create(
        [
            AgentHourlyStats(
                team_id=team_id,
                agent_id=agent_id,
                agent_version_id=version_id,
                hour=start,
                channel=channel,
                type=kind,
                sessions=figures.sessions,
                ended_sessions=figures.ended,
                duration_seconds=figures.duration,
                duration_histogram=figures.duration_histogram,
                turns=figures.turns,
                turns_histogram=figures.turns_histogram,
                end_reasons=dict(figures.end_reasons),
                tools=figures.tools,
                errors=dict(figures.errors),
                latency=figures.latency,
                computed_at=now,
            )
            for (team_id, agent_id, version_id, channel, kind), figures in rows.items()
        ],
        batch_size=500,
    )
    return len(rows)


def analytics_hours_due(*, now: datetime) -> list[datetime]:
    """The hours the periodic rollup recomputes: the current one and the one before, and any
    earlier hour holding a session that ended since the previous hour began (a long call that
    started yesterday is counted as ended once it ends). Read on the ended_at index."""
    current = _hour_start(now)
    recent = [current - HOUR, current]
    ended = Session.objects.filter(ended_at__gte=current - HOUR, started_at__lt=current - HOUR)
    starts = ended.order_by().values_list("started_at", flat=True)
    return sorted(set(recent) | {_hour_start(at) for at in starts})
