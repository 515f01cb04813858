"""The hosted page, /meet/<agent_id>: who may see which agent, and the pages a visitor reads
instead when a link is wrong, another team's draft, used or expired."""

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory
from tests.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db

USED = "This link has been used"
EXPIRED = "This link has expired"
NOT_AVAILABLE = "This agent is not available"


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


def agent_of(cast: Cast, **fields: Any) -> Agent:
    return AgentFactory(**({"team": cast.team, "publish_status": "public"} | fields))


def single_use(
    cast: Cast, *, expires_in: timedelta = timedelta(minutes=10), **fields: Any
) -> Agent:
    return agent_of(
        cast,
        kind=AgentKind.SINGLE_USE,
        publish_status="private",
        expires_at=timezone.now() + expires_in,
        **fields,
    )


def meet(agent_id: object, client: Client | None = None) -> Any:
    return (client or Client()).get(f"/meet/{agent_id}")


def text(response: Any) -> str:
    return response.content.decode()


def test_a_public_agent_has_a_page_with_its_name_and_the_widget_inline(cast: Cast) -> None:
    agent = agent_of(cast, name="Boat seller")
    r = meet(agent.id)
    assert r.status_code == 200
    page = text(r)
    assert "<title>Boat seller · Parley</title>" in page
    # The name is shown once, in the widget's header; the page's heading is for screen readers.
    assert re.search(r'<h1 class="sr-only">Boat seller</h1>', page)
    assert re.findall(r">Boat seller<", page) == [">Boat seller<"]
    assert (
        f'<live-avatar class="block min-h-0 flex-1" agentid="{agent.id}" title="Boat seller" '
        'position="inline" modes="chat voice" '
        'data-endpoint="http://testserver/v1/start-agent-session"></live-avatar>'
    ) in page
    assert re.search(r'<script src="/widget/live-avatar.js" nonce="[^"]+"></script>', page)
    assert 'aria-label="Main"' not in page  # not the dashboard's layout


def test_the_page_offers_a_video_call_when_the_agent_has_a_face(cast: Cast) -> None:
    document = AgentConfiguration.model_validate(
        {"video": {"provider": "image", "character_id": "c1"}}
    ).as_document()
    agent = agent_of(cast, configuration=document)
    widget = re.search(r"<live-avatar [^>]*>", text(meet(agent.id)))
    assert widget
    assert 'modes="chat video"' in widget[0]
    assert " mode=" not in widget[0]  # chat first, as before


def test_the_agents_name_is_escaped_in_the_widgets_title(cast: Cast) -> None:
    agent = agent_of(cast, name='Boats "R" <us>')
    assert 'title="Boats &quot;R&quot; &lt;us&gt;"' in text(meet(agent.id))


def test_a_private_agent_has_a_page_too(cast: Cast) -> None:
    agent = agent_of(cast, publish_status="private", name="Back office")
    r = meet(agent.id)
    assert r.status_code == 200
    assert "Back office" in text(r)


def test_an_unknown_id_is_not_found(cast: Cast) -> None:
    for agent_id in (uuid.uuid4(), "not-an-id"):
        r = meet(agent_id)
        assert r.status_code == 404
        assert NOT_AVAILABLE in text(r)
        assert "<live-avatar" not in text(r)


def test_another_teams_draft_is_not_found_exactly_like_an_unknown_id(cast: Cast) -> None:
    draft = agent_of(cast, publish_status="draft", name="Secret project")
    unknown = meet(uuid.uuid4())
    for client in (Client(), signed_in(cast.outsider)):
        r = meet(draft.id, client)
        assert r.status_code == 404
        assert "Secret project" not in text(r)
        assert r.content == unknown.content


def test_the_teams_own_draft_opens_for_a_signed_in_member(cast: Cast) -> None:
    draft = agent_of(cast, publish_status="draft", name="Work in progress")
    r = meet(draft.id, signed_in(cast.member))
    assert r.status_code == 200
    assert "Work in progress" in text(r)
    assert 'data-csrf-token="' in text(r)


def test_anonymous_visitors_get_no_csrf_token_or_cookie(cast: Cast) -> None:
    r = meet(agent_of(cast).id)
    assert "data-csrf-token" not in text(r)
    assert "csrftoken" not in r.cookies


def test_a_signed_in_person_starts_the_conversation_with_the_pages_csrf_token(
    cast: Cast, receiver: HTTPServer
) -> None:
    """A signed-in person's browser sends their session cookie with the widget's start, which
    the API then checks for CSRF: the page hands the widget the token to send."""
    llm = ScriptedLLM(receiver)
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "m", "first_message": "Hi!"}}
    ).as_document()
    draft = agent_of(cast, publish_status="draft", configuration=document)
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.member)
    page = text(meet(draft.id, client))
    token = re.search(r'data-csrf-token="([^"]+)"', page)
    assert token
    body = {"agentId": str(draft.id), "mode": "chat"}
    start = "/v1/start-agent-session"
    refused = client.post(start, body, content_type="application/json")
    assert refused.status_code == 403  # the cookie without the token
    headers = {"X-CSRFToken": token.group(1)}
    started = client.post(start, body, content_type="application/json", headers=headers)
    assert started.status_code == 200
    assert started.json()["firstMessage"] == "Hi!"


def test_a_fresh_single_use_link_opens(cast: Cast) -> None:
    agent = single_use(cast, name="Your appointment")
    r = meet(agent.id)
    assert r.status_code == 200
    assert "Your appointment" in text(r)
    assert "<live-avatar" in text(r)


def test_a_used_single_use_link_is_gone_with_the_used_page(cast: Cast) -> None:
    agent = single_use(cast, used_at=timezone.now())
    r = meet(agent.id)
    assert r.status_code == 410
    assert USED in text(r)
    assert "<live-avatar" not in text(r)


def test_a_single_use_link_shows_the_used_page_once_its_conversation_has_started(
    cast: Cast, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver)
    document = AgentConfiguration.model_validate({"llm": {"custom_url": llm.base_url}})
    agent = single_use(cast, configuration=document.as_document())
    assert meet(agent.id).status_code == 200
    started = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
    )
    assert started.status_code == 200
    r = meet(agent.id)
    assert r.status_code == 410
    assert USED in text(r)


def test_an_expired_single_use_link_is_gone_with_the_expired_page(cast: Cast) -> None:
    agent = single_use(cast, expires_in=timedelta(seconds=-1))
    r = meet(agent.id)
    assert r.status_code == 410
    assert EXPIRED in text(r)
    assert USED not in text(r)


def test_an_agent_over_its_limit_says_so_instead_of_offering_a_conversation(
    cast: Cast, settings: Any
) -> None:
    """The start would be refused (sessions.limits): the page says why, in the limit's words,
    rather than a Start button that can only fail."""
    settings.SESSION_ANONYMOUS_MAX_PER_AGENT = 1
    agent = agent_of(cast, name="Harbour help")
    assert meet(agent.id).status_code == 200
    started = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
    )
    assert started.status_code == 200
    r = meet(agent.id)
    assert r.status_code == 429
    assert "This agent cannot take a conversation right now" in text(r)
    assert "as many conversations with visitors running as it may have" in text(r)
    assert "<live-avatar" not in text(r)
    # The team's own members start as the team, not as visitors: the page opens for them.
    assert meet(agent.id, signed_in(cast.member)).status_code == 200


def test_the_page_is_never_cached_nor_indexed(cast: Cast) -> None:
    r = meet(single_use(cast).id)
    assert "no-store" in r["Cache-Control"]
    assert '<meta name="robots" content="noindex">' in text(r)


def test_pages_fit_a_phone_and_load_nothing_from_elsewhere(cast: Cast) -> None:
    """375 px wide: the viewport follows the device, long names wrap, nothing has a fixed
    width; every script and stylesheet comes from Parley itself."""
    agent = agent_of(cast, name="A" * 200)
    used = single_use(cast, used_at=timezone.now())
    for r in (meet(agent.id), meet(uuid.uuid4()), meet(used.id)):
        page = text(r)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert not re.search(r"\bw-\[\d+px\]|\bmin-w-\[\d+px\]|style=\"[^\"]*width", page)
        for address in re.findall(r'(?:src|href)="([^"]*)"', page):
            assert address.startswith("/"), address
    assert re.search(r'<h1 class="sr-only">A{200}</h1>', text(meet(agent.id)))


def test_the_page_is_only_read(cast: Cast) -> None:
    agent = agent_of(cast)
    assert Client().post(f"/meet/{agent.id}").status_code == 405
    assert Client().head(f"/meet/{agent.id}").status_code == 200
