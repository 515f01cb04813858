"""A voice worker in this process, on its own event loop in a thread, serving on loopback;
and a browser stand-in (tests/voice/peer.py) to call it."""

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.loopback import free_port
from voice.models import VoiceWorker
from voice.worker import Worker


class RunningWorker:
    def __init__(self, capacity: int) -> None:
        port = free_port()
        self.worker = Worker(name="test", url=f"http://127.0.0.1:{port}", capacity=capacity)
        self.loop = asyncio.new_event_loop()
        serve = self.worker.serve("127.0.0.1", port, signals=False)
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(serve,))
        self.thread.start()
        deadline = time.monotonic() + 30  # a safety net for a loaded machine
        while not VoiceWorker.objects.filter(name="test", stopped_at__isnull=True).exists():
            assert time.monotonic() < deadline, "the voice worker did not register"
            time.sleep(0.05)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.worker.stopping.set)
        self.thread.join(20)


@pytest.fixture(autouse=True)
def _start_limits_cleared() -> None:
    """Calls start from one address in these tests; the per-address limit counts in the cache."""
    cache.clear()


@pytest.fixture
def voice_worker(transactional_db: None, settings: Any) -> Iterator[RunningWorker]:
    settings.VOICE_LOG_LEVEL = os.environ.get("VOICE_LOG_LEVEL", "WARNING")
    settings.VOICE_HEARTBEAT_SECONDS = 1
    running = RunningWorker(capacity=2)
    yield running
    running.stop()


def start_call(client: Client, agent_id: Any, mode: str = "voice") -> Any:
    return client.post(
        "/v1/start-agent-session",
        {"agentId": str(agent_id), "mode": mode},
        content_type="application/json",
    )


def send_offer(client: Client, started: dict[str, Any], offer: dict[str, str]) -> Any:
    return client.post(
        started["offerUrl"],
        offer,
        content_type="application/json",
        headers={"authorization": f"Bearer {started['sessionToken']}"},
    )
