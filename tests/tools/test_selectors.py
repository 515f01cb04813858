"""The reads behind the tool page's recent calls and their figures."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from parley.errors import NotFound
from tests.factories import ToolFactory
from tools import selectors
from tools.models import Tool, ToolExecution

pytestmark = pytest.mark.django_db

WEEK = timedelta(days=7)


def call(tool: Tool, ago: timedelta = timedelta(minutes=5), **fields: Any) -> ToolExecution:
    defaults = {
        "team": tool.team,
        "tool": tool,
        "tool_name": tool.name,
        "source": "agent",
        "started_at": timezone.now() - ago,
        "outcome": "success",
        "status_code": 200,
        "duration_ms": 100,
    }
    return ToolExecution.objects.create(**(defaults | fields))


def stats(tool: Tool) -> selectors.ExecutionStats:
    return selectors.tool_execution_stats(tool=tool, since=timezone.now() - WEEK)


def test_stats_of_known_durations() -> None:
    tool = ToolFactory()
    # 1 to 100 ms, one call each; the 10 slowest timed out.
    for ms in range(1, 101):
        outcome = "timeout" if ms > 90 else "success"
        call(tool, timedelta(seconds=ms), duration_ms=ms, outcome=outcome)
    figures = stats(tool)
    assert (figures.calls, figures.finished) == (100, 100)
    assert figures.success_rate == 90
    assert figures.p50_ms == 50.5
    assert figures.p95_ms == pytest.approx(95.05)


def test_unfinished_calls_count_as_calls_but_not_in_the_rate_or_durations() -> None:
    tool = ToolFactory()
    call(tool, duration_ms=200)
    call(tool, duration_ms=400, outcome="http_error", status_code=500)
    call(tool, outcome="pending", duration_ms=None, status_code=None)
    call(tool, outcome="running", duration_ms=None, status_code=None)
    figures = stats(tool)
    assert (figures.calls, figures.finished) == (4, 2)
    assert figures.success_rate == 50
    assert (figures.p50_ms, figures.p95_ms) == (300, 390)


def test_calls_refused_for_their_arguments_fail_but_take_no_time() -> None:
    tool = ToolFactory()
    call(tool, duration_ms=300)
    call(tool, outcome="invalid_arguments", duration_ms=0, status_code=None)
    figures = stats(tool)
    assert figures.success_rate == 50
    assert (figures.p50_ms, figures.p95_ms) == (300, 300)  # the webhook was never called


def test_stats_cover_only_this_tool_since_the_given_moment() -> None:
    tool = ToolFactory()
    call(tool, timedelta(days=6), duration_ms=10)
    call(tool, timedelta(days=8), duration_ms=5000, outcome="timeout")
    call(ToolFactory(team=tool.team), duration_ms=9000, outcome="timeout")
    figures = stats(tool)
    assert (figures.calls, figures.success_rate, figures.p50_ms, figures.p95_ms) == (1, 100, 10, 10)


def test_no_calls_have_no_rate_and_no_percentiles() -> None:
    assert stats(ToolFactory()) == selectors.ExecutionStats(
        calls=0, finished=0, success_rate=None, p50_ms=None, p95_ms=None
    )


def test_one_unfinished_call_has_no_rate() -> None:
    tool = ToolFactory()
    call(tool, outcome="pending", duration_ms=None)
    figures = stats(tool)
    assert (figures.calls, figures.success_rate, figures.p50_ms) == (1, None, None)


def test_percentiles_read_only_the_newest_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "STATS_SAMPLE", 3)
    tool = ToolFactory()
    for minutes, ms in enumerate([10, 20, 30, 1000, 2000], start=1):
        call(tool, timedelta(minutes=minutes), duration_ms=ms)
    figures = stats(tool)
    assert figures.calls == 5  # counted in full
    assert figures.p50_ms == 20  # of 10, 20 and 30 only
    assert figures.p95_ms == 29


def test_recent_calls_are_newest_first_and_limited() -> None:
    tool = ToolFactory()
    calls = [call(tool, timedelta(minutes=minutes)) for minutes in range(5)]
    call(ToolFactory(team=tool.team))
    recent = list(selectors.tool_executions_recent(tool=tool, limit=3))
    assert [c.id for c in recent] == [c.id for c in calls[:3]]


def test_a_call_is_found_only_under_its_own_tool() -> None:
    tool, other = ToolFactory(), ToolFactory()
    execution = call(tool)
    assert selectors.tool_execution_get(tool=tool, execution_id=execution.id) == execution
    with pytest.raises(NotFound):
        selectors.tool_execution_get(tool=other, execution_id=execution.id)
    with pytest.raises(NotFound):
        selectors.tool_execution_get(tool=tool, execution_id=uuid.uuid4())
