"""The ASGI process as `make run` starts it (uvicorn, config.asgi), on PostgreSQL: its pool lends a
connection for each step of a conversation, so more conversations than connections can wait on
the LLM at once. Were a connection held while the LLM thinks, the pool would run out, and the
messages beyond its size would fail after DB_POOL_TIMEOUT."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from sessions.models import EventKind, SessionEvent
from tests.asgi import asgi_server
from tests.conftest import Cast
from tests.factories import AgentFactory
from tests.llm_server import ScriptedLLM, says

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the connection pool is PostgreSQL's",
    ),
]

POOL_SIZE = 2
CONVERSATIONS = 6
LLM_THINKS = 2.0  # seconds, once all are waiting: longer than the pool's timeout


@pytest.fixture
def asgi(tmp_path: Path) -> Iterator[str]:
    pool = {"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": str(POOL_SIZE), "DB_POOL_TIMEOUT": "1"}
    with asgi_server(tmp_path / "uvicorn.log", **pool) as url:
        yield url


def _start(cast: Cast, llm: ScriptedLLM) -> dict[str, Any]:
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "m", "first_message": ""}}
    ).as_document()
    agent = AgentFactory(team=cast.team, publish_status="public", configuration=document)
    r = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return r.json()


def _converse(server: str, started: dict[str, Any]) -> str:
    url = f"{server}/api/v1/sessions/{started['sessionId']}/messages"
    headers = {"Authorization": f"Bearer {started['sessionToken']}", "Accept": "text/event-stream"}
    r = httpx.post(url, json={"content": "Are you there?"}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def test_more_conversations_than_pooled_connections_wait_on_the_llm_at_once(
    asgi: str, cast: Cast, receiver: HTTPServer, settings: Any
) -> None:
    settings.SESSION_STARTS_PER_ADDRESS_PER_MINUTE = 1000
    settings.SESSION_ANONYMOUS_MAX_PER_ADDRESS = 1000  # every visitor here is 127.0.0.1
    llm = ScriptedLLM(receiver)
    sessions = [_start(cast, llm) for _ in range(CONVERSATIONS)]
    # Each reply starts only once every conversation is waiting on the LLM: together, not
    # one pool-full after another.
    together = threading.Barrier(CONVERSATIONS)
    llm.will(*(says("Here.", first_token_delay=LLM_THINKS, together=together) for _ in sessions))

    with ThreadPoolExecutor(CONVERSATIONS) as pool:
        streams = list(pool.map(lambda s: _converse(asgi, s), sessions))

    assert all("event: done" in stream and "event: error" not in stream for stream in streams)
    assert llm.met == [True] * CONVERSATIONS
    replies = SessionEvent.objects.filter(kind=EventKind.MESSAGE, data__role="assistant")
    assert sorted(replies.values_list("data__content", flat=True)) == ["Here."] * CONVERSATIONS
