"""When an agent's LLM is the local model and its server cannot take the turn (nothing listens,
llama.cpp is loading, or `manage.py localllm` could not load the model): the turn fails at once
with `local_llm_unavailable`, the sender is told in words that name no address, the timeline
says what to do, and the messages API answers 503 with Retry-After. Real loopback servers: none
at all, llama.cpp's loading answer, localllm's own refusal, and the scripted LLM."""

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer

from agents.configuration import DEFAULT_FAILURE_MESSAGE, AgentConfiguration
from agents.models import Agent
from localllm.services import local_llm_refusal_start
from sessions.engine import (
    LOCAL_BROKEN,
    LOCAL_DOWN,
    LOCAL_LLM_UNAVAILABLE,
    LOCAL_LOADING,
    Turn,
    session_turn,
)
from sessions.models import EventKind, Session, SessionType
from sessions.services import session_create
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory
from tests.llm_server import Script, ScriptedLLM
from tests.localllm.stand_in import loading_llama
from tests.loopback import free_port

pytestmark = pytest.mark.django_db

CAUSE = "The local model /srv/models/gone.gguf cannot be read (No such file or directory)."


def on_local(settings: Any, url: str, **llm: Any) -> Agent:
    """A public agent on the `local` provider, which this install reaches at `url`."""
    settings.LOCAL_LLM_URL = url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": url}}
    document = AgentConfiguration.model_validate(
        {"llm": {"provider": "local", "model": "local", "first_message": "", **llm}}
    ).as_document()
    return AgentFactory(publish_status="public", configuration=document)


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


class Heard:
    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def text(self, piece: str) -> None:
        self.pieces.append(piece)

    async def tool_started(self, call: Any) -> None:
        return None

    async def tool_finished(self, call: Any, run: Any) -> None:
        return None


def turn(agent: Agent, heard: Heard | None = None) -> tuple[Turn, Session]:
    session = session_create(agent=agent, type=SessionType.CHAT)
    done = async_to_sync(session_turn)(session=session, content="Hello?", listener=heard)
    return done, session


def errors(session: Session) -> list[dict[str, Any]]:
    return [e.data for e in session.events.filter(kind=EventKind.ERROR).order_by("seq")]


def said(session: Session) -> list[tuple[str, str]]:
    events = session.events.filter(kind=EventKind.MESSAGE).order_by("seq")
    return [(e.data["role"], e.data["content"]) for e in events]


# The engine.


def test_no_server_fails_the_turn_saying_it_is_not_running(settings: Any) -> None:
    url = nowhere()
    heard = Heard()
    done, session = turn(on_local(settings, url), heard)
    assert (done.failed, done.error_code, done.error) == (True, LOCAL_LLM_UNAVAILABLE, LOCAL_DOWN)
    assert heard.pieces == [DEFAULT_FAILURE_MESSAGE]
    assert said(session) == [("user", "Hello?"), ("assistant", DEFAULT_FAILURE_MESSAGE)]
    [error] = errors(session)
    assert error["code"] == LOCAL_LLM_UNAVAILABLE
    assert f"does not answer at {url}" in error["message"]
    assert "`manage.py localllm` (the Procfile's llm process)" in error["message"]


def test_the_test_calls_timeline_shows_the_team_what_to_do(cast: Cast, settings: Any) -> None:
    # The agent page's test call shows the session's timeline beside the chat.
    url = nowhere()
    agent = on_local(settings, url)
    agent.team = cast.team
    agent.save()
    _, session = turn(agent)
    timeline = reverse("conversations:timeline", args=[session.id])
    shown = signed_in(cast.viewer).get(timeline).content.decode()
    assert '<code class="badge badge-red">local_llm_unavailable</code>' in shown
    assert f"does not answer at {url}" in shown
    assert "`manage.py localllm` (the Procfile&#x27;s llm process)" in shown


def test_a_loading_model_fails_the_turn_saying_to_try_again(settings: Any) -> None:
    with loading_llama(free_port()) as url:
        done, session = turn(on_local(settings, url))
    assert (done.error_code, done.error) == (LOCAL_LLM_UNAVAILABLE, LOCAL_LOADING)
    [error] = errors(session)
    assert error["message"] == (
        f"The local model's server at {url} is still loading the model: messages are answered "
        "once it has."
    )


def test_a_model_that_could_not_load_fails_the_turn_with_its_cause(settings: Any) -> None:
    port = free_port()
    refusal = local_llm_refusal_start(host="127.0.0.1", port=port, reason=CAUSE)
    try:
        done, session = turn(on_local(settings, f"http://127.0.0.1:{port}/v1"))
    finally:
        refusal.shutdown()
        refusal.server_close()
    assert (done.error_code, done.error) == (LOCAL_LLM_UNAVAILABLE, LOCAL_BROKEN)
    assert "gone.gguf" not in done.error
    [error] = errors(session)
    assert error["message"] == (
        f"The local model's server at http://127.0.0.1:{port}/v1 cannot serve: {CAUSE}"
    )


def test_a_local_server_that_answers_and_fails_is_an_ordinary_llm_failure(
    settings: Any, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver).will(Script(status=500, error="out of memory"))
    done, session = turn(on_local(settings, llm.base_url))
    assert done.error_code == "llm_http_error"
    assert errors(session)[0]["message"].startswith("The LLM failed: it answered 500")


def test_another_provider_with_no_server_is_an_ordinary_llm_failure(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": nowhere(), "model": "m", "first_message": ""}}
    ).as_document()
    done, _ = turn(AgentFactory(configuration=document))
    assert done.error_code == "llm_unreachable"


# The messages API.


def started(agent: Agent) -> tuple[str, str]:
    body = (
        Client()
        .post(
            "/v1/start-agent-session",
            {"agentId": str(agent.id), "mode": "chat"},
            content_type="application/json",
        )
        .json()
    )
    return body["sessionId"], body["sessionToken"]


def send(agent: Agent, **headers: str) -> Any:
    session_id, token = started(agent)
    return Client().post(
        f"/api/v1/sessions/{session_id}/messages",
        {"content": "Hello?"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"} | headers,
    )


def test_the_json_answer_is_503_with_the_code_and_retry_after(settings: Any) -> None:
    url = nowhere()
    answer = send(on_local(settings, url))
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    body = answer.json()
    assert (body["success"], body["code"], body["error"]) == (
        False,
        LOCAL_LLM_UNAVAILABLE,
        LOCAL_DOWN,
    )
    assert body["message"]["content"] == DEFAULT_FAILURE_MESSAGE
    assert body["message"]["failed"] is True
    assert url.split("//")[1].split("/")[0] not in answer.content.decode()  # no address


def test_the_stream_says_the_code_in_its_error_event(settings: Any) -> None:
    answer = send(on_local(settings, nowhere()), Accept="text/event-stream")
    assert answer.status_code == 200  # the stream began before the turn failed

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in answer.streaming_content])

    blocks = async_to_sync(collect)().decode().strip().split("\n\n")
    events = [(b.split("\n")[0][7:], json.loads(b.split("\n")[1][6:])) for b in blocks]
    assert [name for name, _ in events] == ["token", "error", "done"]
    assert events[1][1] == {"code": LOCAL_LLM_UNAVAILABLE, "message": LOCAL_DOWN}


def test_other_failures_still_answer_200(settings: Any, receiver: HTTPServer) -> None:
    llm = ScriptedLLM(receiver).will(Script(status=500, error="out of memory"))
    answer = send(on_local(settings, llm.base_url))
    assert answer.status_code == 200
    assert "Retry-After" not in answer
    assert (answer.json()["success"], answer.json()["code"]) == (False, "llm_http_error")
