"""The voice worker's signalling server: it answers only the web processes (the worker
secret), only for calls placed on it, and refuses calls beyond its capacity."""

from typing import Any

import httpx
import pytest

from sessions.models import SessionStatus
from tests.factories import SessionFactory
from voice.models import VoiceWorker
from voice.signalling import worker_secret
from voice.worker import CallHandle

from .conftest import RunningWorker

pytestmark = pytest.mark.django_db(transaction=True)
OFFER = {"type": "offer", "sdp": "v=0"}


def post(running: RunningWorker, path: str, body: Any, secret: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {secret or worker_secret()}"}
    return httpx.post(running.worker.url + path, json=body, headers=headers, timeout=10)


def registered(running: RunningWorker) -> VoiceWorker:
    return VoiceWorker.objects.get(name="test", stopped_at__isnull=True)


def test_the_worker_registers_and_says_goodbye(voice_worker: RunningWorker) -> None:
    record = registered(voice_worker)
    assert record.capacity == 2
    assert httpx.get(voice_worker.worker.url + "/health").json() == {"capacity": 2, "calls": 0}
    voice_worker.stop()
    record.refresh_from_db()
    assert record.stopped_at is not None


def test_only_the_web_processes_may_signal(voice_worker: RunningWorker) -> None:
    session = SessionFactory(worker=registered(voice_worker))
    response = post(voice_worker, f"/calls/{session.id}/offer", OFFER, secret="guess")
    assert response.status_code == 401


def test_a_call_placed_elsewhere_is_not_found(voice_worker: RunningWorker) -> None:
    session = SessionFactory()
    assert post(voice_worker, f"/calls/{session.id}/offer", OFFER).status_code == 404


def test_an_ended_call_is_refused(voice_worker: RunningWorker) -> None:
    session = SessionFactory(worker=registered(voice_worker), status=SessionStatus.STOPPED)
    response = post(voice_worker, f"/calls/{session.id}/offer", OFFER)
    assert response.status_code == 409


def test_a_call_beyond_capacity_is_refused_as_busy(voice_worker: RunningWorker) -> None:
    worker = registered(voice_worker)
    for held in SessionFactory.create_batch(2, worker=worker):
        voice_worker.worker.calls[held.id] = CallHandle(held)
    session = SessionFactory(worker=worker)
    response = post(voice_worker, f"/calls/{session.id}/offer", OFFER)
    assert response.status_code == 503
    assert response.json()["reason"] == "workers_busy"
    voice_worker.worker.calls.clear()


def test_a_malformed_offer_is_a_clear_400(voice_worker: RunningWorker) -> None:
    session = SessionFactory(worker=registered(voice_worker))
    response = post(voice_worker, f"/calls/{session.id}/offer", {"sdp": 3})
    assert response.status_code == 400
    assert "type" in response.json()["error"]
