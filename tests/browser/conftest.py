"""Browser tests: Debian's Chromium driven by Playwright against a live Parley server."""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Flags for a closed network: no background requests to Google's services at start-up.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# How long a browser test waits for what it expects (a state, a text) before failing: a safety
# net for a loaded machine, never a measure of speed (that belongs in bench/). Playwright's own
# default for expect() is 5 s.
SAFETY_MS = 30_000
expect.set_options(timeout=SAFETY_MS)

# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests make
# there are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Per module, not per session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and a test that runs later (pytest-django runs the non-browser transactional
# and database-free tests after these) may need to start a loop of its own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


# The end of a session, which the widget asks for when its page is left or closed.
SESSION_END = re.compile(r"/sessions/[0-9a-f-]+/end$")


def context_closed(context: BrowserContext) -> None:
    """Close a context at a test's end without the widget's goodbye: leaving the page ends its
    session with a keepalive request, which the test does not wait for. One sent too late for
    the route meets the live server's shut door (`tests/live_server.py`). Tests of that goodbye
    close their pages themselves."""
    context.route(SESSION_END, lambda route: route.abort())
    for page in context.pages:
        page.goto("about:blank")
    context.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(SAFETY_MS)
    page = context.new_page()
    yield page
    context_closed(context)


def sign_in(page: Page, email: str, password: str = "correct-horse-battery") -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/agents/")


def screenshot(page: Page, name: str) -> None:
    """A full-page picture for docs/screenshots/, refreshed by every browser test run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def has_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))
