"""A newcomer's first minute, as `make run` leaves them: the login `manage.py demo` printed, the
demo agent on the local model, a test call answered by it, and the conversation on the
Sessions page. The packaged model answers for real: no network, no scripted server."""

import re
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from playwright.sync_api import Page, expect

from agents.models import Agent
from sessions.models import EventKind, Session
from tests.localllm.conftest import local_llm_url  # noqa: F401 - the real model's server

from .conftest import screenshot

pytestmark = [
    pytest.mark.local_llm,
    pytest.mark.django_db(transaction=True),
    # The live server is WSGI: it sends a streamed reply whole, and Django says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]
FAILURE = "having trouble answering"  # the agent's failure message


@pytest.fixture(autouse=True)
def _local_model(settings: Any, local_llm_url: str) -> None:  # noqa: F811
    cache.clear()
    settings.LOCAL_LLM_URL = local_llm_url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": local_llm_url}}


def printed_login() -> tuple[str, str]:
    """`manage.py demo` as `make run` runs it, and the login it printed. In a thread of its
    own: Playwright runs an event loop in this one, and the command runs the demo's tool."""
    out = StringIO()
    with ThreadPoolExecutor(1) as thread:
        thread.submit(call_command, "demo", stdout=out).result()
    found = re.search(r"Demo login: (\S+) / (\S+)", out.getvalue())
    assert found, out.getvalue()
    return found[1], found[2]


def test_a_newcomer_signs_in_and_the_demo_agent_answers_a_test_call(page: Page) -> None:
    email, password = printed_login()
    page.goto("/accounts/login/")
    expect(page.get_by_role("note")).to_contain_text(email)  # the hint, while it holds
    screenshot(page, "first-run-sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/agents/")

    agent = Agent.objects.get(team__name="Demo team")
    expect(page.get_by_text("Cannot answer yet")).to_have_count(0)  # local needs no key
    page.get_by_role("link", name=agent.name).click()
    page.wait_for_url(f"**/agents/{agent.id}/")
    panel = page.locator("#test-call")
    panel.get_by_role("button", name="Start conversation").click()
    conversation = panel.get_by_role("log", name="Conversation")
    expect(conversation).to_contain_text("Acme Bikes assistant")  # the first message
    panel.get_by_role("textbox", name="Message").fill("When are you open on Saturday?")
    panel.get_by_role("textbox", name="Message").press("Enter")

    # The first message, then the model's answer, streamed in and finished.
    agent_said = conversation.locator(".msg.assistant")
    expect(agent_said).to_have_count(2)
    session = Session.objects.exclude(metadata__has_key="sample").get(agent=agent)
    expect(panel.get_by_role("textbox", name="Message")).to_be_editable()
    reply = session.events.filter(kind=EventKind.MESSAGE).order_by("-seq").first()
    assert reply is not None
    assert reply.data["role"] == "assistant"
    assert reply.data["content"].strip()
    assert FAILURE not in reply.data["content"]
    expect(agent_said.nth(1)).to_contain_text(reply.data["content"].strip()[:20])
    screenshot(page, "first-run-test-call")

    page.get_by_role("link", name="Sessions", exact=True).click()
    page.wait_for_url("**/sessions/")
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(4)  # a header, the test call and the two samples
    expect(page.locator(f'a[href="/sessions/{session.pk}/"]')).to_be_visible()
    screenshot(page, "first-run-sessions")
