"""The agent's card, /widget/agents/<id>: what the widget reads before offering a conversation,
its name for the header or why it cannot take one. The card, the hosted page and the start
itself never disagree."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from agents.models import Agent, AgentKind
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


def agent_of(cast: Cast, **fields: Any) -> Agent:
    return AgentFactory(**({"team": cast.team, "publish_status": "public"} | fields))


def card(agent_id: object, client: Client | None = None) -> Any:
    return (client or Client()).get(
        f"/widget/agents/{agent_id}", headers={"Origin": "https://shop.example"}
    )


def start(agent_id: object, client: Client | None = None) -> Any:
    body = {"agentId": str(agent_id), "mode": "chat"}
    return (client or Client()).post(
        "/v1/start-agent-session", body, content_type="application/json"
    )


def test_an_agent_that_takes_conversations_gives_its_name_to_any_site(cast: Cast) -> None:
    r = card(agent_of(cast, name="Harbour help").id)
    assert r.status_code == 200
    assert r.json() == {"name": "Harbour help"}
    assert r["Access-Control-Allow-Origin"] == "*"
    assert "no-store" in r["Cache-Control"]


def test_another_teams_draft_is_an_unknown_id(cast: Cast) -> None:
    draft = agent_of(cast, publish_status="draft", name="Secret project")
    unknown = card(uuid.uuid4())
    assert unknown.status_code == 404
    for client in (Client(), signed_in(cast.outsider)):
        r = card(draft.id, client)
        assert r.status_code == 404
        assert r.content == unknown.content
    assert card(draft.id, signed_in(cast.member)).json() == {"name": "Secret project"}


def test_a_refusal_says_why_in_the_apis_error_shape(cast: Cast) -> None:
    used = agent_of(
        cast,
        kind=AgentKind.SINGLE_USE,
        publish_status="private",
        expires_at=timezone.now() + timedelta(minutes=5),
        used_at=timezone.now(),
    )
    body = card(used.id).json()
    assert body["code"] == "gone"
    assert body["details"] == {"reason": "single_use_used"}
    assert body["error"]


def test_the_card_is_only_read(cast: Cast) -> None:
    agent = agent_of(cast)
    assert Client().post(f"/widget/agents/{agent.id}").status_code == 405
    assert Client().head(f"/widget/agents/{agent.id}").status_code == 200


def test_the_card_the_hosted_page_and_the_start_agree_in_every_state(
    cast: Cast, settings: Any
) -> None:
    """For each state an agent can be in for an anonymous visitor, the widget's card and the
    hosted page answer the status the start answers: a widget never offers a conversation the
    start refuses, nor hides one it would take."""
    settings.SESSION_ANONYMOUS_MAX_PER_AGENT = 1
    soon = timezone.now() + timedelta(minutes=5)
    single = {"kind": AgentKind.SINGLE_USE, "publish_status": "private"}
    busy = agent_of(cast, name="Busy")
    assert start(busy.id).status_code == 200  # its one place for visitors is taken
    states = {
        "public": agent_of(cast).id,
        "private": agent_of(cast, publish_status="private").id,
        "draft": agent_of(cast, publish_status="draft").id,
        "unknown": uuid.uuid4(),
        "single-use, fresh": agent_of(cast, expires_at=soon, **single).id,
        "single-use, used": agent_of(cast, expires_at=soon, used_at=timezone.now(), **single).id,
        "single-use, expired": agent_of(
            cast, expires_at=timezone.now() - timedelta(seconds=1), **single
        ).id,
        "over its limit": busy.id,
    }
    for state, agent_id in states.items():
        cache.clear()  # the start's per-minute rate is not what is compared here
        read = card(agent_id).status_code
        page = Client().get(f"/meet/{agent_id}").status_code
        started = start(agent_id).status_code
        assert read == page == started, f"{state}: card {read}, page {page}, start {started}"


@pytest.mark.parametrize("agent_id", ["not-an-id", "é\u202e🙂", "1" * 500, "%00"])
def test_a_malformed_id_is_an_unknown_agent_in_the_apis_error_shape(agent_id: str) -> None:
    response = card(agent_id)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["error"]
