"""The Content-Security-Policy in Chromium: the dashboard (htmx, the agent page's voice test
call), the hosted page (framed by another site too), the widget on a site with a strict policy
of its own, and the API docs all work, and the browser reports no violation on any of them."""

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FrameLocator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, TeamFactory, ToolFactory
from tests.llm_server import ScriptedLLM, says

from .conftest import CHROMIUM, FLAGS, context_closed, sign_in
from .test_calls import FAKE_MICROPHONE, GRANT_WITHOUT_ASKING, StandInWorker

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The live server is WSGI: it sends a streamed reply whole, and Django says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]

# Chromium reports each blocked load or inline script on the console ("Refused to … because it
# violates the following Content Security Policy directive"); the event says it again, in case.
WATCH = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`), true);
"""


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium`")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with a fake microphone that every page may use, for the test call."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*FLAGS, FAKE_MICROPHONE, GRANT_WITHOUT_ASKING]
    )
    yield browser
    browser.close()


@pytest.fixture
def violations() -> list[str]:
    return []


def _watched(browser: Browser, violations: list[str], **options: Any) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    context.set_default_timeout(15_000)
    context.add_init_script(WATCH)
    page = context.new_page()

    def heard(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", heard)
    return page


@pytest.fixture
def page(browser: Browser, live_server: Any, violations: list[str]) -> Iterator[Page]:
    page = _watched(browser, violations, base_url=live_server.url)
    yield page
    context_closed(page.context)


@pytest.fixture
def visitor(browser: Browser, violations: list[str]) -> Iterator[Page]:
    """A page with no base URL: it visits the other site, not Parley."""
    page = _watched(browser, violations)
    yield page
    context_closed(page.context)


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


def converse(where: Page | FrameLocator, question: str, answer: str, *, start: bool = True) -> None:
    if start:
        where.get_by_role("button", name="Start conversation").click()
    transcript = where.get_by_role("log", name="Conversation")
    expect(transcript).to_contain_text("Hi! Ask me.")
    message = where.get_by_role("textbox", name="Message")
    message.fill(question)
    message.press("Enter")
    expect(transcript).to_contain_text(answer)


def policy_of(page: Page, path: str) -> str:
    response = page.goto(path)
    assert response is not None
    assert response.ok, path
    return response.headers["content-security-policy"]


class _Site(BaseHTTPRequestHandler):
    """Another site (another port, so another origin): one page, sent with its own headers."""

    page = ""
    headers_sent: dict[str, str] = {}

    def do_GET(self) -> None:
        body = self.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in self.headers_sent.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    _Site.page, _Site.headers_sent = "", {}


# The dashboard.


def test_dashboard_pages_allow_only_their_own_scripts_and_refuse_framing(
    page: Page, violations: list[str]
) -> None:
    membership = MembershipFactory(role=Role.OWNER, team__name="Acme")
    tool = ToolFactory(team=membership.team, name="order_status")
    sign_in(page, membership.user.email)
    for path in ("/agents/", "/tools/new/", f"/tools/{tool.id}/", "/team/", "/sessions/"):
        policy = policy_of(page, path)
        assert "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert "'unsafe-eval'" not in policy
        assert "script-src 'self' 'nonce-" in policy
        page.wait_for_function("window.htmx !== undefined")
    # The inline scripts ran (by their nonce), and htmx's indicator style got in by it too.
    page.goto("/tools/new/")
    assert page.locator("[data-secret-generator]").evaluate("e => e.hidden") is False
    page.goto(f"/tools/{tool.id}/")
    indicator = page.locator(".htmx-indicator").first
    expect(indicator).to_have_css("opacity", "0")
    assert violations == []


def test_the_agent_page_runs_a_voice_test_call_within_the_policy(
    page: Page, violations: list[str], receiver: HTTPServer
) -> None:
    worker = StandInWorker(receiver)
    try:
        membership = MembershipFactory(role=Role.MEMBER, team__name="Acme")
        document = AgentConfiguration.model_validate({"llm": {"model": "m"}}).as_document()
        agent = AgentFactory(team=membership.team, name="Order desk", configuration=document)
        sign_in(page, membership.user.email)
        assert "frame-ancestors 'none'" in policy_of(page, f"/agents/{agent.id}/")
        panel = page.locator("#test-call")
        panel.get_by_role("button", name="Voice call").click()
        panel.get_by_role("button", name="Start call").click()
        expect(panel.locator("live-avatar")).to_have_attribute("data-state", "listening")
        events = page.get_by_role("region", name="Transcript and events")
        expect(events.get_by_role("list", name="Timeline")).to_be_visible()  # htmx fetched it
        panel.get_by_role("button", name="Hang up").click()
        expect(events.get_by_role("link", name="Open the recorded session")).to_be_visible()
    finally:
        worker.stop()
    assert violations == []


# The hosted page and the widget.


def test_the_hosted_page_converses_and_another_site_may_frame_it(
    page: Page, visitor: Page, violations: list[str], llm: ScriptedLLM, other_site: str
) -> None:
    agent = an_agent(llm, name="Harbour help")
    llm.will(says("Boats leave ", "at nine."), says("Every hour."))
    response = page.goto(f"/meet/{agent.id}")
    assert response is not None
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    assert "x-frame-options" not in response.headers
    converse(page, "When do boats leave?", "Boats leave at nine.")

    _Site.page = f'<!doctype html><title>Port</title><iframe src="{page.url}"></iframe>'
    visitor.goto(other_site)
    frame = visitor.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Harbour help", level=1)).to_be_visible()
    converse(frame, "And after that?", "Every hour.")
    assert violations == []


def test_the_widget_keeps_its_looks_on_a_site_with_a_strict_policy(
    visitor: Page, violations: list[str], llm: ScriptedLLM, other_site: str, live_server: Any
) -> None:
    agent = an_agent(llm, configuration={"allowed_origins": [other_site]})
    llm.will(says("Fine, thanks."))
    parley = live_server.url
    _Site.headers_sent = {  # no inline style or script at all, Parley only for the widget
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {parley}; connect-src {parley}; style-src 'self'"
        )
    }
    _Site.page = (
        '<!doctype html><html lang="en"><title>Shop</title><h1>Acme shop</h1>'
        f'<live-avatar agentid="{agent.id}"></live-avatar>'
        f'<script src="{parley}/widget/live-avatar.js"></script></html>'
    )
    visitor.goto(other_site)
    bubble = visitor.get_by_role("button", name="Open chat")
    expect(bubble).to_be_visible()
    # The widget's own stylesheet applies: a round bubble, fixed in the corner.
    assert bubble.evaluate("b => getComputedStyle(b).borderRadius") == "50%"
    assert bubble.evaluate("b => getComputedStyle(b).position") == "fixed"
    bubble.click()  # opens the chat, and starts it
    converse(visitor, "How are you?", "Fine, thanks.", start=False)
    assert violations == []


# The API docs: Swagger UI from Parley's own static files.


@pytest.mark.parametrize("path", ["/v1/docs", "/api/v1/docs"])
def test_the_api_docs_render_from_parleys_own_files(
    page: Page, violations: list[str], live_server: Any, path: str
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    assert "frame-ancestors 'none'" in policy_of(page, path)
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 3
    page.locator(".opblock-summary").first.click()  # an operation opens
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert [url for url in requested if not url.startswith(live_server.url)] == []
    assert violations == []
