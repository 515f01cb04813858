"""The <live-avatar> widget on another site's page: a conversation with a tool call, the events
it tells the page, refusals in a visitor's words, and a phone's width."""

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from sessions.models import Session, SessionStatus
from tests.factories import AgentFactory, TeamFactory, ToolFactory
from tests.llm_server import ScriptedLLM, calls, says

from .conftest import context_closed, has_horizontal_scroll, screenshot

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The live server is WSGI: it sends a streamed reply whole, and Django says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]

EVENTS = ["session-started", "message", "session-ended", "error"]
# The embedding page records what the widget tells it, and every status line it shows (a tool
# call's comes and goes at once under the test server, which sends a streamed reply whole).
RECORDER = """
<script>
  window.widgetEvents = [];
  window.statusSeen = [];
  for (const type of EVENTS) {
    document.addEventListener(type, (e) => {
      if (e.target.localName === "live-avatar") widgetEvents.push({type, detail: e.detail});
    });
  }
  customElements.whenDefined("live-avatar").then(() => {
    const status = document.querySelector("live-avatar").shadowRoot.querySelector(".status");
    new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach(
      (node) => statusSeen.push(node.textContent)))).observe(status, {childList: true});
  });
</script>
""".replace("EVENTS", json.dumps(EVENTS))


class _Site(BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path, "not found").encode()
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Shop:
    """Another site (another port, so another origin) whose pages embed the widget."""

    def __init__(self, server: ThreadingHTTPServer, parley_url: str) -> None:
        self.server = server
        self.parley_url = parley_url
        self.origin = f"http://127.0.0.1:{server.server_address[1]}"

    def page_with(self, agent: Agent, **attributes: str) -> str:
        shown = " ".join(f'{name}="{value}"' for name, value in attributes.items())
        _Site.pages["/"] = (
            '<!doctype html><html lang="en"><head><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><title>Shop</title></head>'
            f"<body><h1>Acme shop</h1>{RECORDER}"
            f'<live-avatar agentid="{agent.id}" {shown}></live-avatar>'
            f'<script src="{self.parley_url}/widget/live-avatar.js"></script></body></html>'
        )
        return self.origin + "/"


@pytest.fixture
def shop(live_server: Any) -> Iterator[Shop]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Shop(server, live_server.url)
    server.shutdown()
    server.server_close()
    _Site.pages = {}


@pytest.fixture
def visitor(browser: Browser) -> Iterator[Page]:
    """A page with no base URL: it visits the shop, not Parley."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context_closed(context)


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def an_agent(llm: ScriptedLLM, **fields: Any) -> Agent:
    configuration = fields.pop("configuration", {})
    llm_config = {"custom_url": llm.base_url, "model": "m", "first_message": "Hi! Ask me."}
    document = AgentConfiguration.model_validate({"llm": llm_config, **configuration}).as_document()
    team = fields.pop("team", None) or TeamFactory()
    defaults = {"team": team, "publish_status": "public", "configuration": document}
    return AgentFactory(**(defaults | fields))


def events(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.widgetEvents"))


def test_a_visitor_talks_to_the_agent_from_another_site(
    visitor: Page, shop: Shop, llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    team = TeamFactory()
    receiver.expect_request("/orders").respond_with_json({"status": "shipped"})
    tool = ToolFactory(team=team, name="order_status", server_url=receiver.url_for("/orders"))
    agent = an_agent(
        llm,
        team=team,
        configuration={
            "allowed_origins": [shop.origin],
            "tool_calling": {"selected_tool_ids": [str(tool.id)]},
        },
    )
    llm.will(calls(("order_status", {"order_id": "4711"})), says("It shipped ", "yesterday."))
    visitor.goto(shop.page_with(agent, title="Acme help"))

    # By keyboard alone: the bubble is the first stop, Enter opens it and starts the chat.
    visitor.keyboard.press("Tab")
    expect(visitor.get_by_role("button", name="Open chat")).to_be_focused()
    visitor.keyboard.press("Enter")
    transcript = visitor.get_by_role("log", name="Conversation")
    expect(transcript).to_contain_text("Hi! Ask me.")
    message = visitor.get_by_role("textbox", name="Message")
    expect(message).to_be_focused()
    visitor.keyboard.type("Has order 4711 shipped?")
    visitor.keyboard.press("Shift+Enter")
    visitor.keyboard.type("Thanks!")
    visitor.keyboard.press("Enter")
    expect(transcript).to_contain_text("It shipped yesterday.")
    expect(transcript).to_contain_text("Has order 4711 shipped?\nThanks!")
    assert "Calling order_status…" in visitor.evaluate("window.statusSeen")
    tool_calls = [request for request, _ in receiver.log if request.path == "/orders"]
    assert [r.get_json()["parameters"] for r in tool_calls] == [{"order_id": "4711"}]
    screenshot(visitor, "widget-conversation")

    visitor.get_by_role("button", name="End", exact=True).click()
    expect(visitor.get_by_text("The conversation has ended.")).to_be_visible()
    expect(visitor.get_by_role("button", name="Start again")).to_be_visible()
    seen = events(visitor)
    session_id = seen[0]["detail"]["sessionId"]
    assert seen == [
        {"type": "session-started", "detail": {"sessionId": session_id}},
        {"type": "message", "detail": {"role": "assistant", "content": "Hi! Ask me."}},
        {
            "type": "message",
            "detail": {"role": "user", "content": "Has order 4711 shipped?\nThanks!"},
        },
        {"type": "message", "detail": {"role": "assistant", "content": "It shipped yesterday."}},
        {"type": "session-ended", "detail": {"sessionId": session_id}},
    ]
    expect(visitor.get_by_role("textbox", name="Message")).to_be_hidden()


def test_a_site_the_agent_does_not_allow_is_refused(
    visitor: Page, shop: Shop, llm: ScriptedLLM
) -> None:
    agent = an_agent(llm, configuration={"allowed_origins": ["https://shop.example.com"]})
    visitor.goto(shop.page_with(agent, position="inline", title="Acme help"))
    expect(visitor.get_by_role("button", name="Open chat")).to_have_count(0)  # inline: no bubble
    visitor.get_by_role("button", name="Start conversation").click()
    expect(visitor.get_by_text("This assistant is not available on this site.")).to_be_visible()
    # Another try would be refused the same: no button to try it with.
    expect(visitor.get_by_role("button", name="Start conversation")).to_be_hidden()
    assert events(visitor) == [
        {
            "type": "error",
            "detail": {
                "code": "origin_not_allowed",
                "message": "This assistant is not available on this site.",
            },
        }
    ]
    screenshot(visitor, "widget-refused")


def test_a_single_use_link_works_once(visitor: Page, shop: Shop, llm: ScriptedLLM) -> None:
    agent = an_agent(
        llm, kind=AgentKind.SINGLE_USE, expires_at=timezone.now() + timedelta(minutes=5)
    )
    visitor.goto(shop.page_with(agent, position="inline", lang="de"))
    visitor.get_by_role("button", name="Unterhaltung beginnen").click()
    expect(visitor.get_by_role("log", name="Unterhaltung")).to_contain_text("Hi! Ask me.")

    # Used up: the widget says so at once, and offers no conversation the start would refuse.
    visitor.reload()
    expect(visitor.get_by_text("Dieser Link wurde bereits verwendet.")).to_be_visible()
    expect(visitor.get_by_role("button", name="Unterhaltung beginnen")).to_be_hidden()
    assert events(visitor)[-1]["detail"]["code"] == "single_use_used"

    shop.page_with(agent, position="inline")
    visitor.reload()
    expect(visitor.get_by_text("This link has already been used.")).to_be_visible()
    expect(visitor.get_by_role("button", name="Start conversation")).to_be_hidden()
    screenshot(visitor, "widget-used")


def test_the_widget_fits_a_phone(visitor: Page, shop: Shop, llm: ScriptedLLM) -> None:
    agent = an_agent(llm)
    visitor.set_viewport_size({"width": 375, "height": 740})
    visitor.goto(shop.page_with(agent, title="Acme help", **{"theme-color": "#0f766e"}))
    visitor.get_by_role("button", name="Open chat").click()
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("Hi! Ask me.")
    panel = visitor.locator("live-avatar").locator(".panel").bounding_box()
    assert panel is not None
    assert (panel["x"], panel["width"]) == (0, 375)
    assert not has_horizontal_scroll(visitor)
    screenshot(visitor, "widget-mobile")
    visitor.keyboard.press("Escape")
    expect(visitor.get_by_role("button", name="Open chat")).to_be_focused()


def wait_for_end(page: Page, session: Session, seconds: float = 30) -> Session:
    """Poll the database until the session is over; generous, a safety net on a busy machine."""
    for _ in range(int(seconds * 10)):
        session.refresh_from_db()
        if session.is_over:
            return session
        page.wait_for_timeout(100)
    raise AssertionError(f"the session is still {session.status}")


def test_without_a_title_the_header_names_the_agent(
    visitor: Page, shop: Shop, llm: ScriptedLLM
) -> None:
    agent = an_agent(llm, name="Harbour help")
    visitor.goto(shop.page_with(agent, position="inline"))
    expect(visitor.locator("live-avatar header h2")).to_have_text("Harbour help")
    expect(visitor.get_by_role("button", name="Start conversation")).to_be_visible()


def test_an_agent_that_is_not_available_offers_no_conversation(
    visitor: Page, shop: Shop, llm: ScriptedLLM
) -> None:
    draft = an_agent(llm, publish_status="draft")
    visitor.goto(shop.page_with(draft, position="inline"))
    expect(visitor.get_by_text("This assistant is not available right now.")).to_be_visible()
    expect(visitor.get_by_role("button", name="Start conversation")).to_be_hidden()
    assert events(visitor)[-1]["detail"]["code"] == "not_found"


@pytest.mark.parametrize("leaving", ["navigating away", "closing the tab"])
def test_leaving_the_page_ends_the_conversation(
    browser: Browser, shop: Shop, llm: ScriptedLLM, leaving: str
) -> None:
    agent = an_agent(llm)
    llm.will(says("At nine."))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    visitor = context.new_page()
    visitor.goto(shop.page_with(agent, position="inline"))
    visitor.get_by_role("button", name="Start conversation").click()
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("Hi! Ask me.")
    session = Session.objects.get(agent=agent)
    assert not session.is_over
    if leaving == "navigating away":
        visitor.goto(shop.origin + "/elsewhere")
    else:
        visitor.close(run_before_unload=True)
    try:
        ended = wait_for_end(context.new_page(), session)
    finally:
        context.close()
    assert ended.status == SessionStatus.STOPPED
