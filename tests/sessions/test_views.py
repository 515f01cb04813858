import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from agents.models import Agent
from sessions.models import EventKind, Session, SessionEvent, SessionStatus, SessionType
from sessions.selectors import PAGE_SIZE, Cursor
from sessions.services import session_create, session_event_append, session_status_set
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db

LIST = "/sessions/"
HTMX = {"HX-Request": "true"}
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UNKNOWN = "5e55a0b1-0000-4000-8000-000000000001"  # fixed: test ids must not vary


def detail_url(session: Session) -> str:
    return f"/sessions/{session.pk}/"


def listed(response: Any) -> list[str]:
    """The ids of the sessions in the table, in order."""
    return re.findall(r'href="/sessions/([0-9a-f-]{36})/"', response.content.decode())


def link(response: Any, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return LIST + unescape(found[1]) if found else None


@pytest.fixture
def viewer(cast: Cast) -> Client:
    return signed_in(cast.viewer)


@pytest.fixture
def session(cast: Cast) -> Session:
    return SessionFactory(agent=AgentFactory(team=cast.team, name="Support"))


# Access


@pytest.mark.parametrize("role", ["owner", "member", "viewer"])
def test_every_role_reads_sessions(cast: Cast, session: Session, role: str) -> None:
    client = signed_in(getattr(cast, role))
    assert listed(client.get(LIST)) == [str(session.pk)]
    assert client.get(detail_url(session)).status_code == 200


@pytest.mark.parametrize("url", [LIST, f"/sessions/{UNKNOWN}/"])
def test_anonymous_people_are_sent_to_sign_in(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_another_teams_session_is_not_found(cast: Cast, session: Session) -> None:
    outsider = signed_in(cast.outsider)
    assert outsider.get(detail_url(session)).status_code == 404
    assert listed(outsider.get(LIST)) == []


def test_an_unknown_session_is_not_found(viewer: Client) -> None:
    assert viewer.get(f"/sessions/{uuid.uuid4()}/").status_code == 404
    assert viewer.get("/sessions/not-a-uuid/").status_code == 404


def test_the_pages_only_read(viewer: Client, session: Session) -> None:
    assert viewer.post(LIST).status_code == 405
    assert viewer.post(detail_url(session)).status_code == 405


# The list


def test_the_list_shows_each_sessions_columns(viewer: Client, cast: Cast) -> None:
    started = NOON - timedelta(minutes=5)
    SessionFactory(
        agent=AgentFactory(team=cast.team, name="Billing bot"),
        type=SessionType.VOICE,
        status=SessionStatus.FAILED,
        started_at=started,
        ended_at=started + timedelta(seconds=184),
        end_reason="caller hung up",
        last_event_seq=17,
    )
    html = viewer.get(LIST).content.decode()
    row = html[html.index("<tbody>") : html.index("</tbody>")]
    for shown in ["2026-11-20 11:55", "Billing bot", "Voice", "Failed", "3 min 4 s", ">17<"]:
        assert shown in row
    assert "caller hung up" in row
    assert "badge-red" in row


def test_an_eval_runs_sessions_are_marked(viewer: Client, cast: Cast) -> None:
    live = SessionFactory(agent=AgentFactory(team=cast.team, name="Live bot"))
    played = SessionFactory(agent=AgentFactory(team=cast.team, name="Eval bot"), simulated=True)
    html = viewer.get(LIST).content.decode()
    rows = html[html.index("<tbody>") : html.index("</tbody>")].split("</tr>")
    assert [">eval</span>" in row for row in rows if "bot" in row] == [True, False]
    assert ">eval</span>" in viewer.get(f"/sessions/{played.pk}/").content.decode()
    assert ">eval</span>" not in viewer.get(f"/sessions/{live.pk}/").content.decode()


def test_a_running_sessions_duration_counts_up(viewer: Client, cast: Cast) -> None:
    SessionFactory(agent=AgentFactory(team=cast.team), status=SessionStatus.RUNNING)
    assert "s so far" in viewer.get(LIST).content.decode()


def test_an_htmx_request_gets_only_the_sessions_region(viewer: Client, session: Session) -> None:
    full, partial = viewer.get(LIST), viewer.get(LIST, headers=HTMX)
    assert "<html" in full.content.decode()
    assert '<div id="sessions">' in full.content.decode()
    body = partial.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="sessions">')
    assert listed(partial) == listed(full) == [str(session.pk)]
    assert "HX-Request" in full["Vary"]
    assert "HX-Request" in partial["Vary"]


def test_a_history_restore_gets_the_whole_page(viewer: Client, session: Session) -> None:
    response = viewer.get(LIST, headers=HTMX | {"HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_the_filters_work_as_a_plain_form_and_through_htmx(viewer: Client, cast: Cast) -> None:
    html = viewer.get(LIST).content.decode()
    form = html[html.index('<form method="get"') :]
    assert 'action="/sessions/"' in form
    assert 'hx-get="/sessions/"' in form
    assert 'hx-push-url="true"' in form
    assert 'hx-target="#sessions"' in form


def test_it_filters_by_agent(viewer: Client, cast: Cast) -> None:
    support, sales = AgentFactory(team=cast.team), AgentFactory(team=cast.team)
    mine = SessionFactory(agent=support)
    SessionFactory(agent=sales)
    response = viewer.get(LIST, {"agent": support.pk})
    assert listed(response) == [str(mine.pk)]
    assert f'<option value="{support.pk}" selected>' in response.content.decode()


@pytest.mark.parametrize(("field", "value"), [("status", "failed"), ("type", "video")])
def test_it_filters_by_status_and_type(viewer: Client, cast: Cast, field: str, value: str) -> None:
    agent = AgentFactory(team=cast.team)
    match = SessionFactory(agent=agent, **{field: value})
    SessionFactory(agent=agent)  # a starting chat
    assert listed(viewer.get(LIST, {field: value})) == [str(match.pk)]


def test_it_filters_by_whole_days(viewer: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    day = datetime(2026, 11, 20, tzinfo=UTC)
    first = SessionFactory(agent=agent, started_at=day)
    last = SessionFactory(agent=agent, started_at=day + timedelta(days=1, microseconds=-1))
    SessionFactory(agent=agent, started_at=day - timedelta(microseconds=1))
    SessionFactory(agent=agent, started_at=day + timedelta(days=1))
    one_day = {"date_from": "2026-11-20", "date_to": "2026-11-20"}
    assert listed(viewer.get(LIST, one_day)) == [str(last.pk), str(first.pk)]
    assert len(listed(viewer.get(LIST, {"date_from": "2026-11-20"}))) == 3
    assert len(listed(viewer.get(LIST, {"date_to": "2026-11-20"}))) == 3


def test_no_match_says_so_with_a_way_back(viewer: Client, session: Session) -> None:
    html = viewer.get(LIST, {"status": "failed"}).content.decode()
    assert "No sessions match these filters" in html
    assert 'href="/sessions/">Clear the filters' in html


def test_with_no_sessions_it_says_where_they_come_from(viewer: Client) -> None:
    html = viewer.get(LIST).content.decode()
    assert "No sessions yet" in html
    assert "holds a conversation" in html
    assert 'href="/agents/"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "yesterday"}, "Enter the from date as YYYY-MM-DD."),
        ({"date_to": "2026-02-30"}, "Enter the to date as YYYY-MM-DD."),
        ({"date_from": "0001-01-01"}, "Enter a date from 1970 on."),
        ({"date_to": "9999-12-31"}, "Enter a date before the year 9999."),
        ({"date_from": "2026-11-21", "date_to": "2026-11-20"}, "The to date is before the from"),
        ({"status": "exploded"}, "“exploded” is not a session status."),
        ({"type": "fax"}, "“fax” is not a session type."),
        ({"agent": "not-an-id"}, "That agent is not one of this team"),
        ({"agent": UNKNOWN}, "That agent is not one of this team"),
    ],
)
def test_a_bad_filter_is_explained_and_lists_nothing(
    viewer: Client, session: Session, query: dict[str, str], message: str
) -> None:
    for headers in ({}, HTMX):
        response = viewer.get(LIST, query, headers=headers)
        assert response.status_code == 200
        html = unescape(response.content.decode())
        assert message in html
        assert "correct the fields marked above" in html
        assert listed(response) == []


def test_another_teams_agent_is_a_bad_filter(viewer: Client, cast: Cast) -> None:
    theirs = AgentFactory(team=cast.other_team)
    SessionFactory(agent=theirs)
    response = viewer.get(LIST, {"agent": theirs.pk})
    assert "That agent is not one of this team" in unescape(response.content.decode())
    assert str(theirs.pk) not in response.content.decode()
    assert listed(response) == []


@pytest.mark.parametrize("cursor", ["garbage", "A" * 300, "bzp8MjAyNi0xMS0yMHxub3BlfA"])
def test_a_damaged_page_link_is_a_400_with_a_way_back(
    viewer: Client, session: Session, cursor: str
) -> None:
    response = viewer.get(LIST, {"status": "starting", "cursor": cursor})
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "This page link is damaged or incomplete." in html
    assert 'href="?status=starting">Go to the newest sessions' in html
    assert listed(response) == []


# Pages


def test_older_and_newer_links_walk_every_session_once(viewer: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    # More than two pages, with a run of equal start times across the first page break.
    sessions = [SessionFactory(agent=agent, started_at=NOON) for _ in range(PAGE_SIZE + 5)]
    sessions += [
        SessionFactory(agent=agent, started_at=NOON - timedelta(hours=h)) for h in range(1, 31)
    ]
    expected = [
        str(s.pk) for s in sorted(sessions, key=lambda s: (s.started_at, s.pk), reverse=True)
    ]

    pages, url = [], LIST + "?type=chat"
    while url:
        response = viewer.get(url, headers=HTMX)
        pages.append(listed(response))
        assert "type=chat" in url
        url = link(response, "next")
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 10]
    assert [i for p in pages for i in p] == expected

    back = link(viewer.get(link(viewer.get(LIST), "next")), "next")  # the third page
    second = viewer.get(link(viewer.get(back), "prev"))
    assert listed(second) == pages[1]
    first = viewer.get(link(second, "prev"))
    assert listed(first) == pages[0]
    assert link(first, "prev") is None


def test_a_later_page_offers_the_newest(viewer: Client, cast: Cast) -> None:
    SessionFactory.create_batch(PAGE_SIZE + 1, agent=AgentFactory(team=cast.team))
    first = viewer.get(LIST)
    assert ">Newest</a>" not in first.content.decode()
    assert ">Newest</a>" in viewer.get(link(first, "next")).content.decode()


def test_a_cursor_past_the_last_session_says_so(viewer: Client, session: Session) -> None:
    old = Cursor(session.started_at - timedelta(days=1), uuid.uuid4(), older=True)
    html = viewer.get(LIST, {"cursor": old.encode()}).content.decode()
    assert "No sessions on this page" in html


# Query counts: the same however many sessions, agents and events there are.


@pytest.mark.parametrize("rows", [1, 40])
def test_the_list_query_count_does_not_grow_with_rows(
    viewer: Client, cast: Cast, django_assert_num_queries, rows: int
) -> None:
    agents = AgentFactory.create_batch(rows, team=cast.team)
    for agent in agents:
        SessionFactory(agent=agent)
    cursor = Cursor(NOON + timedelta(days=3650), uuid.uuid4(), older=True).encode()
    # The Django session, the user, the membership (and its team), the agents for the filter,
    # one page of sessions, then for the whole page the memberships of the team switcher.
    with django_assert_num_queries(6):
        assert viewer.get(LIST, {"status": "starting", "cursor": cursor}).status_code == 200
    with django_assert_num_queries(5):  # the region alone has no team switcher
        assert len(listed(viewer.get(LIST, headers=HTMX))) == min(rows, PAGE_SIZE)


@pytest.mark.parametrize("events", [1, 60])
def test_the_detail_query_count_does_not_grow_with_events(
    viewer: Client, cast: Cast, django_assert_num_queries, events: int
) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    for n in range(events - 1):
        session_event_append(session=session, kind=EventKind.MESSAGE, data={"content": f"m{n}"})
    # The Django session, the user, the membership, the session, its events, the team switcher.
    with django_assert_num_queries(6):
        response = viewer.get(detail_url(session))
    assert response.content.decode().count('<li id="event-') == events


# The detail


def _conversation(agent: Agent) -> Session:
    session = session_create(agent=agent, type=SessionType.VOICE, metadata={"caller": "+4930"})
    session_status_set(session=session, status=SessionStatus.RUNNING)
    append = session_event_append
    append(session=session, kind=EventKind.MESSAGE, data={"role": "user", "content": "Weather?"})
    append(
        session=session,
        kind=EventKind.TOOL_CALL,
        data={
            "tool_name": "get_weather",
            "arguments": {"city": "Berlin"},
            "result": {"temp_c": 4, "sky": "grey"},
            "duration_ms": 240,
            "outcome": "ok",
        },
    )
    append(
        session=session,
        kind=EventKind.MESSAGE,
        data={"role": "assistant", "content": "4 °C and grey.", "ttft_ms": 320, "total_ms": 1240},
    )
    append(
        session=session,
        kind=EventKind.TOOL_CALL,
        data={"tool_name": "book", "arguments": {}, "outcome": "error", "error": "HTTP 503"},
    )
    append(session=session, kind=EventKind.ERROR, data={"code": "tts", "message": "TTS timed out"})
    append(session=session, kind=EventKind.METRIC, data={"tokens_in": 812})
    session_status_set(session=session, status=SessionStatus.FAILED, reason="TTS unavailable")
    return session


def test_the_detail_shows_the_header(viewer: Client, cast: Cast) -> None:
    session = _conversation(AgentFactory(team=cast.team, name="Weather desk"))
    html = unescape(viewer.get(detail_url(session)).content.decode())
    header = html[html.index("<h1") : html.index("Timeline</h2>")]
    for shown in ["Voice session with Weather desk", "Failed", "TTS unavailable", str(session.pk)]:
        assert shown in header
    assert '"caller": "+4930"' in header
    assert f"{session.started_at:%Y-%m-%d %H:%M:%S}" in header
    assert f"{session.ended_at:%Y-%m-%d %H:%M:%S}" in header


def test_the_timeline_shows_every_event_in_order(viewer: Client, cast: Cast) -> None:
    session = _conversation(AgentFactory(team=cast.team))
    html = unescape(viewer.get(detail_url(session)).content.decode())
    timeline = html[html.index("Timeline</h2>") :]
    in_order = [
        "starting",
        'starting</span> → <span class="font-medium">running',
        "User",
        "Weather?",
        "get_weather",
        "took 240 ms",
        '"city": "Berlin"',
        '"temp_c": 4',
        "Assistant",
        "first token 320 ms · total 1.24 s",
        "book",
        "HTTP 503",
        "TTS timed out",
        '"tokens_in": 812',
        'running</span> → <span class="font-medium">failed</span> · TTS unavailable',
    ]
    positions = [timeline.index(text) for text in in_order]
    assert positions == sorted(positions)
    assert timeline.count('<li id="event-') == SessionEvent.objects.filter(session=session).count()


def test_tool_call_arguments_are_formatted_json(viewer: Client, cast: Cast) -> None:
    session = _conversation(AgentFactory(team=cast.team))
    html = unescape(viewer.get(detail_url(session)).content.decode())
    assert '{\n  "sky": "grey",\n  "temp_c": 4\n}' in html


def test_a_recorded_tool_call_links_to_its_request_and_reply(viewer: Client, cast: Cast) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    tool_id, execution_id = uuid.uuid4(), uuid.uuid4()
    data = {"tool_name": "get_weather", "tool_id": str(tool_id), "execution_id": str(execution_id)}
    session_event_append(session=session, kind=EventKind.TOOL_CALL, data=data)
    session_event_append(
        session=session, kind=EventKind.TOOL_CALL, data={"tool_id": "x", "execution_id": 5}
    )
    html = viewer.get(detail_url(session)).content.decode()
    url = reverse("tools:execution", args=[tool_id, execution_id])
    assert html.count("Request and reply") == 1
    assert f'href="{url}"' in html


def test_event_data_is_escaped(viewer: Client, cast: Cast) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    session_event_append(
        session=session, kind=EventKind.MESSAGE, data={"content": "<script>x</script>"}
    )
    session_event_append(session=session, kind=EventKind.TOOL_CALL, data={"arguments": ["<b>"]})
    session_event_append(session=session, kind=EventKind.METRIC, data=["not", "an", "object"])
    html = viewer.get(detail_url(session)).content.decode()
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html.replace("<wbr>", "")
    assert "<b>" not in html
    assert "unnamed tool" in html


def test_a_deleted_agents_session_keeps_its_name(viewer: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team, name="Retired")
    session = session_create(agent=agent, type=SessionType.CHAT)
    agent.delete()
    html = viewer.get(detail_url(session)).content.decode()
    assert "Retired" in html
    assert "(agent deleted)" in html


def test_the_detail_links_to_an_agent_that_still_exists(viewer: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team, name="Support")
    session = session_create(agent=agent, type=SessionType.CHAT)
    try:
        agent_url = reverse("agents:detail", args=[agent.pk])
    except NoReverseMatch:
        pytest.skip("the agents app has no detail page yet; the session shows the name alone")
    assert f'<a href="{agent_url}">Support</a>' in viewer.get(detail_url(session)).content.decode()


def test_a_session_with_no_events_says_so(viewer: Client, session: Session) -> None:
    assert "This session has no events yet." in viewer.get(detail_url(session)).content.decode()


def test_a_running_sessions_page_refreshes_itself_and_an_ended_ones_does_not(
    viewer: Client, cast: Cast
) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    assert "data-live" in viewer.get(detail_url(session)).content.decode()
    session_status_set(session=session, status=SessionStatus.STOPPED)
    assert "data-live" not in viewer.get(detail_url(session)).content.decode()


# The timeline alone, for the agent page's test call


def timeline_url(session: Session) -> str:
    return f"/sessions/{session.pk}/timeline/"


def test_the_timeline_partial_is_the_events_alone(viewer: Client, cast: Cast) -> None:
    session = _conversation(AgentFactory(team=cast.team, name="Weather desk"))
    response = viewer.get(timeline_url(session), headers=HTMX)
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="timeline"')
    assert "<h1" not in html
    assert "<nav" not in html
    assert "first token 320 ms · total 1.24 s" in html
    assert "get_weather" in html
    assert '"city": "Berlin"' in html
    assert html.count('<li id="event-') == SessionEvent.objects.filter(session=session).count()


def test_the_timeline_partial_polls_while_the_session_runs(viewer: Client, cast: Cast) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    html = viewer.get(timeline_url(session)).content.decode()
    assert f'hx-get="{timeline_url(session)}" hx-trigger="every 1s"' in html
    session_status_set(session=session, status=SessionStatus.STOPPED)
    assert "hx-trigger" not in viewer.get(timeline_url(session)).content.decode()


def test_the_session_page_does_not_poll_its_timeline_twice(viewer: Client, cast: Cast) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    html = viewer.get(detail_url(session)).content.decode()
    assert html.count("hx-trigger=") == 1  # the whole #live region, not the timeline too


@pytest.mark.parametrize("events", [1, 60])
def test_the_timeline_query_count_does_not_grow_with_events(
    viewer: Client, cast: Cast, django_assert_num_queries, events: int
) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    for n in range(events - 1):
        session_event_append(session=session, kind=EventKind.MESSAGE, data={"content": f"m{n}"})
    # Polled every second: the Django session, the user, the membership, the session, its events.
    with django_assert_num_queries(5):
        response = viewer.get(timeline_url(session), headers=HTMX)
    assert response.content.decode().count('<li id="event-') == events


@pytest.mark.parametrize("role", ["owner", "member", "viewer"])
def test_every_role_reads_the_timeline(cast: Cast, session: Session, role: str) -> None:
    assert signed_in(getattr(cast, role)).get(timeline_url(session)).status_code == 200


def test_another_teams_timeline_is_not_found(cast: Cast, session: Session) -> None:
    outsider = signed_in(cast.outsider)
    assert outsider.get(timeline_url(session), headers=HTMX).status_code == 404
    assert outsider.get(f"/sessions/{UNKNOWN}/timeline/").status_code == 404


def test_the_timeline_only_reads_and_needs_a_sign_in(viewer: Client, session: Session) -> None:
    assert viewer.post(timeline_url(session)).status_code == 405
    response = Client().get(timeline_url(session))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_calls_turn_shows_its_voice_latency_and_an_interruption(
    viewer: Client, cast: Cast
) -> None:
    session = SessionFactory(agent=AgentFactory(team=cast.team), type="voice")
    spoken = {
        "role": "assistant",
        "content": "Paris is the capital of France.",
        "interrupted": True,
        "latency_ms": 640,
        "stt_ms": 300,
        "llm_ms": 110,
        "tts_ms": 90,
    }
    session_event_append(session=session, kind=EventKind.MESSAGE, data=spoken)
    html = unescape(viewer.get(detail_url(session)).content.decode())
    assert "voice to voice 640 ms" in html
    # Its parts are on the turn's bar; the 440 ms this older record did not break down too.
    caption = _stage_caption(html)
    assert caption == [
        "LLM 110 ms",
        "text-to-speech 90 ms",
        "not broken down 440 ms",
        "speech-to-text 300 ms",
    ]
    assert "interrupted</span>" in html


def _stage_caption(html: str) -> list[str]:
    """The words of the stage bars' legends, item by item."""
    captions = re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", html, re.S)
    items = [
        re.sub(r"<[^>]+>", "", item) for caption in captions for item in caption.split("</span>")
    ]
    return [" ".join(item.split()) for item in items if item.strip()]


def _widths(html: str) -> list[dict[str, int]]:
    """Each stage bar's rects: their data-stage name → width, and the first one's x."""
    bars = re.findall(r"<svg aria-hidden=\"true\" class=\"max-w-full\"(.*?)</svg>", html, re.S)
    found = []
    for bar in bars:
        rects = re.findall(
            r'<rect (?:x="(\d+)" )?(?:y="\d+" )?width="(\d+)"[^>]*data-stage="(\w+)"', bar
        )
        found.append({name: int(width) for _x, width, name in rects})
    return found


def test_a_calls_turns_show_their_stages_as_bars_on_one_scale(viewer: Client, cast: Cast) -> None:
    session = SessionFactory(agent=AgentFactory(team=cast.team), type="voice")
    semantic = {"turn_detection_ms": 300, "stt_ms": 180, "llm_ms": 120, "tts_ms": 140}
    slow = {"turn_detection_ms": 480, "stt_ms": 200, "llm_ms": 600, "tts_ms": 300}
    for content, parts, held, turn_end in [
        ("Paris is the capital of France.", semantic, 40, "semantic"),
        ("It sits on the Seine.", slow, 60, "max"),
    ]:
        data = parts | {"held_ms": held, "latency_ms": sum(parts.values()) - parts["stt_ms"] + held}
        data |= {"role": "assistant", "content": content, "turn_end": turn_end}
        session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
    session_event_append(
        session=session, kind=EventKind.MESSAGE, data={"role": "user", "content": "Thanks!"}
    )

    html = unescape(viewer.get(detail_url(session)).content.decode())

    first, second = _widths(html)  # the user's message has none
    # The slower turn (1.44 s) fills the bar's 240 units; the first (600 ms) is drawn to scale.
    assert sum(v for k, v in second.items() if k != "stt_ms") == 240
    assert sum(v for k, v in first.items() if k != "stt_ms") == 100
    assert first == {
        "turn_detection_ms": 50,
        "llm_ms": 20,
        "tts_ms": 23,
        "held_ms": 7,
        "stt_ms": 30,
    }
    assert _stage_caption(html)[:6] == [
        "turn detection 300 ms",
        "speech-to-text 180 ms",
        "LLM 120 ms",
        "text-to-speech 140 ms",
        "held 40 ms",
        "Turn ended by meaning: the sentence sounded finished",
    ]
    assert "Turn ended by the longest silence: the sentence sounded unfinished" in html
    # The bar's title says it all in one sentence, for a pointer's hover.
    assert (
        "<title>Voice to voice 600 ms: turn detection 300 ms (speech-to-text 180 ms within it), "
        "LLM 120 ms, text-to-speech 140 ms, held 40 ms; ended by meaning: the sentence sounded "
        "finished</title>" in html
    )
    assert 'style="' not in html.split('id="timeline"')[1]  # the policy allows no inline style


def test_a_turn_without_its_latency_has_no_bar(viewer: Client, cast: Cast) -> None:
    session = SessionFactory(agent=AgentFactory(team=cast.team), type="voice")
    data = {"role": "assistant", "content": "Hello.", "llm_ms": "fast", "latency_ms": True}
    session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
    html = viewer.get(detail_url(session)).content.decode()
    assert "data-stages" not in html


# Tool results: stored as the text the LLM was given (tools/execution.py), shown as JSON when they
# hold some, on the session page and in the test call's timeline alike.

WEATHER = '{"city":"Paris","temperature_c":21}'


def _tool_call(session: Session, result: str, *, arguments: Any = None) -> None:
    data = {"tool_name": "get_weather", "arguments": arguments or {"city": "Paris"}}
    session_event_append(session=session, kind=EventKind.TOOL_CALL, data=data | {"result": result})


def _result_block(html: str) -> str:
    """The first tool call's Result block: its label to the end of its <pre>."""
    start = html.index(">Result<") if ">Result<" in html else html.index(">Result ")
    return html[start : html.index("</pre>", start)]


@pytest.mark.parametrize("url", [detail_url, timeline_url])
def test_a_result_stored_as_json_text_is_shown_as_indented_json(
    viewer: Client, cast: Cast, url: Any
) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    _tool_call(session, WEATHER)
    html = unescape(viewer.get(url(session)).content.decode())
    assert '{\n  "city": "Paris",\n  "temperature_c": 21\n}' in _result_block(html)
    assert '\\"city\\"' not in html  # not the text quoted again
    assert "<details" not in _result_block(html)  # short: shown whole


@pytest.mark.parametrize(
    "result",
    [
        "OK (the tool returned no content)",
        '{"city":"Par… [cut: the reply was 40000 characters]',  # a cut reply is no JSON
        "42",  # JSON, but no object or array: shown as it came
    ],
)
def test_a_result_that_is_not_a_json_object_is_shown_as_it_came(
    viewer: Client, cast: Cast, result: str
) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    _tool_call(session, result)
    html = unescape(viewer.get(detail_url(session)).content.decode())
    assert _result_block(html).endswith(f'<pre class="json-block">{result}')


def test_blocks_wrap_rather_than_scroll_sideways(viewer: Client, cast: Cast) -> None:
    session = _conversation(AgentFactory(team=cast.team))
    html = viewer.get(detail_url(session)).content.decode()
    timeline = html[html.index("Timeline</h2>") :]
    assert timeline.count('<pre class="json-block') >= 4  # arguments, result, error, metric
    assert "overflow-x-auto" not in timeline


def test_a_long_result_starts_folded_and_says_how_long_it_is(viewer: Client, cast: Cast) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    rows = json.dumps({"forecast": [{"day": n, "temperature_c": 20 + n} for n in range(8)]})
    _tool_call(session, rows)
    html = unescape(viewer.get(detail_url(session)).content.decode())
    block = _result_block(html)
    lines = len(json.dumps(json.loads(rows), indent=2).splitlines())
    assert block.startswith(">Result <span")
    assert f"· {lines} lines</span>" in block
    # The refresh of a running session keeps a block a person unfolded as it is.
    assert re.search(r'<details id="event-\d+-result" hx-preserve', html)
    assert '"temperature_c": 27' in block  # all of it, once unfolded
