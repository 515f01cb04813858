"""The analytics page: filters, its figures and their tables, who may see it, and its empty
state. The figures themselves are checked against hand-worked values in test_analytics.py; here,
that the page shows what the selector gives."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from agents.models import Agent, AgentVersion
from analysis.models import SessionAnalysis
from analytics.services import analytics_rollup_compute
from sessions.models import Channel, EventKind, Session, SessionStatus, SessionType
from sessions.services import session_event_append
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 10, 12, tzinfo=UTC)
THAT_DAY = "date_from=2026-03-10&date_to=2026-03-10"
VOICE_TURN = {
    "latency_ms": 800,
    "turn_detection_ms": 200,
    "stt_ms": 150,
    "llm_ms": 300,
    "tts_ms": 150,
}


def _version(agent: Agent, number: int) -> AgentVersion:
    return AgentVersion.objects.create(
        agent=agent, number=number, name=agent.name, source="publish"
    )


@pytest.fixture
def support(cast: Cast) -> Agent:
    """Version 1: a widget chat of 45 s whose weather tool fails once in two, with an error;
    version 2: a voice call over the API of 1,000 s, one turn timed by stage, whose weather
    tool succeeds. Rolled up."""
    agent = AgentFactory(team=cast.team, name="Support")
    one, two = _version(agent, 1), _version(agent, 2)
    chat = SessionFactory(
        agent=agent,
        agent_version=one,
        started_at=NOON,
        ended_at=NOON + timedelta(seconds=45),
        status=SessionStatus.STOPPED,
        end_reason="user_ended",
        channel=Channel.WIDGET,
    )
    events: list[tuple[Any, EventKind, dict[str, Any]]] = [
        (chat, EventKind.MESSAGE, {"role": "user", "content": "Weather?"}),
        (chat, EventKind.TOOL_CALL, {"tool_name": "weather", "outcome": "http_error"}),
        (chat, EventKind.TOOL_CALL, {"tool_name": "weather", "outcome": "success"}),
        (chat, EventKind.MESSAGE, {"role": "assistant", "content": "Sun.", "ttft_ms": 300}),
        (chat, EventKind.ERROR, {"code": "llm_timeout", "message": "Slow."}),
    ]
    call = SessionFactory(
        agent=agent,
        agent_version=two,
        type=SessionType.VOICE,
        started_at=NOON + timedelta(minutes=5),
        ended_at=NOON + timedelta(seconds=1000),
        status=SessionStatus.STOPPED,
        end_reason="idle",
        channel=Channel.API,
    )
    events += [
        (call, EventKind.MESSAGE, {"role": "user", "content": "Hello?"}),
        (call, EventKind.TOOL_CALL, {"tool_name": "weather", "outcome": "success"}),
        (call, EventKind.MESSAGE, {"role": "assistant", "content": "Hi.", **VOICE_TURN}),
    ]
    for session, kind, data in events:
        session_event_append(session=session, kind=kind, data=data)
    analytics_rollup_compute(hour=NOON)
    return agent


def _charts(response: Any) -> dict[str, dict[str, Any]]:
    html = response.content.decode()
    start = html.index('<script id="analytics-charts" type="application/json">')
    body = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    return {chart["key"]: chart for chart in json.loads(body)}


def test_team_figures_with_their_tables(cast: Cast, support: Agent) -> None:
    response = signed_in(cast.member).get(f"/analytics/?{THAT_DAY}")
    assert response.status_code == 200
    html = response.content.decode()
    charts = _charts(response)
    by_channel = charts["by_channel"]
    assert by_channel["labels"] == ["2026-03-10"]
    assert {s["label"]: s["values"] for s in by_channel["series"]} == {"Widget": [1], "API": [1]}
    assert {s["label"]: s["values"] for s in charts["by_type"]["series"]} == {
        "Chat": [1],
        "Voice": [1],
    }
    assert charts["end_reasons"]["labels"] == ["idle", "user_ended"]
    assert charts["errors"]["labels"] == ["llm_timeout"]
    # Stages in ms, read from buckets about 19% wide: the LLM's 300 ms reads as 320.
    assert charts["voice_stages"]["labels"][2] == "LLM"
    assert charts["voice_stages"]["series"][0]["values"][2] == 320
    # Every chart is drawn in an element that says what it is, with its table beside it.
    for key in charts:
        assert f'data-chart="{key}" role="img" aria-label="' in html
    assert html.count("data-chart-table") == len(charts)
    # The tool table and the versions' comparison: 3 calls, 1 failed; 50 % in v1, 0 % in v2.
    tools = html.split("data-tools", 1)[1].split("</table>", 1)[0]
    assert "weather" in tools
    assert "33.3 %" in tools
    # Versions are an agent's: the team's page says where to compare them.
    assert "version_failures" not in charts
    assert "Choose an agent above to compare its versions." in html
    assert "Download CSV" in html


def test_an_agents_versions_side_by_side(cast: Cast, support: Agent) -> None:
    response = signed_in(cast.member).get(f"/analytics/?{THAT_DAY}&agent={support.id}")
    html = response.content.decode()
    versions = html.split("data-versions", 1)[1].split("</table>", 1)[0]
    # 3 calls of weather: 1 of 2 failed in v1, none in v2.
    assert "v1" in versions
    assert "50.0 %" in versions
    assert "v2" in versions
    assert "0.0 %" in versions
    assert _charts(response)["version_failures"]["labels"] == ["v1", "v2"]


def test_agent_and_version_filters(cast: Cast, support: Agent) -> None:
    other = AgentFactory(team=cast.team, name="Sales")
    _version(other, 5)
    client = signed_in(cast.viewer)  # a viewer reads the figures too
    response = client.get(f"/analytics/?{THAT_DAY}&agent={support.id}&version=1")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Analytics: Support" in html
    # The version choices are the chosen agent's, not another agent's.
    assert '<option value="2">v2</option>' in html
    assert 'value="5"' not in html
    charts = _charts(response)
    assert {s["label"] for s in charts["by_channel"]["series"]} == {"Widget"}
    assert charts["version_failures"]["labels"] == ["v1"]
    link = next(p for p in html.split('"') if p.startswith("/v1/analytics.csv?"))
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query["agent"] == [str(support.id)]
    assert query["version"] == ["1"]
    assert query["from"] == ["2026-03-10T00:00:00+00:00"]
    assert query["to"] == ["2026-03-11T00:00:00+00:00"]
    # The CSV link answers the signed-in viewer with the same figures.
    exported = client.get(link.replace("&amp;", "&"))
    assert exported.status_code == 200
    assert b"tool:weather" in exported.content


def test_hourly_buckets(cast: Cast, support: Agent) -> None:
    response = signed_in(cast.member).get(f"/analytics/?{THAT_DAY}&bucket=hour")
    chart = _charts(response)["by_channel"]
    assert len(chart["labels"]) == 24
    assert chart["labels"][12] == "2026-03-10 12:00"
    assert {s["label"]: s["values"][12] for s in chart["series"]} == {"Widget": 1, "API": 1}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("date_from=2026-03-11&date_to=2026-03-10", "The to date is before the from date."),
        ("date_from=2024-01-01&date_to=2026-03-10", "Choose at most 366 days."),
        ("date_from=2026-01-01&date_to=2026-03-10&bucket=hour", "at most 14 days"),
        ("date_from=yesterday", "Enter the from date as YYYY-MM-DD."),
        ("bucket=week", "Show sessions by day or by hour."),
    ],
)
def test_bad_filters_say_what_to_correct(cast: Cast, query: str, error: str) -> None:
    response = signed_in(cast.member).get(f"/analytics/?{query}")
    assert response.status_code == 200
    assert error in response.content.decode()
    assert b"analytics-charts" not in response.content


def test_a_version_of_no_agent_or_another_agent_is_refused(cast: Cast, support: Agent) -> None:
    client = signed_in(cast.member)
    html = client.get(f"/analytics/?agent={support.id}&version=9").content.decode()
    assert "is not one of this agent" in html
    # Without an agent the version list is off, and a version in the URL is not used.
    response = client.get(f"/analytics/?{THAT_DAY}&version=1")
    assert {s["label"] for s in _charts(response)["by_channel"]["series"]} == {"Widget", "API"}


@pytest.mark.parametrize("agent", ["other-team", "missing", "not-a-uuid"])
def test_another_teams_agent_is_not_found(cast: Cast, support: Agent, agent: str) -> None:
    ids = {
        "other-team": str(AgentFactory(team=cast.other_team).id),
        "missing": "00000000-0000-0000-0000-000000000000",
        "not-a-uuid": "x",
    }
    assert signed_in(cast.member).get(f"/analytics/?agent={ids[agent]}").status_code == 404


def test_outsiders_see_only_their_own_team(cast: Cast, support: Agent) -> None:
    response = signed_in(cast.outsider).get(f"/analytics/?{THAT_DAY}")
    assert b"No sessions in this range" in response.content
    assert b"Support" not in response.content


def test_empty_state(cast: Cast) -> None:
    response = signed_in(cast.owner).get("/analytics/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No sessions in this range" in html
    assert "analytics-charts" not in html
    assert 'aria-current="page">Analytics' in html


def test_anonymous_is_sent_to_sign_in() -> None:
    response = Client().get("/analytics/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_post_is_not_allowed(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/analytics/").status_code == 405


def test_htmx_gets_the_figures_alone(cast: Cast, support: Agent) -> None:
    response = signed_in(cast.member).get(f"/analytics/?{THAT_DAY}", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="analytics">')
    assert "<nav" not in html
    assert "HX-Request" in response["Vary"]


def test_agent_page_links_to_its_analytics(cast: Cast, support: Agent) -> None:
    html = signed_in(cast.member).get(f"/agents/{support.id}/").content.decode()
    assert f'href="/analytics/?agent={support.id}"' in html


def test_success_criteria_table(cast: Cast, support: Agent) -> None:
    client = signed_in(cast.member)
    html = client.get(f"/analytics/?{THAT_DAY}").content.decode()
    assert "No session in this range has a finished post-call analysis." in html
    for session in Session.objects.filter(agent=support):
        SessionAnalysis.objects.create(
            session=session,
            team=cast.team,
            status="done",
            results={"Booked a table": "pass" if session.type == SessionType.CHAT else "fail"},
            requested_at=NOON,
        )
    analytics_rollup_compute(hour=NOON)
    html = client.get(f"/analytics/?{THAT_DAY}").content.decode()
    table = html.split("data-criteria", 1)[1].split("</table>", 1)[0]
    assert "Booked a table" in table
    assert "50.0 %" in table
    html = client.get(f"/analytics/?{THAT_DAY}&agent={support.id}").content.decode()
    table = html.split("data-criteria", 1)[1].split("</table>", 1)[0]
    assert '<th scope="col">Version</th>' in table
    assert "v1" in table
    csv = client.get("/v1/analytics.csv?from=2026-03-10&to=2026-03-10").content.decode()
    assert "total,criterion:Booked a table,success_rate,0.5" in csv
