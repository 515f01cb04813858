"""Placing calls on voice workers, refusing them when none has room, and giving up on silent
workers: voice.services, through the API where a caller meets it."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sessions.models import Session, SessionStatus, Transport
from tests.factories import AgentFactory, SessionFactory
from voice.models import VoiceWorker
from voice.services import workers_reap

from .conftest import start_call

pytestmark = pytest.mark.django_db


def worker(capacity: int = 2, **fields: Any) -> VoiceWorker:
    return VoiceWorker.objects.create(
        name=fields.pop("name", "w"), url="http://127.0.0.1:9", capacity=capacity, **fields
    )


def public_agent(**configuration: Any) -> Any:
    return AgentFactory(publish_status="public", configuration=configuration or {})


def test_a_call_goes_to_the_live_worker_with_the_most_room() -> None:
    full, roomy = worker(1, name="full"), worker(3, name="roomy")
    SessionFactory(worker=full, status=SessionStatus.RUNNING)
    worker(5, name="dead", last_seen_at=timezone.now() - timedelta(minutes=5))
    agent = public_agent()

    started = start_call(Client(), agent.id)

    assert started.status_code == 200, started.content
    body = started.json()
    assert body["type"] == "voice"
    assert body["transport"] == "webrtc"
    assert body["offerUrl"] == f"http://testserver/v1/sessions/{body['sessionId']}/webrtc"
    assert body["iceServers"] == []
    session = Session.objects.get(pk=body["sessionId"])
    assert session.worker == roomy
    assert session.transport == Transport.WEBRTC


def test_a_video_agent_gets_a_video_call(settings: Any) -> None:
    worker()
    agent = public_agent(video={"provider": "image"})
    assert start_call(Client(), agent.id, "video").json()["type"] == "video"


def test_without_a_worker_a_call_is_refused_saying_how_to_start_one() -> None:
    response = start_call(Client(), public_agent().id)
    assert response.status_code == 503
    assert response.json()["details"]["reason"] == "no_worker"
    assert "manage.py voiceworker" in response.json()["error"]
    assert not Session.objects.exists()


def test_when_every_worker_is_full_the_call_is_refused_as_busy() -> None:
    busy = worker(1)
    SessionFactory(worker=busy, status=SessionStatus.RUNNING)
    response = start_call(Client(), public_agent().id)
    assert response.status_code == 503
    assert response.json()["details"]["reason"] == "workers_busy"


def test_a_single_use_agent_is_not_spent_by_a_refused_call() -> None:
    agent = AgentFactory(kind="single_use", publish_status="public")
    assert start_call(Client(), agent.id).status_code == 503
    agent.refresh_from_db()
    assert agent.used_at is None


def test_an_agent_that_speaks_a_language_the_model_cannot_hear_is_refused_at_start() -> None:
    worker()
    agent = public_agent(stt={"language": "fr"})
    response = start_call(Client(), agent.id)
    assert response.status_code == 409
    assert "understands only English" in response.json()["error"]


def test_a_missing_piper_voice_is_named_at_start() -> None:
    worker()
    response = start_call(Client(), public_agent(tts={"voice_id": "en_GB-nobody"}).id)
    assert response.status_code == 409
    assert "en_GB-nobody" in response.json()["error"]


def test_ice_servers_are_served_as_iwy_widgets_expect(settings: Any) -> None:
    settings.VOICE_ICE_SERVERS = [{"urls": "stun:stun.example.com:3478"}]
    response = Client().get("/v1/ice-servers")
    assert response.json() == {
        "iceServers": [{"urls": "stun:stun.example.com:3478", "username": None, "credential": None}]
    }


def test_an_offer_for_a_call_whose_worker_is_gone_is_a_clear_503() -> None:
    gone = worker(stopped_at=timezone.now())
    session = SessionFactory(worker=gone, status=SessionStatus.STARTING)
    from sessions.tokens import session_token_issue

    response = Client().post(
        f"/v1/sessions/{session.id}/webrtc",
        {"type": "offer", "sdp": "v=0"},
        content_type="application/json",
        headers={"authorization": f"Bearer {session_token_issue(session_id=session.id)}"},
    )
    assert response.status_code == 503
    assert "not answering" in response.json()["error"]


def test_an_offer_needs_the_sessions_token(cast: Any) -> None:
    session = SessionFactory(worker=worker())
    response = Client().post(
        f"/v1/sessions/{session.id}/webrtc",
        {"type": "offer", "sdp": "v=0"},
        content_type="application/json",
    )
    assert response.status_code == 401


def test_a_silent_worker_is_given_up_and_its_calls_are_marked_failed() -> None:
    silent = worker(last_seen_at=timezone.now() - timedelta(minutes=2))
    alive = worker(name="alive")
    held = SessionFactory(worker=silent, status=SessionStatus.RUNNING)
    fine = SessionFactory(worker=alive, status=SessionStatus.RUNNING)

    assert workers_reap() == 1

    held.refresh_from_db()
    fine.refresh_from_db()
    silent.refresh_from_db()
    assert silent.stopped_at is not None
    assert held.status == SessionStatus.FAILED
    assert held.end_reason == "The voice worker holding this call stopped answering."
    assert fine.status == SessionStatus.RUNNING


def test_another_teams_call_is_not_found_and_a_garbage_offer_is_refused(
    cast: Any, outsider_api: Client, api: Client
) -> None:
    session = SessionFactory(agent=AgentFactory(team=cast.team), worker=worker())
    url = f"/v1/sessions/{session.id}/webrtc"
    offer = {"type": "offer", "sdp": "v=0"}
    assert outsider_api.post(url, offer, content_type="application/json").status_code == 404
    garbage = api.post(url, {"type": "answer", "sdp": ""}, content_type="application/json")
    assert 400 <= garbage.status_code < 500
    assert garbage.json()["error"]
