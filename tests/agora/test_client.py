"""The REST client against the stand-in: Basic auth, the documented shapes, Agora's error body
as a clear error, backing off on 429/503/504, and slow answers."""

import base64
import time
from typing import Any

import pytest

from agora import client
from agora.client import AgoraAgentExists, AgoraFailed, AgoraUnavailable
from agora.models import AgoraAccount

from .agora_standin import AgoraStandIn

pytestmark = pytest.mark.django_db

PROPERTIES = {"channel": "c1", "agent_rtc_uid": "1", "remote_rtc_uids": ["2"], "tts": {}, "llm": {}}


def join(account: AgoraAccount, name: str = "a1") -> dict[str, Any]:
    return client.agora_join(account=account, name=name, properties=PROPERTIES)


def test_join_sends_basic_auth_and_the_body_to_the_apps_project(
    account: AgoraAccount, standin: AgoraStandIn
) -> None:
    joined = join(account)
    assert joined["status"] == "RUNNING"
    (request,) = standin.seen("POST", "/join")
    pair = f"{standin.customer_id}:{standin.customer_secret}".encode()
    assert request.headers["authorization"] == "Basic " + base64.b64encode(pair).decode()
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"name": "a1", "properties": PROPERTIES}
    assert standin.only().agent_id == joined["agent_id"]


def test_agoras_error_body_becomes_a_502_naming_detail_and_reason(
    account: AgoraAccount, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/join", 400, "properties: channel not found", "InvalidRequest")
    with pytest.raises(AgoraFailed) as caught:
        join(account)
    assert caught.value.status == 502
    assert "properties: channel not found (InvalidRequest)" in caught.value.message
    assert caught.value.details["agora_reason"] == "InvalidRequest"


def test_wrong_credentials_say_where_to_fix_them(
    account: AgoraAccount, standin: AgoraStandIn
) -> None:
    account.credentials = account.credentials | {"customer_secret": "wrong"}
    with pytest.raises(AgoraFailed, match="check the customer id and secret"):
        join(account)


def test_a_second_join_of_the_same_name_is_a_conflict(
    account: AgoraAccount, standin: AgoraStandIn
) -> None:
    join(account)
    with pytest.raises(AgoraAgentExists):
        join(account)


@pytest.mark.parametrize("status", [429, 503, 504])
def test_backing_off_then_succeeding(
    account: AgoraAccount, standin: AgoraStandIn, status: int
) -> None:
    standin.fail("POST", "/join", status, "slow down", "TooManyRequests", times=2)
    assert join(account)["agent_id"]
    assert len(standin.seen("POST", "/join")) == 3


def test_a_retry_after_is_honoured_up_to_a_cap(
    account: AgoraAccount, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/join", 429, "slow down", headers={"retry-after": "0.3"})
    started = time.monotonic()
    join(account)
    assert time.monotonic() - started >= 0.3


def test_still_refused_after_every_attempt_is_a_503(
    account: AgoraAccount, standin: AgoraStandIn, settings: Any
) -> None:
    standin.fail("POST", "/join", 503, "agent startup failure", "ServiceUnavailable", times=9)
    with pytest.raises(AgoraUnavailable) as caught:
        join(account)
    assert caught.value.status == 503
    assert "agent startup failure" in caught.value.message
    assert len(standin.seen("POST", "/join")) == settings.AGORA_ATTEMPTS


def test_a_500_is_not_retried(account: AgoraAccount, standin: AgoraStandIn) -> None:
    standin.fail("POST", "/join", 500, "internal", times=3)
    with pytest.raises(AgoraFailed):
        join(account)
    assert len(standin.seen("POST", "/join")) == 1


def test_a_slow_answer_is_a_503_after_the_timeout(
    account: AgoraAccount, standin: AgoraStandIn, settings: Any
) -> None:
    settings.AGORA_TIMEOUT_SECONDS = 0.3
    standin.slow("POST", "/join", 1.5)
    with pytest.raises(AgoraUnavailable, match="did not answer"):
        join(account)


def test_query_history_speak_interrupt_leave_and_list(
    account: AgoraAccount, standin: AgoraStandIn
) -> None:
    agent_id = join(account)["agent_id"]
    standin.only().history = [{"role": "user", "content": "hi"}]
    assert client.agora_query(account=account, agent_id=agent_id)["status"] == "RUNNING"
    assert client.agora_history(account=account, agent_id=agent_id) == [
        {"role": "user", "content": "hi"}
    ]
    spoke = client.agora_speak(
        account=account, agent_id=agent_id, text="Hi", priority="APPEND", interruptable=False
    )
    assert spoke["channel"] == "c1"
    assert standin.only().spoken == [{"text": "Hi", "priority": "APPEND", "interruptable": False}]
    assert client.agora_interrupt(account=account, agent_id=agent_id)["agent_id"] == agent_id
    listed = client.agora_list(account=account, channel="c1", states=["RUNNING"])
    assert [a["agent_id"] for a in listed] == [agent_id]
    assert client.agora_list(account=account, channel="other", states=["RUNNING"]) == []
    assert client.agora_leave(account=account, agent_id=agent_id) is True
    # Stopped: history is gone, a second leave finds nothing, the query says STOPPED.
    assert client.agora_history(account=account, agent_id=agent_id) is None
    assert client.agora_leave(account=account, agent_id=agent_id) is False
    assert client.agora_query(account=account, agent_id=agent_id)["status"] == "STOPPED"
    assert client.agora_query(account=account, agent_id="nope") is None


def test_credentials_agora_echoes_are_neither_shown_nor_logged(
    account: AgoraAccount, standin: AgoraStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    pair = f"{standin.customer_id}:{standin.customer_secret}"
    basic = base64.b64encode(pair.encode()).decode()
    standin.fail(
        "POST", "/join", 401, f"you sent Basic {basic}", f"secret {standin.customer_secret}"
    )
    with pytest.raises(AgoraFailed) as caught:
        join(account)
    shown = caught.value.message + str(caught.value.details) + caplog.text
    assert "you sent Basic [REDACTED]" in caught.value.message
    for secret in (standin.customer_secret, basic, pair):
        assert secret not in shown
