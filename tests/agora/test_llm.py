"""Agora calling the agent's LLM: the `llm.url` and `llm.api_key` of the join, used exactly as
Agora's custom-LLM calls use them, answer as the agent and record into the session that started
the call, and into no other."""

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from pytest_httpserver import HTTPServer

from agents.models import Agent
from agora.models import AgoraAccount
from completions.services import session_llm_key_issue
from sessions.models import EventKind, Session
from sessions.services import session_end
from tests.conftest import Cast
from tests.factories import AgentFactory, SessionFactory
from tests.llm_server import ScriptedLLM, says

from .agora_standin import AgoraStandIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


@pytest.fixture
def llm_agent(agent: Agent, llm: ScriptedLLM) -> Agent:
    agent.configuration["llm"] |= {"custom_url": llm.base_url, "system_prompt": "You are Ada."}
    agent.save()
    return agent


def join_llm(agent: Agent) -> tuple[Session, str, str]:
    """Start a call; what Agora was told: the session, llm.url's path and llm.api_key."""
    r = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "voice"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return Session.objects.get(id=r.json()["sessionId"]), *_llm_of_join()


def _llm_of_join() -> tuple[str, str]:
    from .conftest import STANDIN

    llm = STANDIN[0].seen("POST", "/join")[-1].body["properties"]["llm"]
    return llm["url"].removeprefix("https://parley.example.com"), llm["api_key"]


def agora_call(path: str, key: str, text: str, stream: bool = True) -> Any:
    """Shaped like Agora's request: history with turn_id and timestamp, stream, its params."""
    messages = [
        {"role": "assistant", "content": "Hello, Ada here.", "turn_id": 0, "timestamp": 1},
        {"role": "user", "content": text, "turn_id": 1, "timestamp": 2},
    ]
    body = {"model": "parley-agent", "messages": messages, "stream": stream}
    return Client().post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


async def _read(response: Any) -> str:
    return b"".join([chunk async for chunk in response.streaming_content]).decode()


def said(session: Session) -> list[tuple[str, str]]:
    events = session.events.filter(kind=EventKind.MESSAGE).order_by("seq")
    return [(e.data["role"], e.data["content"]) for e in events]


def test_agoras_llm_calls_record_into_the_session_that_started_the_call(
    llm_agent: Agent, llm: ScriptedLLM, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    session, path, key = join_llm(llm_agent)
    llm.will(says("It is ", "sunny."), says("Goodbye!"))
    r = agora_call(path, key, "Weather?")
    assert r.status_code == 200
    assert r["content-type"] == "text/event-stream"
    chunks = async_to_sync(_read)(r)
    assert "sunny." in chunks
    assert chunks.rstrip().endswith("data: [DONE]")
    r = agora_call(path, key, "Bye", stream=False)
    assert r.json()["choices"][0]["message"]["content"] == "Goodbye!"
    assert Session.objects.count() == 1
    assert said(session) == [
        ("user", "Weather?"),
        ("assistant", "It is sunny."),
        ("user", "Bye"),
        ("assistant", "Goodbye!"),
    ]
    assert llm.requests[0]["messages"][0] == {"role": "system", "content": "You are Ada."}


def test_the_session_secret_is_refused_for_another_agent_and_once_it_ended(
    llm_agent: Agent, llm: ScriptedLLM, account: AgoraAccount, standin: AgoraStandIn, cast: Cast
) -> None:
    session, path, key = join_llm(llm_agent)
    other = AgentFactory(team=cast.team)
    r = agora_call(f"/v1/agents/{other.id}/chat/completions", key, "hi", stream=False)
    assert r.status_code == 401
    session_end(session=session, reason="done")
    r = agora_call(path, key, "hi", stream=False)
    assert r.status_code == 410
    assert r.json()["error"]["message"] == "The session this key was made for has ended."


@pytest.mark.parametrize("key", ["sl_", "sl_garbage", "sl_" + "a" * 200])
def test_a_forged_session_secret_is_a_401(agent: Agent, key: str) -> None:
    r = agora_call(f"/v1/agents/{agent.id}/chat/completions", key, "hi", stream=False)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


def test_a_session_secret_of_a_session_whose_agent_was_deleted_is_a_401(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    session = SessionFactory(team=cast.team, agent=agent)
    key = session_llm_key_issue(session=session)
    path = f"/v1/agents/{agent.id}/chat/completions"
    agent.delete()
    assert agora_call(path, key, "hi", stream=False).status_code == 401
