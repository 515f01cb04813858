"""Every page of the dashboard, as people see it: generated from the URL conf, so that a new page
is covered the day it is added.

Each page that answers GET is rendered for the team's owner, with a little of everything made
(tests/test_isolation_matrix.py's objects, and a session with messages, tool calls and errors),
whole and as its HTMX fragment; the pages before signing in are rendered for an anonymous
visitor. None may fail (5xx), and none may show what only a template should hold: a comment or
a tag that leaked because it was split over lines or mistyped ({#, #}, {% or {{), "0 minutes
ago", or a page without its icon."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from sessions.models import EventKind
from sessions.services import session_event_append

from .conftest import Cast, signed_in
from .test_isolation_matrix import PATH_VALUES, World, _world, params, routes

pytestmark = pytest.mark.django_db

# Not the dashboard's pages: the APIs (JSON; tests/test_openapi_fuzz.py and the isolation matrix),
# Django's admin, and the widget's script.
NOT_PAGES = ("v1/", "api/v1/", "^", "admin/", "widget/")
# Pages for people who have not signed in (or have no account yet).
ANONYMOUS = ("accounts/", "signup/", "invitations/", "meet/")
# Path parameters that are no object of the team: a value that reaches the page's own answer.
OTHER_VALUES: dict[str, Callable[[World], object]] = {
    "kind": lambda w: "ollama",
    "token": lambda w: "not-a-real-token",
    "uidb64": lambda w: "MQ",
}
LEAKS = re.compile(r"\{#|#\}|\{%|\{\{")
# Text a page must not show, with what it should say instead.
WRONG_WORDING = {"0 minutes ago": "just now"}


def pages() -> list[str]:
    return [r for r in routes() if not r.startswith(NOT_PAGES)]


def url(route: str, world: World) -> str:
    values = {name: (OTHER_VALUES.get(name) or PATH_VALUES[name])(world) for name in params(route)}
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), route)


def seeded(cast: Cast) -> World:
    """The isolation matrix's objects, with a session that has one event of each kind, its tool
    result stored as the text the runtime stores."""
    world = _world(cast)
    for kind, data in [
        (EventKind.MESSAGE, {"role": "user", "content": "Weather in Paris?"}),
        (
            EventKind.TOOL_CALL,
            {
                "tool_name": "get_weather",
                "arguments": {"city": "Paris"},
                "result": '{"city":"Paris","temperature_c":21}',
                "duration_ms": 120,
                "outcome": "success",
            },
        ),
        (EventKind.MESSAGE, {"role": "assistant", "content": "21 °C.", "ttft_ms": 300}),
        (EventKind.ERROR, {"code": "tts", "message": "The voice stopped."}),
        (EventKind.METRIC, {"tokens_in": 812}),
    ]:
        session_event_append(session=world.session, kind=kind, data=data)
    return world


def problems(response: Any) -> list[str]:
    """What is wrong with one rendered page, in words."""
    if response.status_code >= 500:
        return [f"answered {response.status_code}"]
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return []
    html = response.content.decode()
    found = [
        f"shows template syntax: …{html[m.start() - 60 : m.end() + 60]!r}…"
        for m in LEAKS.finditer(_visible(html))
    ]
    found += [
        f"says {wrong!r}, not {right!r}" for wrong, right in WRONG_WORDING.items() if wrong in html
    ]
    if "<head>" in html and 'rel="icon"' not in html:
        found.append("has no icon: the browser asks for /favicon.ico, which is not found")
    return found


def _visible(html: str) -> str:
    """The page without its scripts and styles, whose code may hold braces of its own."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)


def test_the_crawl_finds_the_pages() -> None:
    found = pages()
    for page in ("sessions/<uuid:session_id>/", "agents/<uuid:agent_id>/", "providers/", "signup/"):
        assert page in found
    assert len(found) > 40  # the walk did not silently come back short


def test_every_page_renders_without_template_syntax_or_failure(cast: Cast) -> None:
    world = seeded(cast)
    owner = signed_in(cast.owner)
    htmx = signed_in(cast.owner)
    htmx.defaults["HTTP_HX_REQUEST"] = "true"
    failures, rendered = [], 0
    for route in pages():
        address = url(route, world)
        clients = {"anonymous": Client()} if route.startswith(ANONYMOUS) else {}
        clients |= {"owner": owner, "owner with HTMX": htmx}
        for who, client in clients.items():
            response = client.get(address)
            rendered += response.status_code == 200
            failures += [f"GET {address} ({who}) {p}" for p in problems(response)]
    assert not failures, "\n".join(failures)
    assert rendered > 40  # most pages answered with a page: the crawl looked at something


class _Page:
    """A response as problems() reads it."""

    status_code = 200

    def __init__(self, body: str) -> None:
        self.content = f'<!doctype html><head><link rel="icon"></head>{body}'.encode()

    def get(self, name: str, default: str = "") -> str:
        return "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "body",
    [
        "<p>Timeline</p>{# The events alone, also fetched by the agent page's test call:",
        "<p>{{ session.pk }}</p>",
        "<p>{% endif %}</p>",
        "<time>0 minutes ago</time>",
    ],
)
def test_the_check_sees_a_leak(body: str) -> None:
    assert len(problems(_Page(body))) == 1
    assert problems(_Page("<script>if (a) {{}}</script><p>A page</p>")) == []


def test_the_icon_the_pages_link_is_a_static_file(cast: Cast) -> None:
    html = signed_in(cast.owner).get("/agents/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert href is not None
    assert href[1].startswith(settings.STATIC_URL)
    assert finders.find(href[1].split(settings.STATIC_URL, 1)[1]) is not None


def test_favicon_ico_leads_to_the_icon_for_pages_that_link_none(client: Client) -> None:
    """The admin and the API docs link no icon, so browsers ask for /favicon.ico."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == settings.STATIC_URL + "favicon.svg"
