"""Sessions pin the agent version they run: the published one for everyone, a draft or an
older version only for the team's signed-in test call; the conversation runs the pinned one."""

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_httpserver import HTTPServer

from activity.services import SYSTEM
from agents.models import Agent
from agents.services import agent_update
from sessions.models import Session, SessionType
from sessions.selectors import session_configuration
from sessions.services import session_create
from tests.conftest import Cast, signed_in
from tests.llm_server import ScriptedLLM
from tests.sessions.test_api import an_agent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def _with_draft(cast: Cast, llm: ScriptedLLM) -> Agent:
    """A public agent under review: version 1 published ("Published hello."), version 2 a
    draft ("Draft hello.")."""
    agent = an_agent(cast, llm, configuration={"llm": {"first_message": "Published hello."}})
    agent_update(agent=agent, actor=SYSTEM, changes={"publish_mode": "review"})
    draft = {"configuration": {"llm": {"first_message": "Draft hello."}}}
    agent_update(agent=agent, actor=SYSTEM, changes=draft)
    agent.refresh_from_db()
    assert (agent.published_version.number, agent.draft_version.number) == (1, 2)
    return agent


def _start(client: Client, agent: Agent, query: str = "", **headers: str) -> Any:
    return client.post(
        f"/v1/start-agent-session{query}",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
        headers=headers,
    )


def test_a_session_pins_the_published_version(cast: Cast, llm: ScriptedLLM) -> None:
    agent = _with_draft(cast, llm)
    session = session_create(agent=agent, type=SessionType.CHAT)
    assert session.agent_version == agent.published_version


@pytest.mark.parametrize("who", ["visitor", "key", "member"])
def test_a_draft_never_reaches_a_start_that_does_not_ask_for_it(
    cast: Cast, llm: ScriptedLLM, who: str
) -> None:
    agent = _with_draft(cast, llm)
    client = {
        "visitor": Client(),
        "key": Client(headers={"x-api-key": cast.key.secret}),
        "member": signed_in(cast.member),
    }[who]
    r = _start(client, agent)
    assert r.status_code == 200
    assert r.json()["firstMessage"] == "Published hello."
    assert Session.objects.get(id=r.json()["sessionId"]).agent_version.number == 1


def test_the_test_call_runs_the_draft_it_asks_for(cast: Cast, llm: ScriptedLLM) -> None:
    agent = _with_draft(cast, llm)
    r = _start(signed_in(cast.viewer), agent, "?version=2")
    assert r.status_code == 200
    assert r.json()["firstMessage"] == "Draft hello."
    session = Session.objects.get(id=r.json()["sessionId"])
    assert session.agent_version.number == 2
    assert session_configuration(session=session)["llm"]["first_message"] == "Draft hello."


@pytest.mark.parametrize("who", ["visitor", "key", "outsider"])
def test_only_the_teams_signed_in_members_may_ask_for_a_version(
    cast: Cast, llm: ScriptedLLM, who: str
) -> None:
    agent = _with_draft(cast, llm)
    client = {
        "visitor": Client(),
        "key": Client(headers={"x-api-key": cast.key.secret}),
        "outsider": signed_in(cast.outsider),
    }[who]
    assert _start(client, agent, "?version=2").status_code == 403
    assert not Session.objects.exists()


def test_an_unknown_version_is_not_found(cast: Cast, llm: ScriptedLLM) -> None:
    agent = _with_draft(cast, llm)
    assert _start(signed_in(cast.member), agent, "?version=9").status_code == 404
