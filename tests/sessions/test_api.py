"""The session APIs end to end: iwy's start, Agent Human's start, messages (JSON and server-sent
events) and end, and the session list, against the scripted LLM and a real webhook receiver."""

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from sessions.models import EventKind, Session, SessionStatus
from sessions.services import session_end, session_event_append
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory
from tests.http import post
from tests.llm_server import ScriptedLLM, calls, says
from voice.models import VoiceWorker

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def an_agent(cast: Cast, llm: ScriptedLLM, **fields: Any) -> Agent:
    configuration = fields.pop("configuration", {})
    llm_config = {"custom_url": llm.base_url, "model": "m", "first_message": "Hi! Ask me."}
    document = AgentConfiguration.model_validate(
        {"llm": llm_config | configuration.pop("llm", {}), **configuration}
    ).as_document()
    defaults = {"team": cast.team, "publish_status": "public", "configuration": document}
    return AgentFactory(**(defaults | fields))


def start(client: Client, agent: Agent, **headers: str) -> Any:
    return client.post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
        headers=headers,
    )


def send(session_id: str, content: str, auth: str, **headers: str) -> Any:
    return Client().post(
        f"/api/v1/sessions/{session_id}/messages",
        {"content": content},
        content_type="application/json",
        headers={"Authorization": f"Bearer {auth}"} | headers,
    )


def read_stream(response: Any) -> str:
    """The whole body of a streamed reply (an async iterator, as the async view makes it)."""

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


# Starting: iwy's contract.


def test_anyone_can_start_a_public_agent_and_hears_its_first_message(
    cast: Cast, llm: ScriptedLLM
) -> None:
    agent = an_agent(cast, llm)
    r = start(Client(), agent)
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "chat"
    assert body["firstMessage"] == "Hi! Ask me."
    assert body["sessionToken"].startswith("st_")
    assert body["messagesUrl"].endswith(f"/api/v1/sessions/{body['sessionId']}/messages")
    assert body["endUrl"].endswith(f"/api/v1/sessions/{body['sessionId']}/end")
    session = Session.objects.get(id=body["sessionId"])
    assert session.status == SessionStatus.RUNNING
    assert session.events.filter(kind=EventKind.MESSAGE, data__content="Hi! Ask me.").exists()


def test_an_unknown_agent_is_not_found(cast: Cast) -> None:
    r = post(
        Client(),
        "/v1/start-agent-session",
        {"agentId": "6f1c0c9e-0000-4000-8000-000000000000", "mode": "chat"},
    )
    assert r.status_code == 404
    assert r.json()["error"] == "No agent with this id exists."


def test_a_draft_agent_starts_only_for_its_team(cast: Cast, llm: ScriptedLLM, api: Client) -> None:
    agent = an_agent(cast, llm, publish_status="draft")
    r = start(Client(), agent)
    # To anyone else a draft is an unknown id: its existence is not told.
    assert r.status_code == 404
    assert r.json()["error"] == "No agent with this id exists."
    assert start(Client(), agent, **{"x-api-key": cast.outsider_key.secret}).status_code == 404
    assert start(Client(), agent, **{"x-api-key": cast.key.secret}).status_code == 200


def test_parleys_own_pages_may_start_whatever_the_allowed_origins(
    cast: Cast, llm: ScriptedLLM
) -> None:
    agent = an_agent(cast, llm, configuration={"allowed_origins": ["https://shop.example.com"]})
    assert start(Client(), agent, Origin="http://testserver").status_code == 200


def test_allowed_origins_are_enforced_for_browsers(cast: Cast, llm: ScriptedLLM) -> None:
    agent = an_agent(cast, llm, configuration={"allowed_origins": ["https://shop.example.com"]})
    refused = start(Client(), agent, Origin="https://evil.example.net")
    assert refused.status_code == 403
    assert "https://evil.example.net" in refused.json()["error"]
    assert refused.json()["details"] == {"reason": "origin_not_allowed"}
    assert start(Client(), agent, Origin="https://shop.example.com").status_code == 200


def test_a_single_use_agent_starts_once(cast: Cast, llm: ScriptedLLM) -> None:
    agent = an_agent(
        cast, llm, kind=AgentKind.SINGLE_USE, expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert start(Client(), agent).status_code == 200
    again = start(Client(), agent)
    assert again.status_code == 410
    assert "already been used" in again.json()["error"]
    assert again.json()["details"] == {"reason": "single_use_used"}


def test_an_expired_single_use_agent_is_gone(cast: Cast, llm: ScriptedLLM) -> None:
    agent = an_agent(
        cast, llm, kind=AgentKind.SINGLE_USE, expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = start(Client(), agent)
    assert r.status_code == 410
    assert "expired" in r.json()["error"]
    assert r.json()["details"] == {"reason": "single_use_expired"}


def test_starts_from_one_address_are_limited(cast: Cast, llm: ScriptedLLM, settings: Any) -> None:
    settings.SESSION_STARTS_PER_ADDRESS_PER_MINUTE = 2
    agent = an_agent(cast, llm)
    # Within one minute's window: the limit counts per calendar minute.
    with time_machine.travel(timezone.now().replace(second=10), tick=False):
        assert [start(Client(), agent).status_code for _ in range(3)] == [200, 200, 429]
        assert "your address" in start(Client(), agent).json()["error"]


def test_a_teams_running_sessions_are_capped(cast: Cast, llm: ScriptedLLM, settings: Any) -> None:
    settings.SESSION_MAX_CONCURRENT_PER_TEAM = 1
    agent = an_agent(cast, llm)
    assert start(Client(), agent).status_code == 200
    r = start(Client(), agent)
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"


# Starting: Agent Human's contract.


def test_agent_human_start_answers_in_its_shape(cast: Cast, llm: ScriptedLLM, api: Client) -> None:
    agent = an_agent(cast, llm)
    body = {"agent_id": str(agent.id), "session_type": "agent_chat", "metadata": {"source": "app"}}
    r = post(api, "/api/v1/sessions", body)
    assert r.status_code == 200
    data = r.json()
    assert data["success"] is True
    assert data["message"] == "Session started successfully"
    assert data["session"]["status"] == "active"
    assert data["session"]["agent_name"] == agent.name
    assert data["session"]["metadata"] == {"source": "app"}
    assert data["session_token"].startswith("st_")


def test_agent_human_errors_say_success_false(cast: Cast, llm: ScriptedLLM, api: Client) -> None:
    agent = an_agent(cast, llm)
    no_key = post(Client(), "/api/v1/sessions", {"agent_id": str(agent.id)})
    assert no_key.status_code == 401
    assert no_key.json()["success"] is False
    voice = post(
        api, "/api/v1/sessions", {"agent_id": str(agent.id), "session_type": "agent_voice"}
    )
    assert voice.status_code == 503  # no voice worker is running
    assert voice.json()["success"] is False
    assert "voiceworker" in voice.json()["error"]


def test_agent_human_voice_sessions_are_calls_over_webrtc(
    cast: Cast, llm: ScriptedLLM, api: Client
) -> None:
    VoiceWorker.objects.create(name="w", url="http://127.0.0.1:9", capacity=1)
    agent = an_agent(cast, llm)
    body = {"agent_id": str(agent.id), "session_type": "agent_video"}
    started = post(api, "/api/v1/sessions", body)
    assert started.status_code == 200, started.content
    shape = started.json()
    assert shape["session"]["session_type"] == "agent_video"
    assert shape["offer_url"].endswith(f"/v1/sessions/{shape['session']['session_id']}/webrtc")
    assert shape["ice_servers"] == []
    assert shape["session_token"].startswith("st_")


# Talking.


def started(cast: Cast, llm: ScriptedLLM, **fields: Any) -> tuple[str, str]:
    body = start(Client(), an_agent(cast, llm, **fields)).json()
    return body["sessionId"], body["sessionToken"]


def test_a_message_gets_the_reply(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, token = started(cast, llm)
    llm.will(says("Sunny ", "today."))
    r = send(session_id, "Weather?", token)
    assert r.status_code == 200
    assert r.json()["success"] is True
    assert r.json()["message"]["content"] == "Sunny today."
    assert r.json()["message"]["failed"] is False


def test_a_reply_streams_as_server_sent_events_with_tool_calls(
    cast: Cast, llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    receiver.expect_request("/weather").respond_with_json({"temp_c": 18})
    tool = ToolFactory(team=cast.team, name="get_weather", server_url=receiver.url_for("/weather"))
    session_id, token = started(
        cast, llm, configuration={"tool_calling": {"selected_tool_ids": [str(tool.id)]}}
    )
    llm.will(calls(("get_weather", {"city": "Paris"})), says("It is ", "18 °C."))
    r = send(session_id, "Paris?", token, Accept="text/event-stream")
    assert r.status_code == 200
    assert r["Content-Type"] == "text/event-stream"
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in read_stream(r).strip().split("\n\n")
    ]
    assert [name for name, _ in events] == [
        "tool_call_started",
        "tool_call_finished",
        "token",
        "token",
        "done",
    ]
    assert events[1][1]["outcome"] == "success"
    assert [data["text"] for name, data in events if name == "token"] == ["It is ", "18 °C."]
    assert events[-1][1]["message"]["content"] == "It is 18 °C."


def test_the_team_key_may_talk_too(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, _ = started(cast, llm)
    assert send(session_id, "Hi", cast.key.secret).status_code == 200


@pytest.mark.parametrize(
    ("auth", "status"),
    [("st_forged", 403), ("pk_live_unknown", 401), ("", 401)],
)
def test_talking_needs_the_sessions_token_or_key(
    cast: Cast, llm: ScriptedLLM, auth: str, status: int
) -> None:
    session_id, _ = started(cast, llm)
    r = send(session_id, "Hi", auth)
    assert r.status_code == status
    assert r.json()["success"] is False


def test_another_sessions_token_does_not_open_this_one(cast: Cast, llm: ScriptedLLM) -> None:
    first, _ = started(cast, llm)
    _, other_token = started(cast, llm)
    assert send(first, "Hi", other_token).status_code == 403


def test_another_teams_key_finds_no_session(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, _ = started(cast, llm)
    assert send(session_id, "Hi", cast.outsider_key.secret).status_code == 404


def test_an_empty_message_is_refused(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, token = started(cast, llm)
    r = send(session_id, "  ", token)
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "content"


def test_a_message_while_the_agent_answers_is_refused(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, token = started(cast, llm)
    Session.objects.filter(id=session_id).update(replying_since=timezone.now())
    r = send(session_id, "Hello?", token)
    assert r.status_code == 409
    assert "still answering" in r.json()["error"]


def test_a_message_that_finds_no_database_connection_is_answered_503(
    cast: Cast, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, token = started(cast, llm)

    def exhausted(**kwargs: Any) -> None:
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr("sessions.streaming.session_turn_begin", exhausted)
    r = send(session_id, "Hello?", token)
    assert r.status_code == 503
    assert r["Retry-After"] == "1"
    assert r.json()["code"] == "busy"
    assert "send it again" in r.json()["error"]


def test_messages_are_posted(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, token = started(cast, llm)
    r = Client().get(
        f"/api/v1/sessions/{session_id}/messages", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 405
    assert r["Allow"] == "POST"


# Ending.


def test_ending_answers_completed_with_the_transcript(cast: Cast, llm: ScriptedLLM) -> None:
    session_id, token = started(cast, llm)
    llm.will(says("Sunny."))
    send(session_id, "Weather?", token)
    r = Client().put(
        f"/api/v1/sessions/{session_id}/end",
        {"metadata": {"end_reason": "user_initiated"}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    data = r.json()
    assert data["message"] == "Session ended successfully"
    assert data["session"]["status"] == "completed"
    assert (
        data["session"]["transcript"] == "Assistant: Hi! Ask me.\nUser: Weather?\nAssistant: Sunny."
    )
    session = Session.objects.get(id=session_id)
    assert session.status == SessionStatus.STOPPED
    assert session.end_reason == "user_initiated"
    after = send(session_id, "Still there?", token)
    assert after.status_code == 409
    assert "ended" in after.json()["error"]


OTHER_END = {"duration": 7, "transcript": "User: later", "metadata": {"end_reason": "again"}}


@pytest.mark.parametrize(
    "first_body",
    [
        {},
        {"duration": 42},
        {"transcript": "User: Hello\nAssistant: Hi there!"},
        {"metadata": {"end_reason": "user_initiated"}},
        {"duration": 0, "transcript": "", "metadata": {"satisfaction_score": 5}},
    ],
)
def test_a_repeated_end_answers_what_the_first_answered(
    cast: Cast, llm: ScriptedLLM, api: Client, first_body: dict[str, Any]
) -> None:
    session_id, token = started(cast, llm)
    first = post(api, f"/api/v1/sessions/{session_id}/end", first_body)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        again = [
            post(api, f"/api/v1/sessions/{session_id}/end", OTHER_END),
            Client().put(
                f"/api/v1/sessions/{session_id}/end",
                {},
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            ),
        ]
    assert first.status_code == 200
    assert [r.json() for r in again] == [first.json(), first.json()]
    for field in ("duration", "transcript"):
        if field in first_body:
            assert first.json()["session"][field] == first_body[field]


def test_an_end_after_another_ending_answers_the_session_as_it_ended(
    cast: Cast, llm: ScriptedLLM, api: Client
) -> None:
    # Ended by the idle sweep, say; a reply that was under way is recorded afterwards.
    session_id, _ = started(cast, llm)
    session = Session.objects.get(id=session_id)
    session_end(session=session, reason="idle_timeout")
    session_event_append(
        session=session, kind=EventKind.MESSAGE, data={"role": "assistant", "content": "Late."}
    )
    first = post(api, f"/api/v1/sessions/{session_id}/end", {})
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        second = post(api, f"/api/v1/sessions/{session_id}/end", OTHER_END)
    assert first.json()["session"]["transcript"] == "Assistant: Hi! Ask me."
    assert second.json() == first.json()
    assert Session.objects.get(id=session_id).end_reason == "idle_timeout"


def test_the_ends_metadata_is_merged_into_the_sessions_as_agent_human_answers_it(
    cast: Cast, llm: ScriptedLLM, api: Client
) -> None:
    agent = an_agent(cast, llm)
    body = {"agent_id": str(agent.id), "metadata": {"source": "web_app", "device": "desktop"}}
    session_id = post(api, "/api/v1/sessions", body).json()["session"]["session_id"]
    end = {"metadata": {"end_reason": "user_initiated", "satisfaction_score": 5, "device": "tv"}}
    r = post(api, f"/api/v1/sessions/{session_id}/end", end)
    merged = {
        "source": "web_app",
        "device": "tv",
        "end_reason": "user_initiated",
        "satisfaction_score": 5,
    }
    assert r.json()["session"]["metadata"] == merged
    assert api.get(f"/v1/sessions/{session_id}").json()["metadata"] == merged
    assert Session.objects.get(id=session_id).end_reason == "user_initiated"


# Reading.


def test_sessions_are_listed_and_read_with_their_events(
    cast: Cast, llm: ScriptedLLM, api: Client, outsider_api: Client
) -> None:
    session_id, _ = started(cast, llm)
    started(cast, llm)
    listed = api.get("/v1/sessions?status=running&limit=1")
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    detail = api.get(f"/v1/sessions/{session_id}").json()
    assert [e["kind"] for e in detail["events"]] == ["status_change", "message", "status_change"]
    assert outsider_api.get(f"/v1/sessions/{session_id}").status_code == 404
    assert outsider_api.get("/v1/sessions").json()["count"] == 0


def test_a_signed_in_member_can_preview_a_draft(cast: Cast, llm: ScriptedLLM) -> None:
    agent = an_agent(cast, llm, publish_status="draft")
    assert start(signed_in(cast.member), agent).status_code == 200
    assert start(signed_in(cast.outsider), agent).status_code == 404
