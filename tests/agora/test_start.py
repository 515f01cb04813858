"""Starting a session of an agent that runs on Agora: POST /v1/start-agent-session calls join
with the agent mapped to `properties` and hands the person the channel; what goes wrong is a
clear 4xx (our side) or 502/503 (Agora's), the session marked failed with Agora's words."""

from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from agora.models import AgoraAccount
from sessions.models import Session, SessionStatus, SessionType, Transport
from sessions.tokens import session_token_session_id
from tests.conftest import Cast

from .agora_standin import AgoraStandIn
from .conftest import ELEVENLABS_KEY, an_agora_agent

pytestmark = pytest.mark.django_db

CERTIFICATE = "c" * 32


def start(agent: Agent, **body: Any) -> Any:
    return Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), **body},
        content_type="application/json",
    )


def test_a_voice_session_joins_agora_and_hands_back_the_channel(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    r = start(agent, mode="voice")
    assert r.status_code == 200, r.content
    body = r.json()
    session = Session.objects.get(id=body["sessionId"])
    channel = f"parley-{session.id.hex}"
    assert body["appId"] == standin.app_id
    assert body["channel"] == channel
    assert (body["uid"], body["agentUid"]) == (1001, 1000)
    assert body["rtcToken"] is None  # no certificate
    assert (body["type"], body["transport"]) == ("voice", "agora")
    assert session_token_session_id(body["sessionToken"]) == session.id
    assert body["endUrl"] == f"https://parley.example.com/api/v1/sessions/{session.id}/end"

    (joined,) = standin.seen("POST", "/join")
    assert joined.body["name"] == channel
    properties = joined.body["properties"]
    assert properties["channel"] == channel
    assert properties["remote_rtc_uids"] == ["1001"]
    assert "token" not in properties
    llm = properties["llm"]
    assert llm["url"] == f"https://parley.example.com/v1/agents/{agent.id}/chat/completions"
    assert llm["api_key"].startswith("sl_")
    assert llm["greeting_message"] == "Hello, Ada here."
    assert (llm["failure_message"], llm["max_history"]) == ("Sorry.", 12)
    assert properties["asr"] == {"language": "fr-FR"}
    assert properties["tts"]["params"]["key"] == ELEVENLABS_KEY
    assert properties["turn_detection"]["silence_duration_ms"] == 600
    assert properties["turn_detection"]["interrupt_mode"] == "append"
    assert properties["idle_timeout"] == 20

    assert session.type == SessionType.VOICE
    assert session.transport == Transport.AGORA
    assert session.status == SessionStatus.RUNNING
    assert session.remote["agent_id"] == standin.only().agent_id
    assert session.remote["status"] == "RUNNING"


def test_left_out_mode_is_a_voice_call_on_agora_too(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    assert start(agent).json()["transport"] == "agora"


def test_chat_with_an_agora_agent_is_parleys_own_chat(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    r = start(agent, mode="chat")
    assert r.status_code == 200, r.content
    assert r.json()["type"] == "chat"
    assert standin.requests == []


def test_with_an_app_certificate_both_sides_get_rtc_tokens(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    account.credentials = account.credentials | {"app_certificate": CERTIFICATE}
    account.save()
    body = start(agent, mode="voice").json()
    assert body["rtcToken"].startswith("007")  # AccessToken2
    (joined,) = standin.seen("POST", "/join")
    assert joined.body["properties"]["token"].startswith("007")
    assert joined.body["properties"]["token"] != body["rtcToken"]


def test_without_credentials_it_is_a_409_and_no_session(
    agent: Agent, standin: AgoraStandIn
) -> None:
    r = start(agent, mode="voice")
    assert r.status_code == 409
    assert r.json()["code"] == "agora_not_configured"
    assert "Settings → Agora" in r.json()["error"]
    assert not Session.objects.exists()


def test_a_voice_agora_cannot_speak_with_is_a_409_and_no_session(
    cast: Cast, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    agent = an_agora_agent(cast, tts={"provider": "piper"})
    r = start(agent, mode="voice")
    assert r.status_code == 409
    assert r.json()["code"] == "agora_unsupported"
    assert not Session.objects.exists()
    assert standin.requests == []


@pytest.mark.parametrize(
    "body", [{"mode": "video"}, {"mode": "voice", "transport": "webrtc"}, {"transport": "daily"}]
)
def test_video_or_a_transport_asked_for_is_parleys_own_call(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn, body: dict[str, str]
) -> None:
    """Parley's widget and the dashboard's test call ask for webrtc: Parley's pipeline."""
    r = start(agent, **body)
    assert r.status_code < 500 or r.json()["code"] != "agora_error"
    assert standin.requests == []
    assert not Session.objects.filter(transport=Transport.AGORA).exists()


def test_agora_refusing_the_join_fails_the_session_with_its_detail_and_reason(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/join", 403, "service not enabled", "ServiceNotEnabled")
    r = start(agent, mode="voice")
    assert r.status_code == 502
    assert "service not enabled" in r.json()["error"]
    session = Session.objects.get()
    assert session.status == SessionStatus.FAILED
    assert session.end_reason == "Agora: service not enabled (ServiceNotEnabled)"
    assert session.transport == Transport.AGORA


def test_agora_busy_then_answering_starts_the_session(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/join", 503, "agent startup failure", times=2)
    assert start(agent, mode="voice").status_code == 200
    assert Session.objects.get().status == SessionStatus.RUNNING


def test_agora_busy_throughout_is_a_503(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/join", 429, "rate limited", "TooManyRequests", times=5)
    r = start(agent, mode="voice")
    assert r.status_code == 503
    assert r.json()["code"] == "agora_unavailable"
    assert Session.objects.get().status == SessionStatus.FAILED


def test_a_409_adopts_the_agent_already_running_in_the_channel(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    """A join retried after a lost answer: the agent runs already, under the session's name."""
    original = standin._join  # the first join is made, but its answer is lost as a 409

    def join_twice(body: Any) -> Any:
        original(body)
        return 409, {"detail": "task conflict", "reason": "TaskConflict"}

    standin._join = join_twice  # type: ignore[method-assign]
    r = start(agent, mode="voice")
    assert r.status_code == 200, r.content
    session = Session.objects.get()
    assert session.remote["agent_id"] == standin.only().agent_id
    assert session.status == SessionStatus.RUNNING
    (listed,) = standin.seen("GET", "/agents")
    assert listed.query["channel"] == [session.remote["channel"]]


def test_a_409_with_nothing_to_adopt_fails_the_session(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/join", 409, "task conflict", "TaskConflict")
    r = start(agent, mode="voice")
    assert r.status_code == 502
    assert Session.objects.get().status == SessionStatus.FAILED


def test_a_slow_agora_is_a_503_and_the_session_failed(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn, settings: Any
) -> None:
    settings.AGORA_TIMEOUT_SECONDS = 0.3
    standin.slow("POST", "/join", 1.5)
    r = start(agent, mode="voice")
    assert r.status_code == 503
    assert "did not answer" in r.json()["error"]
    assert Session.objects.get().status == SessionStatus.FAILED


def test_a_parley_agent_still_calls_over_webrtc(
    cast: Cast, account: AgoraAccount, standin: AgoraStandIn
) -> None:
    agent = an_agora_agent(cast)
    Agent.objects.filter(pk=agent.pk).update(runtime="parley")
    r = start(agent, mode="voice")
    assert r.status_code != 200 or r.json().get("transport") != "agora"
    assert standin.requests == []
