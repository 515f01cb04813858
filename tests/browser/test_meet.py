"""The hosted page, /meet/<agent_id>, in a browser: a conversation through the widget on it, a
single-use link that works once, a team's draft for a signed-in member, and a phone's width."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from sessions.models import Session, SessionStatus
from tests.factories import AgentFactory, MembershipFactory, TeamFactory
from tests.llm_server import ScriptedLLM, says

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The live server is WSGI: it sends a streamed reply whole, and Django says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def an_agent(llm: ScriptedLLM, **fields: Any) -> Agent:
    llm_config = {"custom_url": llm.base_url, "model": "m", "first_message": "Hi! Ask me."}
    document = AgentConfiguration.model_validate({"llm": llm_config}).as_document()
    team = fields.pop("team", None) or TeamFactory()
    defaults = {"team": team, "publish_status": "public", "configuration": document}
    return AgentFactory(**(defaults | fields))


def converse(page: Page, question: str, answer: str) -> None:
    """Start the conversation on the page, hear the first message, ask and hear the answer."""
    page.get_by_role("button", name="Start conversation").click()
    transcript = page.get_by_role("log", name="Conversation")
    expect(transcript).to_contain_text("Hi! Ask me.")
    page.get_by_role("textbox", name="Message").fill(question)
    page.keyboard.press("Enter")
    expect(transcript).to_contain_text(answer)


def test_a_visitor_talks_to_a_public_agent_on_its_page(page: Page, llm: ScriptedLLM) -> None:
    agent = an_agent(llm, name="Harbour help")
    llm.will(says("Boats leave ", "at nine."))
    page.goto(f"/meet/{agent.id}")
    expect(page).to_have_title("Harbour help · Parley")
    expect(page.get_by_role("heading", name="Harbour help", level=1)).to_be_attached()
    converse(page, "When do boats leave?", "Boats leave at nine.")
    # The widget fills the page below the name: most of the window's height.
    box = page.locator("live-avatar").bounding_box()
    assert box is not None
    assert box["height"] > 800 * 0.7
    screenshot(page, "meet-conversation")


def test_the_page_fits_a_phone(page: Page, llm: ScriptedLLM) -> None:
    agent = an_agent(llm, name="Harbour help for visitors arriving by the northern ferry terminal")
    llm.will(says("Take the blue line."))
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"/meet/{agent.id}")
    converse(page, "How do I get to town?", "Take the blue line.")
    assert not has_horizontal_scroll(page)
    box = page.locator("live-avatar").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 375
    screenshot(page, "meet-mobile")


def test_a_single_use_link_converses_once_then_says_it_has_been_used(
    page: Page, llm: ScriptedLLM
) -> None:
    agent = an_agent(
        llm,
        name="Your appointment",
        kind=AgentKind.SINGLE_USE,
        publish_status="private",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    llm.will(says("See you on Monday."))
    page.goto(f"/meet/{agent.id}")
    converse(page, "When is it?", "See you on Monday.")

    response = page.reload()
    assert response is not None
    assert response.status == 410
    expect(page.get_by_role("heading", name="This link has been used")).to_be_visible()
    expect(page.locator("live-avatar")).to_have_count(0)
    screenshot(page, "meet-used")


def test_an_expired_single_use_link_says_so(page: Page, llm: ScriptedLLM) -> None:
    agent = an_agent(
        llm,
        kind=AgentKind.SINGLE_USE,
        publish_status="private",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"/meet/{agent.id}")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    assert not has_horizontal_scroll(page)


def test_a_member_tries_the_teams_draft_on_its_page(page: Page, llm: ScriptedLLM) -> None:
    """Signed in, the browser sends the session cookie with the widget's start; the page's CSRF
    token goes with it. Anyone else is told the agent is not available."""
    member = MembershipFactory()
    draft = an_agent(llm, team=member.team, name="Draft helper", publish_status="draft")
    llm.will(says("Still a draft, but I answer."))

    page.goto(f"/meet/{draft.id}")
    expect(page.get_by_role("heading", name="This agent is not available")).to_be_visible()
    screenshot(page, "meet-not-available")

    sign_in(page, member.user.email)
    page.goto(f"/meet/{draft.id}")
    converse(page, "Are you ready?", "Still a draft, but I answer.")


def wait_for_end(page: Page, session: Session, seconds: float = 30) -> Session:
    """Poll the database until the session is over; generous, a safety net on a busy machine."""
    for _ in range(int(seconds * 10)):
        session.refresh_from_db()
        if session.is_over:
            return session
        page.wait_for_timeout(100)
    raise AssertionError(f"the session is still {session.status}")


def test_before_the_conversation_the_page_shows_the_name_once_and_a_start_button(
    page: Page, llm: ScriptedLLM
) -> None:
    agent = an_agent(llm, name="Harbour help")
    page.goto(f"/meet/{agent.id}")
    start = page.get_by_role("button", name="Start conversation")
    expect(start).to_be_visible()
    # The name, once to the eye: in the widget's header; the page's own heading is there for
    # screen readers, a pixel wide.
    names = page.get_by_text("Harbour help", exact=True)
    expect(names).to_have_count(2)
    expect(page.locator("live-avatar header h2")).to_have_text("Harbour help")
    heading = page.get_by_role("heading", name="Harbour help", level=1).bounding_box()
    assert heading is not None
    assert heading["width"] <= 1
    # No empty transcript box before there is a transcript: the button stands in its place.
    expect(page.get_by_role("log", name="Conversation")).to_be_hidden()
    widget, button = page.locator("live-avatar").bounding_box(), start.bounding_box()
    assert widget is not None
    assert button is not None
    middle = button["y"] + button["height"] / 2
    assert widget["y"] + widget["height"] * 0.3 < middle < widget["y"] + widget["height"] * 0.7
    screenshot(page, "meet-start")


def test_leaving_the_page_ends_the_conversation(page: Page, llm: ScriptedLLM) -> None:
    agent = an_agent(llm, name="Harbour help")
    llm.will(says("At nine."))
    page.goto(f"/meet/{agent.id}")
    converse(page, "When do boats leave?", "At nine.")
    session = Session.objects.get(agent=agent)
    assert not session.is_over
    page.goto("/accounts/login/")  # anywhere else
    assert wait_for_end(page, session).status == SessionStatus.STOPPED


def test_a_busy_agents_page_says_so_instead_of_offering_a_conversation(
    page: Page, llm: ScriptedLLM, settings: Any
) -> None:
    settings.SESSION_ANONYMOUS_MAX_PER_AGENT = 1
    agent = an_agent(llm, name="Harbour help")
    page.goto(f"/meet/{agent.id}")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.get_by_role("log", name="Conversation")).to_contain_text("Hi! Ask me.")

    other = page.context.new_page()  # a second visitor's tab while the first talks
    response = other.goto(f"/meet/{agent.id}")
    assert response is not None
    assert response.status == 429
    expect(
        other.get_by_role("heading", name="This agent cannot take a conversation")
    ).to_be_visible()
    expect(other.get_by_role("button", name="Start conversation")).to_have_count(0)
    screenshot(other, "meet-busy")
