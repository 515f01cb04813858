"""The hourly analytics rollup, the figures read from it, and /v1/analytics: checked against
values worked out by hand on a few seeded sessions."""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from agents.models import Agent, AgentVersion
from analysis.models import SessionAnalysis
from analytics.models import AgentDayStats, AgentHourlyStats, TeamDayStats
from analytics.selectors import analytics_figures
from analytics.services import analytics_hours_due, analytics_rollup_compute
from sessions.models import Channel, EventKind, Session, SessionStatus, SessionType
from sessions.services import session_event_append
from tests.conftest import Cast
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 10, 12, tzinfo=UTC)
DAY = (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))


def _version(agent: Agent, number: int) -> AgentVersion:
    return AgentVersion.objects.create(
        agent=agent, number=number, name=agent.name, source="publish"
    )


def _session(agent: Agent, version: AgentVersion, **fields: Any) -> Session:
    fields.setdefault("started_at", NOON)
    if "seconds" in fields:
        fields["ended_at"] = fields["started_at"] + timedelta(seconds=fields.pop("seconds"))
        fields["status"] = SessionStatus.STOPPED
    return SessionFactory(agent=agent, agent_version=version, **fields)


def _event(session: Session, kind: EventKind, **data: Any) -> None:
    session_event_append(session=session, kind=kind, data=data)


def _voice_turn(session: Session, **latency: int) -> None:
    _event(session, EventKind.MESSAGE, role="user", content="Hello?")
    _event(session, EventKind.MESSAGE, role="assistant", content="Hi.", **latency)


@pytest.fixture
def seeded(cast: Cast) -> Agent:
    """Version 1: a chat over the widget (45 s, 2 turns, TTFT 100 and 300 ms, weather failing
    1 in 2, an llm_timeout error) and a voice call over the API still running (1 turn, voice to
    voice 800 ms: turn detection 200, STT 150, LLM 300, TTS 150). Version 2: a chat ended
    after 700 s with no turns, weather succeeding once."""
    agent = AgentFactory(team=cast.team, name="Support")
    one, two = _version(agent, 1), _version(agent, 2)
    chat = _session(agent, one, seconds=45, end_reason="user_ended", channel=Channel.WIDGET)
    _event(chat, EventKind.MESSAGE, role="user", content="Weather?")
    _event(chat, EventKind.TOOL_CALL, tool_name="weather", outcome="http_error")
    _event(chat, EventKind.MESSAGE, role="assistant", content="Sorry.", ttft_ms=100)
    _event(chat, EventKind.MESSAGE, role="user", content="Again?")
    _event(chat, EventKind.TOOL_CALL, tool_name="weather", outcome="success")
    _event(chat, EventKind.MESSAGE, role="assistant", content="Sunny.", ttft_ms=300)
    _event(chat, EventKind.ERROR, code="llm_timeout", message="Slow.")
    call = _session(
        agent,
        one,
        type=SessionType.VOICE,
        channel=Channel.API,
        started_at=NOON + timedelta(minutes=5),
    )
    _voice_turn(call, latency_ms=800, turn_detection_ms=200, stt_ms=150, llm_ms=300, tts_ms=150)
    later = _session(agent, two, seconds=700, end_reason="idle", channel=Channel.WIDGET)
    _event(later, EventKind.TOOL_CALL, tool_name="weather", outcome="success")
    return agent


def _rows() -> list[dict[str, Any]]:
    fields = ["team_id", "agent_id", "agent_version_id", "hour", "channel", "type", "sessions"]
    fields += ["ended_sessions", "duration_seconds", "duration_histogram", "turns"]
    fields += ["turns_histogram", "end_reasons", "tools", "errors", "latency"]
    return list(AgentHourlyStats.objects.order_by("channel", "type", "sessions").values(*fields))


def test_rollup_is_idempotent(seeded: Agent) -> None:
    assert analytics_rollup_compute(hour=NOON + timedelta(minutes=30)) == 3
    first = _rows()
    assert analytics_rollup_compute(hour=NOON) == 3
    assert _rows() == first
    assert AgentHourlyStats.objects.count() == 3


def test_evals_simulated_sessions_are_left_out(cast: Cast, seeded: Agent) -> None:
    _session(seeded, seeded.versions.get(number=1), seconds=30, simulated=True)
    analytics_rollup_compute(hour=NOON)
    figures = analytics_figures(team=cast.team, start=DAY[0], end=DAY[1])
    assert figures.totals.sessions == 3


def test_figures_against_hand_computed_values(cast: Cast, seeded: Agent) -> None:
    analytics_rollup_compute(hour=NOON)
    figures = analytics_figures(team=cast.team, start=DAY[0], end=DAY[1])
    totals = figures.totals
    assert (totals.sessions, totals.ended_sessions, totals.duration_seconds) == (3, 2, 745)
    assert totals.average_duration_seconds == 372.5
    assert (totals.turns, totals.tool_calls, totals.tool_failures, totals.errors) == (3, 3, 1, 1)
    assert totals.tool_failure_rate == pytest.approx(1 / 3)
    assert [(t.tool, t.calls, t.failures) for t in figures.tools] == [("weather", 3, 1)]
    assert figures.end_reasons == {"idle": 1, "user_ended": 1}
    assert figures.errors == {"llm_timeout": 1}
    # Percentiles are bucket upper edges (10 * 2 ** (i / 4)): 100 ms is in (95, 113], 300 ms in
    # (269, 320]; the median is the first of two values, the 95th the second.
    assert (figures.llm_ttft.p50, figures.llm_ttft.p95, figures.llm_ttft.count) == (113, 320, 2)
    assert figures.voice_to_voice.p50 == figures.voice_to_voice.p95 == 905  # 800 in (761, 905]
    stages = {name: p.p50 for name, p in figures.voice_stages.items()}
    # 200 in (190, 226]; 150 in (135, 160]; 300 in (269, 320].
    assert stages == {"turn_detection": 226, "stt": 160, "llm": 320, "tts": 160}
    # 45 s in (30, 60]; 700 s in (600, 1200]. Turns: 2, 1 and 0.
    assert [(b.upper, b.count) for b in figures.duration if b.count] == [(60, 1), (1200, 1)]
    assert [(b.upper, b.count) for b in figures.turns if b.count] == [(0, 1), (1, 1), (2, 1)]
    day = DAY[0]
    assert [(p.at, p.channel, p.type, p.sessions) for p in figures.series] == [
        (day, "api", "voice", 1),
        (day, "widget", "chat", 2),
    ]


def test_by_version_and_version_filter(cast: Cast, seeded: Agent) -> None:
    analytics_rollup_compute(hour=NOON)
    team = analytics_figures(team=cast.team, start=DAY[0], end=DAY[1], bucket="hour")
    assert team.by_version == []  # versions are an agent's: the team's figures are not split
    figures = analytics_figures(
        team=cast.team, start=DAY[0], end=DAY[1], agent_id=seeded.id, bucket="hour"
    )
    by_number = {v.version: v for v in figures.by_version}
    assert by_number[1].headline.tool_failure_rate == 0.5
    assert by_number[2].headline.tool_failure_rate == 0.0
    assert (by_number[1].headline.sessions, by_number[2].headline.sessions) == (2, 1)
    assert by_number[1].voice_stages["tts"].p50 == 160
    assert {p.at for p in figures.series} == {NOON}
    two = analytics_figures(team=cast.team, start=DAY[0], end=DAY[1], agent_id=seeded.id, version=2)
    assert (two.totals.sessions, two.totals.tool_failures, two.totals.turns) == (1, 0, 0)


def _analysed(session: Session, status: str, **results: str) -> None:
    SessionAnalysis.objects.create(
        session=session, team=session.team, status=status, results=results, requested_at=NOON
    )


def test_success_criteria_by_version(cast: Cast, seeded: Agent) -> None:
    """Verdicts of finished analyses only, by criterion and version; the rate leaves out the
    unknowns."""
    one, two = seeded.versions.get(number=1), seeded.versions.get(number=2)
    sessions = {s.agent_version_id: s for s in Session.objects.filter(type=SessionType.CHAT)}
    _analysed(sessions[one.id], "done", resolved="pass", polite="unknown")
    _analysed(sessions[two.id], "done", resolved="fail", polite="pass")
    voice = Session.objects.get(type=SessionType.VOICE)
    _analysed(voice, "failed", resolved="pass")  # not finished: not counted
    analytics_rollup_compute(hour=NOON)
    figures = analytics_figures(team=cast.team, start=DAY[0], end=DAY[1], agent_id=seeded.id)
    found = {(c.name, c.passed, c.failed, c.unknown, c.success_rate) for c in figures.criteria}
    assert found == {("polite", 1, 0, 1, 1.0), ("resolved", 1, 1, 0, 0.5)}
    by_version = {
        v.version: {c.name: c.success_rate for c in v.criteria} for v in figures.by_version
    }
    assert by_version == {1: {"resolved": 1.0, "polite": None}, 2: {"resolved": 0.0, "polite": 1.0}}
    team = analytics_figures(team=cast.team, start=DAY[0], end=DAY[1])
    assert [(c.name, c.passed) for c in team.criteria] == [("polite", 1), ("resolved", 1)]


def test_an_analysis_finished_later_makes_its_hour_due(seeded: Agent) -> None:
    session = Session.objects.filter(type=SessionType.CHAT).first()
    now = NOON + timedelta(hours=5, minutes=2)
    _analysed(session, "done", resolved="pass")
    SessionAnalysis.objects.update(finished_at=now - timedelta(minutes=30))
    assert NOON in analytics_hours_due(now=now)


def test_query_count_does_not_grow_with_rows(
    cast: Cast, seeded: Agent, django_assert_num_queries: Any
) -> None:
    for hours in range(30):
        _session(seeded, seeded.versions.get(number=1), started_at=NOON - timedelta(hours=hours))
        analytics_rollup_compute(hour=NOON - timedelta(hours=hours))
    start = NOON - timedelta(days=3)
    for agent_id in (None, seeded.id):
        with django_assert_num_queries(2):  # the whole days' rows, and the hours' around them
            figures = analytics_figures(team=cast.team, start=start, end=DAY[1], agent_id=agent_id)
        assert figures.totals.sessions == 33
    with django_assert_num_queries(1):  # whole days only
        figures = analytics_figures(team=cast.team, start=DAY[0] - timedelta(days=2), end=DAY[1])
    assert figures.totals.sessions == 33
    with django_assert_num_queries(3):  # and the hourly counts of sessions
        figures = analytics_figures(team=cast.team, start=start, end=DAY[1], bucket="hour")
    assert sum(point.sessions for point in figures.series) == 33


def _figures_as_data(figures: Any) -> dict[str, Any]:
    data = asdict(figures)
    return {key: value for key, value in data.items() if key not in ("series", "bucket")}


def test_days_and_hours_add_up_to_the_same_figures(cast: Cast, seeded: Agent) -> None:
    """Across days: whole days read from the day rows and the hours around them from the hour
    rows give what the hour rows alone give, for the team and for an agent, and the team's rows
    are its agents' added up."""
    other = AgentFactory(team=cast.team, name="Sales")
    version = _version(other, 1)
    for hours in (0, 5, 20, 30, 47, 49):
        session = _session(
            other, version, started_at=NOON - timedelta(hours=hours), seconds=30 + hours
        )
        _voice_turn(session, latency_ms=400 + 10 * hours, stt_ms=100 + hours)
        _event(session, EventKind.TOOL_CALL, tool_name="crm", outcome="timeout")
    call_command("analytics_backfill", "--from", "2026-03-07", "--to", "2026-03-10")
    start, end = NOON - timedelta(hours=50), DAY[1]
    for agent_id in (None, seeded.id, other.id):
        by_day = analytics_figures(team=cast.team, start=start, end=end, agent_id=agent_id)
        by_hour = analytics_figures(
            team=cast.team, start=start, end=end, agent_id=agent_id, bucket="hour"
        )
        assert _figures_as_data(by_day) == _figures_as_data(by_hour)
        assert sum(p.sessions for p in by_day.series) == by_day.totals.sessions
    team = analytics_figures(team=cast.team, start=start, end=end)
    assert team.totals.sessions == 3 + 6
    assert [(t.tool, t.calls, t.failures) for t in team.tools] == [
        ("crm", 6, 6),
        ("weather", 3, 1),
    ]
    assert (AgentDayStats.objects.count(), TeamDayStats.objects.count()) > (0, 0)


def test_sessions_ending_later_are_due_again(seeded: Agent) -> None:
    long_call = _session(seeded, seeded.versions.get(number=1), started_at=NOON)
    now = NOON + timedelta(hours=5, minutes=2)
    Session.objects.filter(id=long_call.id).update(ended_at=now - timedelta(minutes=10))
    assert analytics_hours_due(now=now) == [
        NOON,
        NOON + timedelta(hours=4),
        NOON + timedelta(hours=5),
    ]


def test_backfill_command(cast: Cast, seeded: Agent) -> None:
    call_command("analytics_backfill", "--from", "2026-03-10", "--to", "2026-03-10")
    assert AgentHourlyStats.objects.filter(hour=NOON).count() == 3
    assert AgentHourlyStats.objects.count() == 3
    assert AgentDayStats.objects.get(channel="api").sessions == 1
    assert sorted(TeamDayStats.objects.values_list("channel", "type", "sessions")) == [
        ("api", "voice", 1),
        ("widget", "chat", 2),
    ]

    def team_days() -> list[dict[str, Any]]:
        rows = TeamDayStats.objects.order_by("channel", "type")
        return list(rows.values("channel", "sessions", "tools", "latency"))

    before = team_days()
    call_command("analytics_backfill", "--from", "2026-03-10", "--to", "2026-03-10")
    assert team_days() == before


def test_api(cast: Cast, seeded: Agent, api: Client, read_only_api: Client) -> None:
    analytics_rollup_compute(hour=NOON)
    query = f"?from=2026-03-10&to=2026-03-10&agent={seeded.id}"
    found = read_only_api.get(f"/v1/analytics{query}")
    assert found.status_code == 200, found.content
    body = found.json()
    assert body["totals"]["sessions"] == 3
    assert body["voice_stages"]["stt"] == {"p50": 160.0, "p95": 160.0, "count": 1}
    assert [v["version"] for v in body["by_version"]] == [1, 2]
    team = read_only_api.get("/v1/analytics?from=2026-03-10&to=2026-03-10").json()
    assert (team["totals"]["sessions"], team["by_version"]) == (3, [])
    csv = api.get(f"/v1/analytics.csv{query}")
    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    assert "total,tool:weather,failures,1" in csv.content.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=yesterday", "from"),
        ("?from=2026-03-10&to=2026-03-01", "to"),
        ("?from=2024-01-01&to=2026-01-01", "from"),
        ("?version=2", "version"),
        ("?from=2026-01-01&to=2026-03-01&bucket=hour", "bucket"),
    ],
)
def test_api_bad_input(api: Client, query: str, field: str) -> None:
    found = api.get(f"/v1/analytics{query}")
    assert found.status_code == 400
    assert found.json()["details"]["errors"][0]["field"] == field


def test_api_other_teams_agent(cast: Cast, outsider_api: Client, seeded: Agent) -> None:
    assert outsider_api.get(f"/v1/analytics?agent={seeded.id}").status_code == 404
    assert outsider_api.get(f"/v1/analytics.csv?agent={seeded.id}").status_code == 404
    assert outsider_api.get("/v1/analytics?from=2026-03-10").json()["totals"]["sessions"] == 0
