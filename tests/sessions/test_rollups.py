"""The daily per-agent rollup: what a day's sessions add up to, recomputed whole each run."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings

from agents.models import Agent
from analytics.models import AgentDailyStats
from analytics.services import agent_daily_stats_compute
from analytics.tasks import rollup_agent_daily_stats
from sessions.models import EventKind, Session, SessionStatus
from sessions.services import session_event_append
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 10)
NOON = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _session(agent: Agent, *, at: datetime = NOON, minutes: float | None = None) -> Session:
    ended = at + timedelta(minutes=minutes) if minutes is not None else None
    status = SessionStatus.STOPPED if ended else SessionStatus.RUNNING
    return SessionFactory(agent=agent, started_at=at, ended_at=ended, status=status)


def _event(session: Session, kind: EventKind, **data: Any) -> None:
    session_event_append(session=session, kind=kind, data=data)


def _turn(session: Session, ttft_ms: int | None) -> None:
    _event(session, EventKind.MESSAGE, role="user", content="Hello?")
    reply: dict[str, Any] = {"role": "assistant", "content": "Hi."}
    if ttft_ms is not None:
        reply["ttft_ms"] = ttft_ms
    _event(session, EventKind.MESSAGE, **reply)


def test_a_days_figures_per_agent() -> None:
    support, sales = AgentFactory(name="Support"), AgentFactory(name="Sales")
    first = _session(support, minutes=2)
    second = _session(support, at=NOON + timedelta(hours=3), minutes=1.5)
    _session(support)  # still running: counted, but has no duration yet
    for ttft in (100, 200, 300):
        _turn(first, ttft)
    _turn(second, 1000)
    _event(second, EventKind.MESSAGE, role="assistant", content="Sorry.", failure=True)
    _event(first, EventKind.TOOL_CALL, tool_name="lookup", outcome="success")
    _event(first, EventKind.TOOL_CALL, tool_name="lookup", outcome="timeout")
    _event(second, EventKind.TOOL_CALL, tool_name="nope", outcome="unknown_tool")
    _session(sales, at=NOON - timedelta(days=1), minutes=5)  # the day before

    assert agent_daily_stats_compute(day=DAY) == 1
    stats = AgentDailyStats.objects.get(agent=support, day=DAY)
    assert stats.team_id == support.team_id
    assert (stats.sessions, stats.ended_sessions, stats.duration_seconds) == (3, 2, 210)
    assert stats.turns == 4
    assert (stats.tool_calls, stats.tool_failures) == (3, 2)
    assert stats.llm_ttft_p50_ms == 250
    assert stats.llm_ttft_p95_ms == pytest.approx(895)
    assert not AgentDailyStats.objects.filter(agent=sales, day=DAY).exists()


def test_a_day_without_measured_replies_has_no_latency() -> None:
    session = _session(AgentFactory(), minutes=1)
    _turn(session, None)
    agent_daily_stats_compute(day=DAY)
    stats = AgentDailyStats.objects.get()
    assert stats.turns == 1
    assert stats.llm_ttft_p50_ms is None
    assert stats.llm_ttft_p95_ms is None


def test_the_day_is_the_configured_time_zones(settings: Any) -> None:
    settings.TIME_ZONE = "America/New_York"  # noon UTC on the 10th; 23:30 UTC is still the 10th
    agent = AgentFactory()
    _session(agent, at=datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    _session(agent, at=datetime(2026, 3, 11, 4, 30, tzinfo=UTC))  # 00:30 on the 11th there
    agent_daily_stats_compute(day=DAY)
    assert AgentDailyStats.objects.get(day=DAY).sessions == 1


def test_running_it_again_recomputes_the_day_in_place() -> None:
    agent, other = AgentFactory(), AgentFactory()
    session = _session(agent, minutes=1)
    gone = _session(other, minutes=1)
    agent_daily_stats_compute(day=DAY)
    _turn(session, 400)
    gone.delete()  # e.g. its team deleted it: the figures follow
    agent_daily_stats_compute(day=DAY)
    agent_daily_stats_compute(day=DAY)
    stats = AgentDailyStats.objects.get()
    assert (stats.agent_id, stats.turns, stats.llm_ttft_p50_ms) == (agent.id, 1, 400)


def test_the_rollup_counts_its_queries(django_assert_num_queries: Any) -> None:
    agents = [AgentFactory() for _ in range(3)]
    for agent in agents:
        _turn(_session(agent, minutes=1), 120)
    # The day's sessions, their events counted, their latencies; the delete and the upsert.
    # The savepoint of the transaction adds two.
    with django_assert_num_queries(7):
        agent_daily_stats_compute(day=DAY)
    assert AgentDailyStats.objects.count() == 3


def test_the_hourly_run_covers_yesterday_and_today() -> None:
    agent = AgentFactory()
    _session(agent, at=NOON - timedelta(days=1), minutes=1)
    _session(agent, at=NOON, minutes=1)
    _session(agent, at=NOON - timedelta(days=2), minutes=1)
    with time_machine.travel(NOON + timedelta(hours=1), tick=False):
        assert rollup_agent_daily_stats.delay().get() == 2
    days = set(AgentDailyStats.objects.values_list("day", flat=True))
    assert days == {DAY, DAY - timedelta(days=1)}
    assert rollup_agent_daily_stats.delay(str(DAY - timedelta(days=2))).get() == 1


def test_the_rollup_is_scheduled_hourly() -> None:
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if "rollup" in e["task"]]
    assert [e["task"] for e in entries] == [
        "analytics.tasks.rollup_agent_daily_stats",
        "analytics.tasks.rollup_analytics",
    ]
