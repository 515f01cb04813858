"""Calls in Daily rooms: the start (room, tokens, the worker asked to join), Daily's failures as
clear errors, and the sweep that ends calls whose room emptied and deletes ended calls' rooms.
Daily's REST API is a stand-in on loopback (tests/voice/daily_standin.py), the voice worker a
loopback server answering its HTTP API."""

import logging
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent
from sessions.models import Session, SessionStatus, SessionType, Transport
from sessions.services import session_end
from tests.conftest import Cast
from tests.factories import AgentFactory, SessionFactory
from tests.real_worker import celery_worker, through_a_real_worker, wait_for
from voice import daily
from voice.daily import (
    BOT_USER_ID,
    daily_presence,
    daily_room_create,
    daily_room_delete,
    daily_room_release_later,
    daily_token_create,
)
from voice.daily_sweep import EVERYONE_LEFT, NOBODY_CAME, ROOM_GONE, daily_rooms_sync
from voice.daily_tasks import delete_daily_room, sync_daily_rooms
from voice.models import VoiceWorker
from voice.signalling import worker_secret

from .daily_standin import DailyStandIn

pytestmark = pytest.mark.django_db

CALL = re.compile(r"^/calls/[0-9a-f-]{36}/daily$")
END = re.compile(r"^/calls/[0-9a-f-]{36}/end$")


@pytest.fixture
def standin(settings: Any) -> Iterator[DailyStandIn]:
    server = DailyStandIn().start()
    settings.DAILY_API_URL = server.url
    settings.DAILY_API_KEY = server.key
    cache.clear()  # the session start limits count per address
    yield server
    server.stop()


@pytest.fixture
def worker(receiver: HTTPServer) -> VoiceWorker:
    """A live voice worker; its HTTP API is the loopback server, which accepts calls."""
    receiver.expect_request(CALL, method="POST").respond_with_json({"joining": True}, status=202)
    receiver.expect_request(END, method="POST").respond_with_json({"ended": True})
    return VoiceWorker.objects.create(
        name="worker-1", url=receiver.url_for("/").rstrip("/"), capacity=2
    )


def an_agent(cast: Cast, **config: Any) -> Agent:
    document = AgentConfiguration.model_validate(config).as_document()
    return AgentFactory(
        team=cast.team, name="Ada", publish_status="private", configuration=document
    )


def start(agent: Agent) -> Any:
    """As iwy's widget starts a call: {agentId} alone, no key."""
    return Client().post(
        "/v1/start-agent-session", {"agentId": str(agent.id)}, content_type="application/json"
    )


def worker_calls(receiver: HTTPServer, pattern: re.Pattern[str]) -> list[Any]:
    return [request for request, _ in receiver.log if pattern.match(request.path)]


# Starting a call.


def test_a_call_starts_in_a_private_room_with_a_token_for_the_person_and_one_for_the_agent(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker, receiver: HTTPServer
) -> None:
    agent = an_agent(cast, max_duration_seconds=600)
    before = int(time.time())
    r = start(agent)
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"roomUrl", "dailyToken", "webLink", "sessionId"}

    # The room: private, expiring (and ejecting everyone) at the agent's maximum duration.
    (created,) = standin.seen("POST", "/rooms")
    assert created.headers["authorization"] == f"Bearer {standin.key}"
    assert created.headers["content-type"] == "application/json"
    assert created.body["privacy"] == "private"
    properties = created.body["properties"]
    assert before + 600 <= properties["exp"] <= int(time.time()) + 600
    assert properties["eject_at_room_exp"] is True
    room = standin.rooms[created.body["name"]]
    assert body["roomUrl"] == room["url"]

    # The tokens: the person's is not an owner; the agent's is, with its own name.
    person = standin.tokens[body["dailyToken"]]
    assert person["room_name"] == room["name"]
    assert person["is_owner"] is False
    assert person["user_name"] == "Guest"
    assert person["exp"] == properties["exp"]
    assert person["eject_at_token_exp"] is True
    assert body["webLink"] == f"{room['url']}?t={body['dailyToken']}"
    (bot_token,) = [t for t in standin.tokens if t != body["dailyToken"]]
    bot = standin.tokens[bot_token]
    assert bot["room_name"] == room["name"]
    assert bot["is_owner"] is True
    assert (bot["user_name"], bot["user_id"]) == ("Ada", BOT_USER_ID)
    for request in standin.seen("POST", "/meeting-tokens"):
        assert request.headers["authorization"] == f"Bearer {standin.key}"

    # The worker is asked to join the room with the agent's token.
    (joined,) = worker_calls(receiver, CALL)
    assert joined.path == f"/calls/{body['sessionId']}/daily"
    assert joined.headers["Authorization"] == f"Bearer {worker_secret()}"
    assert joined.get_json() == {"room_url": room["url"], "token": bot_token}

    session = Session.objects.get(id=body["sessionId"])
    assert session.transport == Transport.DAILY
    assert session.worker_id == worker.id
    assert session.remote == {"room_name": room["name"], "room_url": room["url"]}
    assert session.type == SessionType.VOICE
    assert session.status == SessionStatus.STARTING


def test_an_agent_with_a_face_gets_a_video_call(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker
) -> None:
    agent = an_agent(cast, video={"provider": "image"})
    r = start(agent)
    assert r.status_code == 200
    assert Session.objects.get(id=r.json()["sessionId"]).type == SessionType.VIDEO


def test_without_a_daily_key_the_call_is_refused_saying_what_to_set(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker, settings: Any
) -> None:
    settings.DAILY_API_KEY = ""
    r = start(an_agent(cast))
    assert r.status_code == 503
    assert r.json()["code"] == "not_configured"
    assert "DAILY_API_KEY" in r.json()["error"]
    assert not Session.objects.exists()
    assert standin.requests == []


def test_a_room_daily_refuses_fails_the_session_with_what_daily_said(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker
) -> None:
    standin.fail("POST", "/rooms", 400, "invalid-request-error", "exp must be in the future")
    r = start(an_agent(cast))
    assert r.status_code == 502
    assert r.json()["code"] == "daily_error"
    assert "exp must be in the future" in r.json()["error"]
    assert r.json()["details"]["daily_error"] == "invalid-request-error"
    session = Session.objects.get()
    assert session.status == SessionStatus.FAILED
    assert "exp must be in the future" in session.end_reason
    assert session.end_reason.startswith("The Daily call could not start")


def test_daily_failing_after_the_room_exists_deletes_the_room(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker, receiver: HTTPServer
) -> None:
    standin.fail("POST", "/meeting-tokens", 500, "server-error", "try again")
    r = start(an_agent(cast))
    assert r.status_code == 502
    assert "500" in r.json()["error"]
    assert "server-error" in r.json()["error"]
    session = Session.objects.get()
    assert session.status == SessionStatus.FAILED
    assert standin.rooms == {}
    (deleted,) = standin.seen("DELETE", "/rooms/")
    assert deleted.path == f"/rooms/{session.remote['room_name']}"
    assert "deleted_at" in session.remote
    assert worker_calls(receiver, CALL) == []


def test_a_key_daily_refuses_is_a_503_naming_the_setting_and_the_key_is_never_logged(
    cast: Cast,
    standin: DailyStandIn,
    worker: VoiceWorker,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.DAILY_API_KEY = "daily_wrong_" + uuid.uuid4().hex
    with caplog.at_level(logging.DEBUG):
        r = start(an_agent(cast))
    assert r.status_code == 503
    assert r.json()["code"] == "daily_unavailable"
    assert r.json()["details"]["reason"] == "key_refused"
    assert "DAILY_API_KEY" in r.json()["error"]
    assert "authentication-error" in r.json()["error"]
    assert settings.DAILY_API_KEY not in r.content.decode()
    assert settings.DAILY_API_KEY not in caplog.text
    assert Session.objects.get().status == SessionStatus.FAILED


def test_daily_not_answering_in_time_is_a_503_and_the_session_failed(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker, settings: Any
) -> None:
    settings.DAILY_TIMEOUT_SECONDS = 0.5
    standin.slow("POST", "/rooms", 3)
    r = start(an_agent(cast))
    # A timeout, not Daily's late answer: Parley gave up first.
    assert r.status_code == 503
    assert r.json()["code"] == "daily_unavailable"
    assert r.json()["details"]["reason"] == "timeout"
    assert "Daily did not answer" in r.json()["error"]
    assert Session.objects.get().status == SessionStatus.FAILED


def test_daily_rate_limiting_is_a_503_to_try_again(
    cast: Cast, standin: DailyStandIn, worker: VoiceWorker
) -> None:
    standin.fail("POST", "/rooms", 429, "rate-limit-error")
    r = start(an_agent(cast))
    assert r.status_code == 503
    assert r.json()["details"]["reason"] == "rate_limited"
    assert "try again" in r.json()["error"]


def test_daily_unreachable_is_a_503(cast: Cast, worker: VoiceWorker, settings: Any) -> None:
    stopped = DailyStandIn()
    settings.DAILY_API_URL, settings.DAILY_API_KEY = stopped.url, stopped.key
    stopped.stop()  # the port was bound, then closed: nothing listens there
    cache.clear()
    r = start(an_agent(cast))
    assert r.status_code == 503
    assert r.json()["code"] == "daily_unavailable"
    assert "refused the connection" in r.json()["error"]


def test_a_worker_refusing_to_join_fails_the_session_and_deletes_the_room(
    cast: Cast, standin: DailyStandIn, receiver: HTTPServer
) -> None:
    receiver.expect_request(CALL, method="POST").respond_with_json(
        {"error": "The worker is shutting down.", "code": "busy"}, status=503
    )
    VoiceWorker.objects.create(name="w", url=receiver.url_for("/").rstrip("/"), capacity=1)
    r = start(an_agent(cast))
    assert r.status_code == 503
    assert r.json()["error"] == "The worker is shutting down."
    session = Session.objects.get()
    assert session.status == SessionStatus.FAILED
    assert "shutting down" in session.end_reason
    assert standin.rooms == {}


def test_a_worker_that_does_not_answer_fails_the_session_and_deletes_the_room(
    cast: Cast, standin: DailyStandIn, settings: Any
) -> None:
    gone = DailyStandIn()  # a port that was open and is not any more
    url = gone.url.removesuffix("/v1")
    gone.stop()
    VoiceWorker.objects.create(name="w", url=url, capacity=1)
    r = start(an_agent(cast))
    assert r.status_code == 503
    assert r.json()["details"]["reason"] == "worker_unreachable"
    assert Session.objects.get().status == SessionStatus.FAILED
    assert standin.rooms == {}


# The REST client on its own.


def test_presence_of_a_room_and_of_a_room_daily_does_not_know(standin: DailyStandIn) -> None:
    room = daily_room_create(name="parley-presence", exp=int(time.time()) + 60)
    assert daily_presence(room_name=room.name) == []
    standin.join(room.name, "Guest")
    (person,) = daily_presence(room_name=room.name) or []
    assert person["userName"] == "Guest"
    assert standin.seen("GET")[-1].path == "/rooms/parley-presence/presence"
    assert daily_presence(room_name="no-such-room") is None


def test_deleting_a_room_daily_does_not_know_is_not_an_error(standin: DailyStandIn) -> None:
    room = daily_room_create(name="parley-delete", exp=int(time.time()) + 60)
    assert daily_room_delete(room_name=room.name) is True
    assert daily_room_delete(room_name=room.name) is False
    (first, _second) = standin.seen("DELETE")
    assert first.headers["authorization"] == f"Bearer {standin.key}"


def test_an_answer_that_is_not_dailys_is_a_clear_502(standin: DailyStandIn) -> None:
    standin.fail("POST", "/meeting-tokens", 200, "not a token")  # {"error": ...}, no token
    with pytest.raises(daily.DailyFailed, match="no 'token'"):
        daily_token_create(room_name="r", exp=int(time.time()) + 60, user_name="x", owner=False)


# The sweep.


def a_daily_call(
    standin: DailyStandIn, worker: VoiceWorker, idle: int = 60, **fields: Any
) -> Session:
    """An open call in a room of the stand-in, as daily_session_start leaves it."""
    agent = AgentFactory(configuration=AgentConfiguration(idle_timeout_seconds=idle).as_document())
    session = SessionFactory(agent=agent, type=SessionType.VOICE, **fields)
    room = daily_room_create(name=f"parley-{session.id.hex}", exp=int(time.time()) + 600)
    Session.objects.filter(pk=session.pk).update(
        transport=Transport.DAILY,
        worker=worker,
        remote={"room_name": room.name, "room_url": room.url},
    )
    standin.join(room.name, agent.name, BOT_USER_ID)
    session.refresh_from_db()
    return session


def test_a_call_ends_when_the_person_has_left_for_the_idle_timeout_and_its_room_goes(
    standin: DailyStandIn,
    worker: VoiceWorker,
    receiver: HTTPServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    session = a_daily_call(standin, worker, idle=60)
    room = session.remote["room_name"]
    standin.join(room, "Guest")
    begun = timezone.now()
    with time_machine.travel(begun + timedelta(minutes=10), tick=False):
        assert sync_daily_rooms() == {"ended": 0, "deleted": 0}  # a person is there
    session.refresh_from_db()
    assert session.status == SessionStatus.STARTING
    assert "person_seen_at" in session.remote
    assert "empty_since" not in session.remote

    standin.leave(room, "Guest")
    with time_machine.travel(begun + timedelta(minutes=11), tick=False):
        assert sync_daily_rooms() == {"ended": 0, "deleted": 0}  # only the agent, since now
    session.refresh_from_db()
    assert session.remote["empty_since"] == (begun + timedelta(minutes=11)).isoformat()
    with time_machine.travel(begun + timedelta(minutes=11, seconds=59), tick=False):
        assert sync_daily_rooms()["ended"] == 0
    assert worker_calls(receiver, END) == []

    with (
        time_machine.travel(begun + timedelta(minutes=12), tick=False),
        django_capture_on_commit_callbacks(execute=True),  # the hang-up goes after the commit
    ):
        assert sync_daily_rooms() == {"ended": 1, "deleted": 1}
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert session.end_reason == EVERYONE_LEFT
    (hang_up,) = worker_calls(receiver, END)
    assert hang_up.path == f"/calls/{session.id}/end"
    assert hang_up.get_json() == {"reason": EVERYONE_LEFT}
    assert room not in standin.rooms
    assert session.remote["deleted_at"] == (begun + timedelta(minutes=12)).isoformat()


def test_a_person_coming_back_keeps_the_call(standin: DailyStandIn, worker: VoiceWorker) -> None:
    session = a_daily_call(standin, worker, idle=60)
    room = session.remote["room_name"]
    standin.join(room, "Guest")
    now = timezone.now()
    daily_rooms_sync(now=now)
    standin.leave(room, "Guest")
    daily_rooms_sync(now=now + timedelta(seconds=30))
    standin.join(room, "Guest")
    daily_rooms_sync(now=now + timedelta(seconds=60))
    session.refresh_from_db()
    assert "empty_since" not in session.remote
    assert daily_rooms_sync(now=now + timedelta(seconds=200))["ended"] == 0
    session.refresh_from_db()
    assert session.status == SessionStatus.STARTING


def test_a_call_nobody_joins_ends_an_idle_timeout_after_it_started(
    standin: DailyStandIn, worker: VoiceWorker
) -> None:
    session = a_daily_call(standin, worker, idle=60)
    assert daily_rooms_sync(now=session.started_at + timedelta(seconds=59))["ended"] == 0
    assert daily_rooms_sync(now=session.started_at + timedelta(seconds=60))["ended"] == 1
    session.refresh_from_db()
    assert session.end_reason == NOBODY_CAME


def test_a_call_whose_room_is_gone_ends_and_its_room_counts_as_deleted(
    standin: DailyStandIn, worker: VoiceWorker
) -> None:
    session = a_daily_call(standin, worker)
    standin.rooms.clear()  # expired, or deleted in Daily's dashboard
    assert daily_rooms_sync() == {"ended": 1, "deleted": 0}
    session.refresh_from_db()
    assert (session.status, session.end_reason) == (SessionStatus.STOPPED, ROOM_GONE)
    assert "deleted_at" in session.remote


def test_a_presence_daily_fails_to_give_changes_nothing_and_the_others_go_on(
    standin: DailyStandIn, worker: VoiceWorker
) -> None:
    first, second = a_daily_call(standin, worker), a_daily_call(standin, worker)
    standin.fail("GET", f"/rooms/{first.remote['room_name']}/", 500, "server-error")
    later = timezone.now() + timedelta(hours=1)
    assert daily_rooms_sync(now=later)["ended"] == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == SessionStatus.STARTING
    assert second.status == SessionStatus.STOPPED


def test_the_rooms_of_ended_calls_are_deleted_and_a_failure_is_retried(
    standin: DailyStandIn, worker: VoiceWorker
) -> None:
    session = a_daily_call(standin, worker)
    session_end(session=session, reason="ended by the client")
    standin.fail("DELETE", "/rooms/", 503, "server-error")
    assert daily_rooms_sync() == {"ended": 0, "deleted": 0}
    session.refresh_from_db()
    assert "deleted_at" not in session.remote
    assert daily_rooms_sync() == {"ended": 0, "deleted": 1}
    session.refresh_from_db()
    assert "deleted_at" in session.remote
    assert standin.rooms == {}
    assert daily_rooms_sync() == {"ended": 0, "deleted": 0}
    assert len(standin.seen("DELETE")) == 2


def test_a_room_daily_no_longer_knows_counts_as_deleted(
    standin: DailyStandIn, worker: VoiceWorker
) -> None:
    session = a_daily_call(standin, worker)
    session_end(session=session, reason="ended by the client")
    standin.rooms.clear()
    assert daily_rooms_sync()["deleted"] == 1
    session.refresh_from_db()
    assert "deleted_at" in session.remote


def test_the_sweep_does_nothing_without_daily(
    standin: DailyStandIn, worker: VoiceWorker, settings: Any
) -> None:
    a_daily_call(standin, worker)
    settings.DAILY_API_KEY = ""
    assert daily_rooms_sync(now=timezone.now() + timedelta(hours=1)) == {"ended": 0, "deleted": 0}
    assert standin.seen("GET") == []


def test_ending_a_call_queues_its_rooms_deletion_after_the_commit(
    standin: DailyStandIn,
    worker: VoiceWorker,
    django_capture_on_commit_callbacks: Any,
) -> None:
    session = a_daily_call(standin, worker)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        session_end(session=session, reason="ended by the client")
        assert standin.rooms != {}  # not before the commit
    assert len(queued) == 2  # the worker hangs up; the room is deleted
    assert standin.rooms == {}
    session.refresh_from_db()
    assert "deleted_at" in session.remote


def test_only_ended_daily_calls_have_their_room_deleted(
    standin: DailyStandIn, worker: VoiceWorker, django_capture_on_commit_callbacks: Any
) -> None:
    chat = SessionFactory()
    with django_capture_on_commit_callbacks() as queued:
        daily_room_release_later(chat)
    assert queued == []
    session = a_daily_call(standin, worker)
    assert delete_daily_room(str(session.id)) is False  # still open: the room stays
    assert len(standin.rooms) == 1


# Through a real Celery worker and broker (PostgreSQL and Redis, as in CI).


@pytest.fixture
def celery_process(standin: DailyStandIn) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker on the test database, calling the Daily stand-in; tasks are queued."""
    with celery_worker(
        DAILY_API_URL=standin.url,
        DAILY_API_KEY=standin.key,
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
    ) as proc:
        yield proc


@through_a_real_worker
def test_a_real_worker_ends_an_emptied_call_and_deletes_its_room(
    standin: DailyStandIn, worker: VoiceWorker, receiver: HTTPServer
) -> None:
    session = a_daily_call(standin, worker, idle=60)
    Session.objects.filter(pk=session.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    sync_daily_rooms.delay()
    over = Session.objects.filter(pk=session.pk, status=SessionStatus.STOPPED)
    wait_for(lambda: over.filter(remote__has_key="deleted_at").exists(), "end the call")
    assert over.get().end_reason == NOBODY_CAME
    assert standin.rooms == {}
    # The hang-up is a task of its own: it may reach the worker after the room is gone.
    wait_for(lambda: bool(worker_calls(receiver, END)), "tell the worker to hang up")
    assert [r.path for r in worker_calls(receiver, END)] == [f"/calls/{session.id}/end"]


@through_a_real_worker
def test_a_real_worker_deletes_the_room_of_a_call_that_ended(
    standin: DailyStandIn, worker: VoiceWorker
) -> None:
    session = a_daily_call(standin, worker)
    ended, _ = session_end(session=session, reason="ended by the client")
    daily_room_release_later(ended)  # queued at once: no transaction is open
    deleted = Session.objects.filter(pk=session.pk, remote__has_key="deleted_at")
    wait_for(deleted.exists, "delete the room")
    assert standin.rooms == {}
    (request,) = standin.seen("DELETE")
    assert request.path == f"/rooms/{session.remote['room_name']}"


# Against Daily itself, when a key is at hand.


@pytest.mark.skipif(
    not os.environ.get("DAILY_API_KEY"), reason="needs a real Daily key (DAILY_API_KEY)"
)
def test_the_client_against_dailys_own_api(settings: Any) -> None:
    settings.DAILY_API_KEY = os.environ["DAILY_API_KEY"]
    settings.DAILY_API_URL = os.environ.get("DAILY_API_URL", "https://api.daily.co/v1")
    name = f"parley-test-{uuid.uuid4().hex[:12]}"
    room = daily_room_create(name=name, exp=int(time.time()) + 120)
    try:
        assert room.name == name
        assert room.url.endswith(f"/{name}")
        token = daily_token_create(
            room_name=name, exp=int(time.time()) + 120, user_name="Guest", owner=False
        )
        assert token.count(".") == 2  # a JWT
        assert daily_presence(room_name=name) == []
    finally:
        assert daily_room_delete(room_name=name) is True
    assert daily_presence(room_name=name) is None
