"""Every kind of endpoint that reads JSON refuses what JSON does not allow with a 400 (or 413) in
its own error shape: the ninja APIs (sync), the messages endpoint and chat completions (async),
and the ASGI server before them; and a session whose stored text is broken still reads."""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db import connection
from django.test import Client
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent
from completions.services import llm_key_create
from config.middleware import BodyLimit
from sessions.models import EventKind, Session, SessionEvent
from tests.asgi import asgi_server
from tests.conftest import Cast, signed_in, wait_until_logged
from tests.factories import AgentFactory
from tests.llm_server import ScriptedLLM, says

SURROGATE = '"lone \\ud800 surrogate"'  # as a JSON escape, the way a client sends it
# (name, raw JSON value, what the refusal says)
HOSTILE = [
    ("nan", "NaN", "NaN is not a JSON number"),
    ("infinity", "-Infinity", "Infinity is not a JSON number"),
    ("overflow", "1e309", "number too large"),
    ("huge integer", "1" + "0" * 30, "integer too large"),
    ("deep", "[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
    ("lone surrogate", SURROGATE, "lone surrogate"),
    ("nul", '"a\\u0000b"', "NUL character"),
]
IDS = [name for name, _, _ in HOSTILE]


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()  # sessions started from one address are rate-limited


def an_agent(cast: Cast, llm_url: str = "http://127.0.0.1:9/v1") -> Agent:
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm_url, "model": "m", "first_message": ""}}
    ).as_document()
    return AgentFactory(team=cast.team, publish_status="public", configuration=document)


def started(agent: Agent) -> dict[str, Any]:
    r = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return dict(r.json())


def post_raw(path: str, raw: str, **headers: str) -> Any:
    return Client().post(path, raw.encode(), content_type="application/json", headers=headers)


def message_events(session_id: str) -> list[str]:
    events = SessionEvent.objects.filter(session_id=session_id, kind=EventKind.MESSAGE)
    return list(events.values_list("data__content", flat=True))


# Each hostile value, on each kind of endpoint.


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "value", "says"), HOSTILE, ids=IDS)
def test_the_ninja_api_refuses_it(cast: Cast, name: str, value: str, says: str) -> None:
    raw = f'{{"name": "Desk", "metadata": {{"note": {value}}}}}'
    r = post_raw("/v1/agents", raw, **{"x-api-key": cast.key.secret})
    assert r.status_code == 400, r.content
    body = r.json()
    assert set(body) == {"error", "code", "details"}
    assert says in body["error"]
    assert not Agent.objects.filter(name="Desk").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("cost", ["inf", "-Infinity", "NaN"])
def test_a_number_sent_as_text_that_is_not_finite_is_refused(cast: Cast, cost: str) -> None:
    body = {"name": "Desk", "configuration": {"llm": {"cost_per_minute": cost}}}
    r = Client().post(
        "/v1/agents", body, content_type="application/json", headers={"x-api-key": cast.key.secret}
    )
    assert r.status_code == 400, r.content
    assert r.json()["details"]["errors"][0]["field"] == "configuration.llm.cost_per_minute"
    assert not Agent.objects.filter(name="Desk").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "value", "says"), HOSTILE, ids=IDS)
def test_the_agent_human_api_refuses_it(cast: Cast, name: str, value: str, says: str) -> None:
    agent = an_agent(cast)
    raw = f'{{"agent_id": "{agent.id}", "metadata": {{"note": {value}}}}}'
    r = post_raw("/api/v1/sessions", raw, **{"x-api-key": cast.key.secret})
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["success"] is False
    assert says in body["error"] + json.dumps(body["details"])
    assert not Session.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("stream", [False, True], ids=["json", "event-stream"])
@pytest.mark.parametrize(("name", "value", "says"), HOSTILE, ids=IDS)
def test_the_messages_endpoint_refuses_it_before_any_stream(
    cast: Cast, name: str, value: str, says: str, stream: bool
) -> None:
    session = started(an_agent(cast))
    accept = "text/event-stream" if stream else "application/json"
    headers = {"Authorization": f"Bearer {session['sessionToken']}", "Accept": accept}
    content = value if name in ("lone surrogate", "nul") else '"Hi"'
    raw = f'{{"content": {content}, "extra": {value}}}'
    r = post_raw(f"/api/v1/sessions/{session['sessionId']}/messages", raw, **headers)
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == "application/json"  # a refusal, not a stream cut short
    body = r.json()
    assert set(body) == {"success", "error", "code", "details"}
    assert says in body["error"]
    assert message_events(session["sessionId"]) == []
    assert Session.objects.get(id=session["sessionId"]).replying_since is None


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "value", "says"), HOSTILE, ids=IDS)
def test_chat_completions_refuse_it_in_openais_shape(
    cast: Cast, name: str, value: str, says: str
) -> None:
    agent = an_agent(cast)
    secret = llm_key_create(agent=agent)[1]
    raw = f'{{"messages": [{{"role": "user", "content": {value}}}], "model": "m"}}'
    r = post_raw(f"/v1/agents/{agent.id}/chat/completions", raw, Authorization=f"Bearer {secret}")
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_a_body_over_the_limit_is_413_on_the_async_endpoints_too(cast: Cast, settings: Any) -> None:
    settings.API_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    agent = an_agent(cast)
    session = started(agent)
    raw = json.dumps({"content": "x" * 2000, "messages": [{"role": "user", "content": "x"}]})
    secret = llm_key_create(agent=agent)[1]
    for path, auth in [
        (f"/api/v1/sessions/{session['sessionId']}/messages", session["sessionToken"]),
        (f"/v1/agents/{agent.id}/chat/completions", secret),
    ]:
        r = post_raw(path, raw, Authorization=f"Bearer {auth}")
        assert r.status_code == 413, r.content
        assert "over 1 KiB" in r.content.decode()


# A stored lone surrogate, from before: the session's pages load again.


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite could store one")
def test_a_session_with_a_stored_lone_surrogate_still_reads(cast: Cast) -> None:
    session = started(an_agent(cast))
    event = SessionEvent.objects.create(
        session_id=session["sessionId"], seq=99, kind=EventKind.MESSAGE, data={}
    )
    with connection.cursor() as cursor:  # as an older Parley stored it: the escape unrepaired
        cursor.execute(
            "UPDATE conversations_sessionevent SET data = %s WHERE id = %s",
            [json.dumps({"role": "user", "content": "lone \ud800 surrogate"}), event.pk],
        )
    owner = signed_in(cast.owner)
    for page in ("", "timeline/"):
        r = owner.get(f"/sessions/{session['sessionId']}/{page}")
        assert r.status_code == 200
        assert "lone \ufffd surrogate" in r.content.decode()


def read_stream(response: Any) -> str:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_an_llm_that_streams_a_lone_surrogate_is_stored_and_shown_valid(
    cast: Cast, receiver: HTTPServer, accept: str
) -> None:
    llm = ScriptedLLM(receiver).will(says("broken \ud800 text"))
    session = started(an_agent(cast, llm.base_url))
    r = Client().post(
        f"/api/v1/sessions/{session['sessionId']}/messages",
        {"content": "Hi"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {session['sessionToken']}", "Accept": accept},
    )
    assert r.status_code == 200
    if accept == "text/event-stream":
        stream = read_stream(r)
        assert "event: done" in stream  # the whole reply, not a stream cut short
        assert '"text": "broken \ufffd text"' in stream
    else:
        assert r.json()["message"]["content"] == "broken \ufffd text"
    assert message_events(session["sessionId"]) == ["Hi", "broken \ufffd text"]
    page = signed_in(cast.owner).get(f"/sessions/{session['sessionId']}/")
    assert "broken \ufffd text" in page.content.decode()


# The real ASGI server (uvicorn, config.asgi), as `make run` starts it.


@pytest.fixture
def asgi(tmp_path: Path) -> Iterator[str]:
    with asgi_server(tmp_path / "uvicorn.log") as url:
        yield url


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON body sent chunked, without Content-Length."""
    yield b'{"name": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


@pytest.mark.django_db(transaction=True)
def test_the_asgi_server_refuses_a_chunked_body_over_the_limit_and_reads_one_within(
    asgi: str, cast: Cast
) -> None:
    headers = {"x-api-key": cast.key.secret, "Content-Type": "application/json"}
    over = httpx.post(f"{asgi}/v1/agents", content=_chunks(2 * 1024 * 1024), headers=headers)
    assert over.request.headers.get("Transfer-Encoding") == "chunked"
    assert over.status_code == 413, over.text
    assert over.json() == {
        "error": "The request body is over 1024 KiB.",
        "code": "payload_too_large",
        "details": {},
    }
    messages = f"{asgi}/api/v1/sessions/{uuid.uuid4()}/messages"
    over = httpx.post(messages, content=_chunks(2 * 1024 * 1024), headers=headers)
    assert over.status_code == 413, over.text
    assert over.json()["success"] is False  # in Agent Human's shape there
    hostile = iter([b'{"name": "Desk", ', b'"metadata": {"a": NaN}}'])
    within = httpx.post(f"{asgi}/v1/agents", content=hostile, headers=headers)
    assert within.status_code == 400, within.text  # read, and refused by the JSON reader
    assert within.json()["code"] == "invalid_json"
    assert not Agent.objects.filter(name="Desk").exists()


def _first_reply_seq(session_id: str) -> int | None:
    reply = SessionEvent.objects.filter(
        session_id=session_id, kind=EventKind.MESSAGE, data__content="The first answer."
    ).first()
    return reply.seq if reply else None


@pytest.mark.django_db(transaction=True)
def test_a_client_that_leaves_a_stream_frees_the_turn(
    asgi: str, cast: Cast, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver)
    llm.will(says("The first answer.", first_token_delay=8), says("The second answer."))
    session = started(an_agent(cast, llm.base_url))
    url = f"{asgi}/api/v1/sessions/{session['sessionId']}/messages"
    auth = {"Authorization": f"Bearer {session['sessionToken']}"}
    stream = auth | {"Accept": "text/event-stream"}
    with httpx.stream("POST", url, json={"content": "First?"}, headers=stream) as left:
        assert left.status_code == 200  # the stream began; the client leaves before the reply

    second = httpx.post(url, json={"content": "Second?"}, headers=auth, timeout=30)
    for _ in range(50):  # the server may hear of the disconnection a moment later
        if second.status_code != 409:
            break
        time.sleep(0.1)
        second = httpx.post(url, json={"content": "Second?"}, headers=auth, timeout=30)
    assert second.status_code == 200, second.text
    assert second.json()["message"]["content"] == "The second answer."

    wait_until_logged(receiver, 2, timeout=30)  # the first reply is still finished...
    deadline = time.monotonic() + 30
    while _first_reply_seq(session["sessionId"]) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    said = message_events(session["sessionId"])
    # ...and recorded, after the second message was taken: nothing is lost, nothing waited.
    assert said[:3] == ["First?", "Second?", "The second answer."]
    assert said[3:] == ["The first answer."]


def test_the_asgi_guard_stops_reading_an_endless_body() -> None:
    """A client that never stops sending is answered 413 once the limit is passed (and as much
    again read and dropped), and Parley's app never sees the request."""
    read: list[int] = []
    sent: list[dict[str, Any]] = []

    async def endless() -> dict[str, Any]:
        read.append(1)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app was called")

    scope = {"type": "http", "path": "/v1/agents", "headers": [], "method": "POST"}
    async_to_sync(BodyLimit(app, limit=64 * 1024))(scope, endless, send)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "payload_too_large"
    assert len(read) <= 2 * 64 + 2
