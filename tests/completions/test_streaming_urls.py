"""Every address Parley hands out for something that streams (an agent's chat completions, a
session's messages) points at the async server, CHAT_BASE_URL, where answers stream: under the
web (WSGI) server Django gathers a streamed answer whole before sending any of it.

Live, through the address handed out: the first piece of the reply reaches the client while the
scripted LLM still holds back its last piece (order, not timing)."""

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent
from tests.asgi import asgi_server
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory
from tests.http import post
from tests.llm_server import ScriptedLLM, says

ROOT = Path(__file__).resolve().parents[2]
ELSEWHERE = "http://chat.example:8001"
PIECES = ["The ", "line ", "is ", "open."]
# Where code names a streaming route, and the test that checks the address it hands out.
HANDOUTS = {
    "config/urls.py": "(the route itself)",
    "completions/views.py": "(its OpenAPI operation)",
    "completions/api.py": "test_every_streaming_address_handed_out_points_at_the_async_server",
    "completions/pages.py": "test_every_streaming_address_handed_out_points_at_the_async_server",
    "sessions/api.py": "test_every_streaming_address_handed_out_points_at_the_async_server",
    "agora/services.py": "tests/agora/test_start.py (llm.url under CHAT_BASE_URL)",
}


def _agent(cast: Cast, llm: ScriptedLLM) -> Agent:
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "scripted", "first_message": "Hi."}}
    ).as_document()
    return AgentFactory(team=cast.team, publish_status="public", configuration=document)


def _handed_out(api: Client, cast: Cast, agent: Agent) -> dict[str, str]:
    """Each streaming address Parley hands out, by where it was handed out."""
    key = post(api, f"/v1/agents/{agent.id}/llm-keys", {"name": "engine"}).json()
    page = signed_in(cast.owner).get(f"/agents/{agent.id}/").content.decode()
    shown = re.search(r'value="([^"]*/chat/completions)"', page)
    iwy = post(Client(), "/v1/start-agent-session", {"agentId": str(agent.id), "mode": "chat"})
    human = post(api, "/api/v1/sessions", {"agent_id": str(agent.id)}).json()
    return {
        "llm-keys API": key["completions_url"],
        "agent page": shown.group(1) if shown else "",
        "iwy start": iwy.json()["messagesUrl"],
        "Agent Human start": human["messages_url"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("chat_base_url", "base"), [(ELSEWHERE, ELSEWHERE), ("", "http://testserver")]
)
def test_every_streaming_address_handed_out_points_at_the_async_server(
    api: Client, cast: Cast, receiver: HTTPServer, settings: Any, chat_base_url: str, base: str
) -> None:
    settings.CHAT_BASE_URL = chat_base_url
    agent = _agent(cast, ScriptedLLM(receiver))
    handed_out = _handed_out(api, cast, agent)
    assert all(url.startswith(base + "/") for url in handed_out.values()), handed_out
    assert handed_out["llm-keys API"] == f"{base}/v1/agents/{agent.id}/chat/completions"
    assert handed_out["agent page"] == handed_out["llm-keys API"]


def _routes(resolver: URLResolver) -> Iterator[URLPattern]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern)
        elif isinstance(pattern, URLPattern):
            yield pattern


def test_no_other_code_hands_out_a_streaming_address() -> None:
    # A new place that names a streaming route must build its address with
    # config.addresses.async_url (or async_base) and be checked like those in HANDOUTS.
    streaming = {p.name for p in _routes(get_resolver()) if asyncio.iscoroutinefunction(p.callback)}
    assert streaming == {"agent_chat_completions", "session_messages"}
    naming = re.compile("[\"'](" + "|".join(streaming) + ")[\"']")
    files = {
        str(path.relative_to(ROOT))
        for path in ROOT.glob("*/**/*.py")
        if path.relative_to(ROOT).parts[0] not in {"tests", "bench", ".venv"}
        and "migrations" not in path.parts
        and naming.search(path.read_text())
    }
    assert files == set(HANDOUTS)


# Live: Parley's async server as `make run` starts it, reached at the address handed out.


@pytest.fixture
def asgi(tmp_path: Path, settings: Any) -> Iterator[str]:
    with asgi_server(tmp_path / "uvicorn.log") as url:
        settings.CHAT_BASE_URL = url
        yield url


@pytest.mark.django_db(transaction=True)
def test_chat_completions_stream_through_the_handed_out_address_with_the_openai_sdk(
    asgi: str, api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver)
    agent = _agent(cast, llm)
    made = post(api, f"/v1/agents/{agent.id}/llm-keys", {"name": "engine"}).json()
    assert made["completions_url"].startswith(asgi + "/")
    held = threading.Event()
    llm.will(says(*PIECES, hold_last=held))

    base_url = made["completions_url"].removesuffix("/chat/completions")
    client = openai.OpenAI(base_url=base_url, api_key=made["key"], max_retries=0, timeout=60)
    received = []  # (text, whether the LLM had been let go when it arrived)
    stream = client.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "Open?"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append((chunk.choices[0].delta.content, held.is_set()))
            held.set()

    assert received[0] == ("The ", False)
    assert "".join(text for text, _ in received) == "The line is open."
    assert llm.released == [True]  # let go by the first piece, not after waiting it out


@pytest.mark.django_db(transaction=True)
def test_a_sessions_messages_stream_through_the_handed_out_address(
    asgi: str, cast: Cast, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver)
    agent = _agent(cast, llm)
    started = post(Client(), "/v1/start-agent-session", {"agentId": str(agent.id), "mode": "chat"})
    messages_url = started.json()["messagesUrl"]
    assert messages_url.startswith(asgi + "/")
    held = threading.Event()
    llm.will(says(*PIECES, hold_last=held))

    received = []
    headers = {
        "Authorization": f"Bearer {started.json()['sessionToken']}",
        "Accept": "text/event-stream",
    }
    body = {"content": "Open?"}
    with httpx.stream("POST", messages_url, json=body, headers=headers, timeout=60) as r:
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "token":
                received.append((json.loads(line.removeprefix("data: "))["text"], held.is_set()))
                held.set()

    assert received[0] == ("The ", False)
    assert "".join(text for text, _ in received) == "The line is open."
    assert llm.released == [True]
