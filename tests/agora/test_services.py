"""Following an Agora session: status into the session, history kept while the agent runs,
leave when the Parley session ends (retried), the session failed with Agora's words; speak and
interrupt through the API; and the agent's LLM calls, made with the session's own secret,
recorded in that session."""

from typing import Any

import pytest
from celery.exceptions import Retry
from django.test import Client

from agents.models import Agent
from agora.models import AgoraAccount
from agora.services import agora_session_leave, agora_sessions_sync
from agora.tasks import leave_agora_agent, sync_agora_sessions
from sessions.models import EventKind, Session, SessionStatus
from sessions.services import session_end
from tests.conftest import Cast
from tests.factories import SessionFactory

from .agora_standin import AgoraStandIn

pytestmark = pytest.mark.django_db


def started(agent: Agent) -> Session:
    r = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "voice"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return Session.objects.get(id=r.json()["sessionId"])


@pytest.fixture
def session(agent: Agent, account: AgoraAccount, standin: AgoraStandIn) -> Session:
    return started(agent)


# The sync.


def test_the_sync_keeps_the_history_while_the_agent_runs(
    session: Session, standin: AgoraStandIn
) -> None:
    history = [{"role": "user", "content": "Bonjour"}, {"role": "assistant", "content": "Salut"}]
    standin.only().history = history
    assert sync_agora_sessions() == {"synced": 1, "failed": 0, "left": 0}
    session.refresh_from_db()
    assert session.remote["history"] == history
    assert session.status == SessionStatus.RUNNING


def test_a_failed_remote_agent_fails_the_session_with_its_message(
    session: Session, standin: AgoraStandIn
) -> None:
    remote = standin.only()
    remote.status, remote.message = "FAILED", "tts vendor rejected the key"
    agora_sessions_sync()
    session.refresh_from_db()
    assert session.status == SessionStatus.FAILED
    assert session.end_reason == "Agora: failed: tts vendor rejected the key"
    assert "left_at" in session.remote
    assert standin.seen("POST", "/agents") == []  # nothing to leave


def test_a_stopped_remote_agent_ends_the_session_without_a_leave(
    session: Session, standin: AgoraStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    standin.only().status = "STOPPED"
    with django_capture_on_commit_callbacks(execute=True):
        agora_sessions_sync()
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert session.end_reason == "the Agora agent stopped"
    assert standin.seen("POST", f"/agents/{session.remote['agent_id']}/leave") == []


def test_an_agent_agora_forgot_ends_the_session(session: Session, standin: AgoraStandIn) -> None:
    standin.agents.clear()
    agora_sessions_sync()
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert "no longer knows" in session.end_reason


def test_a_starting_agent_moves_the_session_to_running_when_it_runs(
    session: Session, standin: AgoraStandIn
) -> None:
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.STARTING)
    standin.only().status = "STARTING"
    agora_sessions_sync()
    assert Session.objects.get(pk=session.pk).status == SessionStatus.STARTING
    standin.only().status = "RUNNING"
    agora_sessions_sync()
    assert Session.objects.get(pk=session.pk).status == SessionStatus.RUNNING


def test_a_stopping_agent_is_followed_until_it_has_stopped(
    session: Session, standin: AgoraStandIn
) -> None:
    standin.only().status = "STOPPING"
    agora_sessions_sync()
    assert Session.objects.get(pk=session.pk).status == SessionStatus.STOPPING
    standin.only().status = "STOPPED"
    agora_sessions_sync()
    assert Session.objects.get(pk=session.pk).status == SessionStatus.STOPPED


def test_agora_unreachable_counts_a_failure_and_changes_nothing(
    session: Session, standin: AgoraStandIn
) -> None:
    standin.fail("GET", "/agents/", 503, "busy", times=10)
    assert agora_sessions_sync()["failed"] == 1
    assert Session.objects.get(pk=session.pk).status == SessionStatus.RUNNING


# Leaving.


def test_ending_the_session_keeps_the_history_then_leaves(
    session: Session, standin: AgoraStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    standin.only().history = [{"role": "user", "content": "Au revoir"}]
    with django_capture_on_commit_callbacks(execute=True):
        session_end(session=session, reason="ended by the client")
    session.refresh_from_db()
    assert session.remote["history"] == [{"role": "user", "content": "Au revoir"}]
    assert "left_at" in session.remote
    assert standin.only().status == "STOPPED"
    agent_path = f"/agents/{session.remote['agent_id']}"
    assert [r.path for r in standin.requests[-2:]] == [
        f"{agent_path}/history",
        f"{agent_path}/leave",
    ]


def test_a_leave_agora_refuses_is_retried_by_the_task(
    session: Session, standin: AgoraStandIn, settings: Any
) -> None:
    session_end(session=session, reason="ended by the client")
    standin.fail("POST", "/agents/", 500, "internal")
    with pytest.raises(Retry) as retry:  # eagerly, the retry is raised, not queued
        leave_agora_agent.apply(args=[str(session.pk)])
    assert retry.value.when == 5
    assert standin.only().status == "RUNNING"
    assert leave_agora_agent.apply(args=[str(session.pk)]).get() is True
    assert standin.only().status == "STOPPED"


def test_the_sync_leaves_what_a_lost_leave_missed(session: Session, standin: AgoraStandIn) -> None:
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.STOPPED)
    Session.objects.filter(pk=session.pk).update(ended_at=session.started_at)
    assert agora_sessions_sync()["left"] == 1
    assert standin.only().status == "STOPPED"
    assert agora_sessions_sync()["left"] == 0  # once


def test_leaving_an_open_or_a_non_agora_session_does_nothing(
    session: Session, standin: AgoraStandIn, cast: Cast
) -> None:
    assert agora_session_leave(session_id=session.pk) is False
    assert agora_session_leave(session_id=SessionFactory(team=cast.team).pk) is False
    assert standin.only().status == "RUNNING"


# Speak and interrupt, from the API.


def test_speak_and_interrupt(api: Client, session: Session, standin: AgoraStandIn) -> None:
    url = f"/v1/sessions/{session.id}"
    r = api.post(
        f"{url}/speak",
        {"text": "One moment please.", "priority": "APPEND", "interruptable": False},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["agent_id"] == session.remote["agent_id"]
    assert standin.only().spoken == [
        {"text": "One moment please.", "priority": "APPEND", "interruptable": False}
    ]
    message = session.events.filter(kind=EventKind.MESSAGE).last()
    assert message is not None
    assert message.data["content"] == "One moment please."
    assert api.post(f"{url}/interrupt", {}, content_type="application/json").status_code == 200
    assert standin.only().interrupted == 1


def test_speak_refuses_what_agora_would(api: Client, session: Session) -> None:
    url = f"/v1/sessions/{session.id}/speak"
    for body in ({"text": ""}, {"text": "é" * 300}, {"text": "hi", "priority": "LOUD"}, {}):
        r = api.post(url, body, content_type="application/json")
        assert r.status_code in (400, 422), (body, r.content)


def test_another_teams_session_is_not_found(outsider_api: Client, session: Session) -> None:
    r = outsider_api.post(
        f"/v1/sessions/{session.id}/interrupt", {}, content_type="application/json"
    )
    assert r.status_code == 404


def test_a_session_not_on_agora_is_a_clear_409(api: Client, cast: Cast) -> None:
    other = SessionFactory(team=cast.team)
    r = api.post(f"/v1/sessions/{other.id}/speak", {"text": "hi"}, content_type="application/json")
    assert r.status_code == 409
    assert r.json()["code"] == "not_agora"


def test_an_ended_session_is_a_409(api: Client, session: Session) -> None:
    session_end(session=session, reason="done")
    assert (
        api.post(
            f"/v1/sessions/{session.id}/interrupt", {}, content_type="application/json"
        ).status_code
        == 409
    )


def test_speak_needs_a_write_key(read_only_api: Client, session: Session) -> None:
    assert (
        read_only_api.post(
            f"/v1/sessions/{session.id}/interrupt", {}, content_type="application/json"
        ).status_code
        == 403
    )


def test_agora_failing_to_speak_is_a_502_with_its_detail(
    api: Client, session: Session, standin: AgoraStandIn
) -> None:
    standin.fail("POST", "/agents/", 400, "speak is not supported with mllm", "InvalidRequest")
    r = api.post(
        f"/v1/sessions/{session.id}/speak", {"text": "hi"}, content_type="application/json"
    )
    assert r.status_code == 502
    assert "speak is not supported with mllm" in r.json()["error"]
