import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Case, Count, F, JSONField, Q, QuerySet, Sum, When
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from analysis.models import AnalysisStatus, SessionAnalysis
from sessions.models import EventKind, Session, SessionEvent

from .figures import FIELDS, Figures
from .models import (
    AgentDailyStats,
    AgentDayStats,
    AgentHourlyStats,
    TeamDayStats,
    TeamHourlyStats,
)

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
        started_at__gte=start, started_at__lt=end, agent__isnull=False, simulated=False
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
ROLLUP_KINDS = [EventKind.MESSAGE, EventKind.TOOL_CALL, EventKind.ERROR]
AGENT_KEY = ["team_id", "agent_id", "agent_version_id", "channel", "type"]
TEAM_KEY = ["team_id", "channel", "type"]


def _hour_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_events(session_ids: Any) -> Iterator[Mapping[str, Any]]:
    events = SessionEvent.objects.filter(session_id__in=session_ids, kind__in=ROLLUP_KINDS)
    keys = {name: KeyTextTransform(key, "data") for name, key in EVENT_KEYS.items()}
    yield from events.order_by().values("session_id", "kind", **keys).iterator(chunk_size=5000)


def _hour_figures(sessions: QuerySet[Session]) -> dict[tuple[Any, ...], Figures]:
    """The hour's figures by AGENT_KEY, from its sessions, their analyses and their events."""
    rows: dict[tuple[Any, ...], Figures] = defaultdict(Figures)
    key_of: dict[UUID, tuple[Any, ...]] = {}
    done = When(analysis__status=AnalysisStatus.DONE, then=F("analysis__results"))
    analysed = Case(done, output_field=JSONField())
    for session in (
        sessions.order_by()
        .values("id", *AGENT_KEY, "started_at", "ended_at", "end_reason", verdicts=analysed)
        .iterator(chunk_size=5000)
    ):
        key_of[session["id"]] = key = tuple(session[name] for name in AGENT_KEY)
        seconds = None
        if session["ended_at"] is not None:
            seconds = max(0, round((session["ended_at"] - session["started_at"]).total_seconds()))
        rows[key].add_session(seconds=seconds, end_reason=session["end_reason"])
        if isinstance(session["verdicts"], dict):
            rows[key].add_verdicts(session["verdicts"])
    turns: dict[UUID, int] = defaultdict(int)
    for event in _hour_events(sessions.values("id")):
        if event["kind"] == EventKind.MESSAGE and event["role"] == "user":
            turns[event["session_id"]] += 1
        rows[key_of[event["session_id"]]].add_event(event)
    for session_id, key in key_of.items():
        rows[key].add_turns(turns.get(session_id, 0))
    return rows


def _added_up(rows: Iterable[Mapping[str, Any]], key: list[str]) -> dict[tuple[Any, ...], Figures]:
    """Rows' figures added up by `key` (rows as `.values()` gives them)."""
    totals: dict[tuple[Any, ...], Figures] = defaultdict(Figures)
    for row in rows:
        totals[tuple(row[name] for name in key)].add(row)
    return totals


def _replaced(
    model: type[Any], where: dict[str, Any], rows: dict[tuple[Any, ...], Figures], key: list[str]
) -> int:
    """Replace the rows `where` selects with `rows` (by `key`, plus `where`'s fields)."""
    now = timezone.now()
    model.objects.filter(**where).delete()
    made = [
        model(**dict(zip(key, values, strict=True)), **where, **figures.fields(), computed_at=now)
        for values, figures in rows.items()
    ]
    model.objects.bulk_create(made, batch_size=500)
    return len(rows)


@transaction.atomic
def analytics_hour_compute(*, hour: datetime) -> int:
    """Recompute the hourly rows (AgentHourlyStats, TeamHourlyStats) of the hour (UTC) that
    `hour` falls in, from the sessions that started in it and their events, replacing what was
    there: running it again gives the same rows. The number of agent rows stored. Two queries
    read the hour: its sessions (on the started_at index) and their events (on the session's
    timeline index). Its day's rows are analytics_day_compute's."""
    start = _hour_start(hour)
    # Evals' simulated conversations are tests, not the agents' live figures.
    sessions = Session.objects.filter(
        started_at__gte=start, started_at__lt=start + HOUR, simulated=False
    )
    rows = _hour_figures(sessions)
    team_rows: dict[tuple[Any, ...], Figures] = defaultdict(Figures)
    for (team_id, _agent, _version, channel, kind), figures in rows.items():
        team_rows[(team_id, channel, kind)].add(figures.fields())
    _replaced(TeamHourlyStats, {"hour": start}, team_rows, TEAM_KEY)
    return _replaced(AgentHourlyStats, {"hour": start}, rows, AGENT_KEY)


@transaction.atomic
def analytics_day_compute(*, day: date) -> int:
    """Recompute the day rows (AgentDayStats, TeamDayStats) of `day` (UTC) from its hourly rows,
    replacing what was there. The number of agent rows stored."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    hours = {"hour__gte": start, "hour__lt": start + timedelta(days=1)}
    values = [*AGENT_KEY, *FIELDS]
    agent_rows = AgentHourlyStats.objects.filter(**hours).order_by().values(*values)
    team_rows = TeamHourlyStats.objects.filter(**hours).order_by().values(*TEAM_KEY, *FIELDS)
    _replaced(TeamDayStats, {"day": day}, _added_up(team_rows.iterator(), TEAM_KEY), TEAM_KEY)
    rows = _added_up(agent_rows.iterator(chunk_size=5000), AGENT_KEY)
    return _replaced(AgentDayStats, {"day": day}, rows, AGENT_KEY)


def analytics_rollup_hours(*, hours: Iterable[datetime]) -> int:
    """Recompute `hours`, then the days they fall in (each day once). The number of agent
    hourly rows stored."""
    starts = sorted({_hour_start(hour) for hour in hours})
    stored = sum(analytics_hour_compute(hour=hour) for hour in starts)
    for day in sorted({hour.date() for hour in starts}):
        analytics_day_compute(day=day)
    return stored


def analytics_rollup_compute(*, hour: datetime) -> int:
    """Recompute one hour and its day (analytics_rollup_hours)."""
    return analytics_rollup_hours(hours=[hour])


def analytics_hours_due(*, now: datetime) -> list[datetime]:
    """The hours the periodic rollup recomputes: the current one and the one before, and any
    earlier hour holding a session that ended, or whose analysis finished, since the previous
    hour began (a long call that started yesterday is counted as ended once it ends). Read on
    the ended_at and finished_at indexes."""
    current = _hour_start(now)
    recent = [current - HOUR, current]
    ended = Session.objects.filter(ended_at__gte=current - HOUR, started_at__lt=current - HOUR)
    analysed = SessionAnalysis.objects.filter(
        finished_at__gte=current - HOUR, session__started_at__lt=current - HOUR
    )
    starts = [
        *ended.order_by().values_list("started_at", flat=True),
        *analysed.order_by().values_list("session__started_at", flat=True),
    ]
    return sorted(set(recent) | {_hour_start(at) for at in starts})
