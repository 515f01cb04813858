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
    expect(page.get_by_role("heading", name="Harbour help", level=1)).to_be_visible()
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
