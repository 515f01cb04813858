"""The agent page's test call: a member talks to a draft agent through the widget on the page,
watches the session's timeline beside it, and follows the link to the recorded session."""

import re
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from sessions.models import Session, SessionStatus
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, ToolFactory
from tests.llm_server import ScriptedLLM, calls, says

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The live server is WSGI: it sends a streamed reply whole, and Django says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


def test_a_member_test_calls_a_draft_agent_and_opens_the_recorded_session(
    page: Page, receiver: HTTPServer
) -> None:
    membership = MembershipFactory(role=Role.MEMBER, team__name="Acme")
    receiver.expect_request("/orders").respond_with_json({"status": "shipped"})
    tool = ToolFactory(
        team=membership.team, name="order_status", server_url=receiver.url_for("/orders")
    )
    llm = ScriptedLLM(receiver)
    document: dict[str, Any] = {
        "llm": {"custom_url": llm.base_url, "model": "m", "first_message": "Hi! Ask me."},
        "tool_calling": {"selected_tool_ids": [str(tool.id)]},
    }
    agent = AgentFactory(
        team=membership.team,
        name="Order desk",
        publish_status="draft",
        configuration=AgentConfiguration.model_validate(document).as_document(),
    )
    llm.will(calls(("order_status", {"order_id": "4711"})), says("It shipped ", "yesterday."))
    sign_in(page, membership.user.email)
    page.goto(f"/agents/{agent.id}/")

    panel = page.locator("#test-call")
    events = page.get_by_role("region", name="Transcript and events")
    panel.get_by_role("button", name="Start conversation").click()
    expect(panel.get_by_role("log", name="Conversation")).to_contain_text("Hi! Ask me.")
    expect(events.get_by_role("list", name="Timeline")).to_contain_text("Hi! Ask me.")

    panel.get_by_role("textbox", name="Message").fill("Has order 4711 shipped?")
    panel.get_by_role("textbox", name="Message").press("Enter")
    expect(panel.get_by_role("log", name="Conversation")).to_contain_text("It shipped yesterday.")
    expect(events).to_contain_text("Has order 4711 shipped?")
    expect(events).to_contain_text("It shipped yesterday.")
    expect(events).to_contain_text("Tool call")
    expect(events.locator("code", has_text="order_status")).to_be_visible()
    expect(events).to_contain_text("first token")
    expect(events).to_contain_text('"order_id": "4711"')
    expect(events).to_contain_text('"status": "shipped"')  # the result read as JSON, not quoted
    expect(events.get_by_role("link", name="Open the recorded session")).to_be_hidden()
    screenshot(page, "agent-test-call")

    panel.get_by_role("button", name="End", exact=True).click()
    recorded = page.get_by_role("link", name="Open the recorded session")
    expect(recorded).to_be_visible()
    session = Session.objects.get(agent=agent)
    expect(events).to_contain_text("stopped")  # the timeline's last refresh, then no more
    recorded.click()
    page.wait_for_url(re.compile(rf".*/sessions/{session.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Order desk")
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("order_status")
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert [r.get_json()["parameters"] for r, _ in receiver.log if r.path == "/orders"] == [
        {"order_id": "4711"}
    ]


def test_the_test_call_stacks_on_a_phone(page: Page) -> None:
    membership = MembershipFactory(role=Role.VIEWER)
    agent = AgentFactory(team=membership.team, publish_status="draft")
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, membership.user.email)
    page.goto(f"/agents/{agent.id}/")
    widget = page.locator("live-avatar").bounding_box()
    events = page.get_by_role("region", name="Transcript and events").bounding_box()
    assert widget is not None
    assert events is not None
    assert events["y"] >= widget["y"] + widget["height"]  # below it, not beside it
    assert not has_horizontal_scroll(page)


def test_leaving_the_agent_page_ends_the_test_conversation(
    page: Page, receiver: HTTPServer
) -> None:
    """Not at the idle timeout minutes later: the session is over once the page is left."""
    membership = MembershipFactory(role=Role.MEMBER)
    llm = ScriptedLLM(receiver)
    document = {"llm": {"custom_url": llm.base_url, "model": "m", "first_message": "Hi! Ask me."}}
    agent = AgentFactory(
        team=membership.team,
        publish_status="draft",
        configuration=AgentConfiguration.model_validate(document).as_document(),
    )
    sign_in(page, membership.user.email)
    page.goto(f"/agents/{agent.id}/")
    panel = page.locator("#test-call")
    panel.get_by_role("button", name="Start conversation").click()
    expect(panel.get_by_role("log", name="Conversation")).to_contain_text("Hi! Ask me.")
    session = Session.objects.get(agent=agent)
    assert not session.is_over

    page.get_by_role("link", name="Sessions").first.click()
    for _ in range(300):  # a safety net of 30 s; it ends as the page goes
        session.refresh_from_db()
        if session.is_over:
            break
        page.wait_for_timeout(100)
    assert session.status == SessionStatus.STOPPED
