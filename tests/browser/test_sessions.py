import json
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from sessions.models import EventKind, Session, SessionStatus, SessionType
from sessions.services import session_create, session_event_append, session_status_set
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, SessionFactory

from .conftest import SCREENSHOTS, has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# (agent, type, status, minutes ago, seconds long, end reason)
SESSIONS = [
    ("Support desk", "voice", "running", 2, None, ""),
    ("Booking assistant", "chat", "starting", 3, None, ""),
    ("Support desk", "voice", "stopped", 14, 312, "caller hung up"),
    ("Video concierge", "video", "failed", 31, 48, "avatar stream lost"),
    ("Booking assistant", "chat", "stopped", 55, 95, "conversation finished"),
    ("Support desk", "chat", "stopped", 70, 1260, "idle timeout"),
    ("Sales qualifier", "voice", "stopped", 95, 428, "caller hung up"),
    ("Video concierge", "video", "stopping", 120, None, ""),
    ("Support desk", "voice", "failed", 180, 7, "speech-to-text unavailable"),
    ("Sales qualifier", "chat", "stopped", 240, 203, "conversation finished"),
    ("Booking assistant", "voice", "stopped", 300, 3725, "max duration reached"),
    ("Support desk", "chat", "stopped", 420, 61, "conversation finished"),
    ("Sales qualifier", "video", "stopped", 600, 845, "caller hung up"),
    ("Booking assistant", "chat", "failed", 900, 12, "LLM quota exceeded"),
    ("Support desk", "voice", "stopped", 1440, 530, "caller hung up"),
]


@pytest.fixture
def now() -> datetime:
    return timezone.now().replace(second=0, microsecond=0)


@pytest.fixture
def viewer_email(now: datetime) -> str:
    membership = MembershipFactory(role=Role.VIEWER, team__name="Acme")
    team = membership.team
    agents = {name: AgentFactory(team=team, name=name) for name, *_ in SESSIONS}
    for name, kind, status, ago, length, reason in SESSIONS:
        started = now - timedelta(minutes=ago)
        SessionFactory(
            agent=agents[name],
            type=kind,
            status=status,
            started_at=started,
            ended_at=started + timedelta(seconds=length) if length else None,
            end_reason=reason,
            last_event_seq=3 + ago % 40,
        )
    return membership.user.email


# A long tool result: it starts folded on the timeline.
TRACKING_SCANS = [
    {"at": f"2026-11-2{day}T0{hour}:15:00Z", "place": place, "event": event}
    for day, hour, place, event in [
        (2, 8, "Leipzig hub", "accepted"),
        (2, 9, "Leipzig hub", "sorted"),
        (3, 6, "Berlin depot", "arrived"),
        (3, 7, "Berlin depot", "out_for_delivery"),
    ]
]


def _conversation(now: datetime) -> Session:
    """A voice call with messages, a tool call, an error and its status changes."""
    membership = MembershipFactory(role=Role.VIEWER, team__name="Acme")
    agent = AgentFactory(team=membership.team, name="Support desk")
    start = now - timedelta(minutes=3)

    def at(seconds: float) -> time_machine.travel:
        return time_machine.travel(start + timedelta(seconds=seconds), tick=False)

    with at(0):
        session = session_create(
            agent=agent, type=SessionType.VOICE, metadata={"caller": "+49 30 1234567"}
        )
    with at(1.2):
        session_status_set(session=session, status=SessionStatus.RUNNING)
    events = [
        (
            2.0,
            EventKind.MESSAGE,
            {
                "role": "assistant",
                "content": "Hi! This is Acme support. How can I help?",
                "ttft_ms": 410,
                "total_ms": 1630,
            },
        ),
        (6.4, EventKind.MESSAGE, {"role": "user", "content": "Is my order 4711 on its way?"}),
        (
            7.1,
            EventKind.TOOL_CALL,
            {
                "tool_name": "order_status",
                "arguments": {"order_id": "4711"},
                # Stored as the runtime stores it: the text the LLM was given.
                "result": json.dumps({"status": "shipped", "carrier": "DHL", "eta": "2026-11-26"}),
                "duration_ms": 184,
                "outcome": "ok",
            },
        ),
        (
            7.5,
            EventKind.TOOL_CALL,
            {
                "tool_name": "tracking_history",
                "arguments": {"order_id": "4711"},
                "result": json.dumps({"order_id": "4711", "scans": TRACKING_SCANS}),
                "duration_ms": 230,
                "outcome": "ok",
            },
        ),
        (
            7.9,
            EventKind.MESSAGE,
            {
                "role": "assistant",
                "content": "Yes, it shipped with DHL and should arrive on Thursday.",
                "ttft_ms": 520,
                "total_ms": 2210,
                # The turn's stages, as a call records them: its bar on the timeline.
                "latency_ms": 1190,
                "turn_detection_ms": 310,
                "stt_ms": 190,
                "llm_ms": 620,
                "tts_ms": 220,
                "held_ms": 40,
                "turn_end": "semantic",
            },
        ),
        (
            12.5,
            EventKind.MESSAGE,
            {"role": "user", "content": "Can you text me the tracking link?"},
        ),
        (
            13.0,
            EventKind.TOOL_CALL,
            {
                "tool_name": "send_sms",
                "arguments": {"to": "+49 30 1234567", "template": "tracking"},
                "duration_ms": 5000,
                "outcome": "timeout",
                "error": "The tool's server did not answer within 5 s.",
            },
        ),
        (
            18.2,
            EventKind.ERROR,
            {
                "code": "tts_unavailable",
                "message": "Text-to-speech stopped answering; the call cannot continue.",
            },
        ),
        (18.3, EventKind.METRIC, {"llm_tokens_in": 1312, "llm_tokens_out": 96}),
    ]
    for seconds, kind, data in events:
        with at(seconds):
            session_event_append(session=session, kind=kind, data=data)
    with at(18.4):
        session_status_set(
            session=session, status=SessionStatus.FAILED, reason="text-to-speech unavailable"
        )
    return session


def test_the_sessions_list_fits_a_phone(page: Page, viewer_email: str) -> None:
    sign_in(page, viewer_email)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/sessions/")
    expect(page.get_by_role("row")).to_have_count(len(SESSIONS) + 1)
    assert not has_horizontal_scroll(page)


def test_the_sessions_list(page: Page, viewer_email: str) -> None:
    sign_in(page, viewer_email)
    page.goto("/sessions/")
    expect(page.get_by_role("row")).to_have_count(len(SESSIONS) + 1)
    screenshot(page, "sessions-list")


def test_filters_update_the_list_and_the_address(page: Page, viewer_email: str) -> None:
    sign_in(page, viewer_email)
    page.goto("/sessions/")
    page.get_by_label("Status").select_option("failed")
    page.wait_for_url("**/sessions/?*status=failed*")
    failed = sum(1 for row in SESSIONS if row[2] == "failed")
    expect(page.get_by_role("row")).to_have_count(failed + 1)
    page.get_by_label("Type").select_option("video")
    page.wait_for_url("**type=video*")
    expect(page.get_by_role("row")).to_have_count(2)
    expect(page.get_by_role("cell", name="Video concierge")).to_be_visible()
    page.go_back()
    page.wait_for_url("**/sessions/?*status=failed*")
    expect(page.get_by_role("row")).to_have_count(failed + 1)


def test_a_session_opens_from_the_list(page: Page, viewer_email: str, now: datetime) -> None:
    sign_in(page, viewer_email)
    page.goto("/sessions/")
    newest = timezone.localtime(now - timedelta(minutes=2))
    page.get_by_role("link", name=f"{newest:%Y-%m-%d %H:%M}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Voice session with Support desk")


def test_the_session_timeline(page: Page, now: datetime) -> None:
    session = _conversation(now)
    email = session.team.memberships.get().user.email
    sign_in(page, email)
    page.goto(f"/sessions/{session.pk}/")
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline.get_by_role("listitem")).to_have_count(session.last_event_seq)
    expect(timeline).to_contain_text("order_status")
    expect(timeline).to_contain_text("The tool's server did not answer within 5 s.")
    # A result stored as JSON text reads as JSON, not as a quoted string; a long one is folded.
    expect(timeline).to_contain_text('"carrier": "DHL"')
    expect(timeline).not_to_contain_text('\\"carrier')
    folded = timeline.locator("details", has_text="Result")
    expect(folded).to_have_count(1)
    expect(folded.locator("pre")).not_to_be_visible()
    stages = timeline.get_by_role("figure", name="Where the turn's time went")
    expect(stages).to_have_count(1)
    expect(stages).to_contain_text("turn detection 310 ms")
    expect(stages).to_contain_text("Turn ended by meaning: the sentence sounded finished")
    screenshot(page, "session-detail")
    folded.locator("summary").click()
    expect(folded.locator("pre")).to_contain_text('"place": "Berlin depot"')
    # A close-up of the tool call, unfolded.
    folded.locator("xpath=ancestor::li[1]").screenshot(path=SCREENSHOTS / "session-tool-result.png")
    page.set_viewport_size({"width": 375, "height": 740})
    assert not has_horizontal_scroll(page)
    screenshot(page, "session-detail-mobile")


def test_a_running_session_shows_new_events_as_they_happen(page: Page) -> None:
    member = MembershipFactory(role=Role.VIEWER)
    session = session_create(agent=AgentFactory(team=member.team), type=SessionType.CHAT)
    session_status_set(session=session, status=SessionStatus.RUNNING)
    sign_in(page, member.user.email)
    page.goto(f"/sessions/{session.id}/")
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).not_to_contain_text("Is it raining in Oslo?")
    session_event_append(
        session=session,
        kind=EventKind.MESSAGE,
        data={"role": "user", "content": "Is it raining in Oslo?"},
    )
    expect(timeline).to_contain_text("Is it raining in Oslo?", timeout=6000)
    session_status_set(session=session, status=SessionStatus.STOPPED, reason="done")
    expect(page.get_by_text("done", exact=True).first).to_be_visible(timeout=6000)
    expect(page.locator("[data-live]")).to_have_count(0)


def test_an_unfolded_result_stays_open_while_the_session_refreshes(page: Page) -> None:
    member = MembershipFactory(role=Role.VIEWER)
    session = session_create(agent=AgentFactory(team=member.team), type=SessionType.CHAT)
    session_status_set(session=session, status=SessionStatus.RUNNING)
    result = json.dumps({"order_id": "4711", "scans": TRACKING_SCANS})
    data = {"tool_name": "tracking_history", "arguments": {"order_id": "4711"}, "result": result}
    session_event_append(session=session, kind=EventKind.TOOL_CALL, data=data)
    sign_in(page, member.user.email)
    page.goto(f"/sessions/{session.id}/")
    timeline = page.get_by_role("list", name="Timeline")
    timeline.locator("details summary", has_text="Result").click()
    session_event_append(
        session=session, kind=EventKind.MESSAGE, data={"role": "assistant", "content": "Soon."}
    )
    expect(timeline).to_contain_text("Soon.", timeout=10_000)  # the page refreshed
    expect(timeline.locator("details", has_text="Result")).to_have_attribute("open", "")


LINES = """(el) => {
  // The element's text, line by line as laid out: a character whose box is lower starts a line.
  const lines = [], range = document.createRange();
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let line = "", top = null, node;
  while ((node = walker.nextNode())) {
    for (let i = 0; i < node.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.height && top !== null && box.top > top + 2) { lines.push(line); line = ""; }
      if (box.height) top = box.top;
      line += node.data[i];
    }
  }
  return lines.concat(line);
}"""


def test_a_message_holding_json_wraps_between_its_parts_not_inside_words(page: Page) -> None:
    member = MembershipFactory(role=Role.VIEWER)
    session = session_create(agent=AgentFactory(team=member.team), type=SessionType.CHAT)
    reading = {"city": "Paris", "temperature_c": 21, "conditions": "partly_cloudy", "wind_kmh": 12}
    said = "The tool said " + json.dumps(reading, separators=(",", ":")) * 2
    session_event_append(
        session=session, kind=EventKind.MESSAGE, data={"role": "assistant", "content": said}
    )
    sign_in(page, member.user.email)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"/sessions/{session.id}/")
    message = page.get_by_role("list", name="Timeline").locator("p", has_text="The tool said")
    lines = message.evaluate(LINES)
    assert "".join(lines) == said  # the text is whole: the break points add no characters
    assert len(lines) >= 3
    for line in lines[:-1]:
        assert line.rstrip()[-1] in ",:}]" or line.endswith(" "), lines
