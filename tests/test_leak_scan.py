"""No secret comes back from an upstream that echoes the request.

Every secret a request may carry is seeded: the team's LLM provider key, a tool's bearer token,
Basic password, private header and HMAC secret, the team's API key, an agent's LLM key, the iwy
key, the Agora customer secret. Then the flows run against upstreams that answer with the
request's headers and body, with 200 and with 401/500: a visitor's chat (JSON and server-sent
events), chat completions, a tool's test (API and dashboard), a tool called in a chat, iwy
publishing, an Agora request. Every response body, every dashboard page of what happened, every
log line and every stored row (as stored: the encrypted columns too) is searched for each secret
as it is, in base64, and as Basic's user:password: none is found."""

import base64
import json
import logging
import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.test import Client
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agents.configuration import AgentConfiguration
from agents.models import Agent
from agora.client import AgoraFailed, agora_query
from agora.models import AgoraAccount
from completions.services import llm_key_create
from iwy.models import IwyAccount
from providers.models import Provider
from sessions.models import Session
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory
from tests.iwy.iwy_standin import IwyStandIn
from tests.llm_server import ScriptedLLM, calls, says
from tools.models import Tool, ToolExecution

pytestmark = pytest.mark.django_db

BASIC_USER = "robot"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Seeded:
    """The secrets of one test, and every text that must hold none of them."""

    provider_key: str = field(default_factory=lambda: "sk-proj-" + secrets.token_hex(16))
    bearer: str = field(default_factory=lambda: "brr" + secrets.token_hex(12))
    header: str = field(default_factory=lambda: "hv" + secrets.token_hex(12))
    password: str = field(default_factory=lambda: "pw" + secrets.token_hex(8))
    hmac: str = field(default_factory=lambda: "whsec_" + _b64(secrets.token_hex(12)))
    others: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def forms(self) -> dict[str, str]:
        """Each secret as it is and in base64, and Basic's pair: {form: what it is}."""
        named = {
            "provider key": self.provider_key,
            "bearer token": self.bearer,
            "header value": self.header,
            "basic password": self.password,
            "hmac secret": self.hmac,
            "basic user:password": f"{BASIC_USER}:{self.password}",
        } | {f"secret {n}": s for n, s in enumerate(self.others)}
        found = {}
        for name, secret in named.items():
            found[secret] = name
            found[_b64(secret)] = f"{name}, base64"
            found[_b64(secret).rstrip("=")] = f"{name}, base64"
        return found

    def keep(self, *texts: Any) -> None:
        for text in texts:
            self.seen.append(text if isinstance(text, str) else json.dumps(text, default=str))


def _stored_rows() -> Iterator[str]:
    """Every row of every table, as the database holds it (encrypted columns as ciphertext)."""
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            table = connection.ops.quote_name(model._meta.db_table)  # a model's, not input
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            for row in cursor.fetchall():
                yield f"{model._meta.label}: {row!r}"


def assert_no_secret(seeded: Seeded, caplog: pytest.LogCaptureFixture) -> None:
    logs = [f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    texts = seeded.seen + logs + list(_stored_rows())
    leaks = [
        f"{name} in {text[:300]!r}"
        for form, name in seeded.forms().items()
        for text in texts
        if form in text
    ]
    assert leaks == []
    assert len(seeded.seen) >= 2  # the scan looked at something


# The upstreams.


def _echo(request: Request) -> Response:
    """Answers with the request: its Authorization in the message, all headers, the body.
    /status/<code>/… answers with that status."""
    parts = request.path.split("/")
    status = int(parts[2]) if len(parts) > 2 and parts[1] == "status" else 200
    said = {
        "message": f"you sent Authorization: {request.headers.get('Authorization', '')}",
        "headers": dict(request.headers),
        "body": request.get_data(as_text=True),
    }
    return Response(json.dumps(said), status=status, mimetype="application/json")


@pytest.fixture
def echo(settings: Any) -> Iterator[HTTPServer]:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = HTTPServer(host="127.0.0.1")
    server.expect_request(re.compile(".*")).respond_with_handler(_echo)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


@pytest.fixture
def seeded(cast: Cast, caplog: pytest.LogCaptureFixture) -> Seeded:
    cache.clear()  # the session start limits count per address
    caplog.set_level(logging.DEBUG)
    return Seeded(others=[cast.key.secret, cast.read_only_key.secret])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tools(cast: Cast, seeded: Seeded, url: str) -> list[Tool]:
    auths = [
        {"type": "bearer", "token": seeded.bearer},
        {"type": "basic", "username": BASIC_USER, "password": seeded.password},
        {"type": "hmac", "secret": seeded.hmac},
        {"type": "none"},
    ]
    return [
        ToolFactory(
            team=cast.team,
            name=f"lookup_{n}",
            server_url=url,
            headers={"X-Private": seeded.header},
            auth_config=auth,
        )
        for n, auth in enumerate(auths)
    ]


def _agent(cast: Cast, base_url: str, seeded: Seeded, tools: list[Tool] = ()) -> Agent:  # type: ignore[assignment]
    Provider.objects.update_or_create(
        team=cast.team,
        kind="openai",
        defaults={"base_url": base_url, "credentials": {"api_key": seeded.provider_key}},
    )
    config = AgentConfiguration.model_validate(
        {
            "llm": {"provider": "openai", "custom_url": None, "model": "m"},
            "tool_calling": {"selected_tool_ids": [str(t.id) for t in tools]},
        }
    )
    return AgentFactory(team=cast.team, publish_status="public", configuration=config.as_document())


def _start(agent: Agent) -> tuple[str, str]:
    r = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return r.json()["sessionId"], r.json()["sessionToken"]


def _body(response: Any) -> str:
    if not response.streaming:
        return response.content.decode()

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


def _send(session_id: str, token: str, *, stream: bool) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    if stream:
        headers["Accept"] = "text/event-stream"
    r = Client().post(
        f"/api/v1/sessions/{session_id}/messages",
        {"content": "Hello?"},
        content_type="application/json",
        headers=headers,
    )
    assert r.status_code == 200, r.content
    return _body(r)


def _pages(cast: Cast, *paths: str) -> list[str]:
    owner = signed_in(cast.owner)
    pages = []
    for path in paths:
        r = owner.get(path)
        assert r.status_code == 200, path
        pages.append(r.content.decode())
    return pages


# The flows.


@pytest.mark.parametrize("status", [401, 500])
def test_a_visitors_chat_with_an_llm_that_echoes_its_refusal(
    cast: Cast, echo: HTTPServer, seeded: Seeded, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    agent = _agent(cast, echo.url_for(f"/status/{status}/v1"), seeded)
    session_id, token = _start(agent)
    answer = json.loads(_send(session_id, token, stream=False))
    streamed = _send(session_id, token, stream=True)
    assert answer["success"] is False
    assert answer["message"]["failed"] is True
    assert answer["code"] == "llm_http_error"
    assert "event: error" in streamed
    assert '"code": "llm_http_error"' in streamed
    where = f"{echo.host}:{echo.port}"
    assert where not in json.dumps(answer)
    assert where not in streamed
    assert "you sent" not in json.dumps(answer) + streamed  # the LLM's words stay on the timeline
    timeline = _pages(cast, f"/sessions/{session_id}/")
    assert "you sent Authorization: Bearer [REDACTED]" in timeline[0]
    seeded.keep(answer, streamed, *timeline)
    assert_no_secret(seeded, caplog)


def test_a_visitor_never_hears_the_llms_internal_address(
    cast: Cast, seeded: Seeded, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    port = _closed_port()
    session_id, token = _start(_agent(cast, f"http://127.0.0.1:{port}/v1", seeded))
    answer = json.loads(_send(session_id, token, stream=False))
    streamed = _send(session_id, token, stream=True)
    assert answer["success"] is False
    assert answer["code"] == "llm_unreachable"
    assert answer["error"] == "The agent's language model could not be reached."
    assert str(port) not in json.dumps(answer)
    assert str(port) not in streamed
    timeline = _pages(cast, f"/sessions/{session_id}/")[0]
    assert f"127.0.0.1:{port} refused the connection" in timeline  # the team sees where
    seeded.keep(answer, streamed, timeline)
    assert_no_secret(seeded, caplog)


@pytest.mark.parametrize("status", [401, 500])
def test_chat_completions_with_an_llm_that_echoes_its_refusal(
    cast: Cast, echo: HTTPServer, seeded: Seeded, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    agent = _agent(cast, echo.url_for(f"/status/{status}/v1"), seeded)
    _, key = llm_key_create(agent=agent)
    seeded.others.append(key)
    said = []
    for stream in (False, True):
        r = Client().post(
            f"/v1/agents/{agent.id}/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": stream},
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200, r.content
        said.append(_body(r))
    assert all(f"{echo.host}:{echo.port}" not in text for text in said)
    sessions = Session.objects.filter(agent=agent, metadata__source="chat_completions")
    assert len(sessions) == 2  # a conversation each, as no id was sent
    seeded.keep(*said, *_pages(cast, *[f"/sessions/{s.id}/" for s in sessions]))
    assert_no_secret(seeded, caplog)


@pytest.mark.parametrize("status", [200, 500])
def test_a_tools_test_against_a_webhook_that_echoes(
    cast: Cast,
    echo: HTTPServer,
    seeded: Seeded,
    caplog: pytest.LogCaptureFixture,
    api: Client,
    status: int,
) -> None:
    tools = _tools(cast, seeded, echo.url_for(f"/status/{status}/hook"))
    owner = signed_in(cast.owner)
    for tool in tools:
        by_api = api.post(
            f"/v1/tools/{tool.id}/test",
            {"parameters": {"city": "Paris"}},
            content_type="application/json",
        )
        assert by_api.status_code == 200, by_api.content
        assert by_api.json()["response_received"]["status"] == status
        by_page = owner.post(f"/tools/{tool.id}/test/", {"parameters": '{"city": "Oslo"}'})
        assert by_page.status_code in (200, 302)
        seeded.keep(by_api.content.decode(), _body(by_page))
    basic = ToolExecution.objects.filter(tool=tools[1]).first()
    assert basic is not None
    assert "[REDACTED]" in json.dumps(basic.response)
    for execution in ToolExecution.objects.all():
        seeded.keep(
            *_pages(
                cast,
                f"/tools/{execution.tool_id}/",
                f"/tools/{execution.tool_id}/calls/{execution.id}/",
            )
        )
    seeded.keep(*_pages(cast, "/tools/"))
    assert_no_secret(seeded, caplog)


def test_a_tool_called_in_a_chat_that_echoes(
    cast: Cast,
    echo: HTTPServer,
    llm: ScriptedLLM,
    seeded: Seeded,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = _tools(cast, seeded, echo.url_for("/status/200/hook"))
    session_id, token = _start(_agent(cast, llm.base_url, seeded, tools))
    llm.will(
        calls(*[(tool.name, {"city": "Paris"}) for tool in tools]),
        says("Done."),
        calls(*[(tool.name, {"city": "Oslo"}) for tool in tools]),
        says("Done again."),
    )
    seeded.keep(_send(session_id, token, stream=False), _send(session_id, token, stream=True))
    assert llm.headers[0]["Authorization"] == f"Bearer {seeded.provider_key}"  # it was sent
    seeded.keep(llm.requests)  # what the model was told of the tools' answers
    seeded.keep(*_pages(cast, f"/sessions/{session_id}/", "/sessions/"))
    assert_no_secret(seeded, caplog)


def test_iwy_echoing_the_key_in_its_refusal(
    cast: Cast, seeded: Seeded, caplog: pytest.LogCaptureFixture, api: Client, settings: Any
) -> None:
    standin = IwyStandIn().start()
    settings.IWY_API_URL = standin.url
    try:
        IwyAccount.objects.create(team=cast.team, credentials={"api_key": standin.key})
        seeded.others.append(standin.key)
        tool = _tools(cast, seeded, "https://hooks.example.com/tool")[3]
        for status in (401, 500):
            standin.fail("POST", "/tool", status, f"bad key: Bearer {standin.key}")
            r = api.post(f"/v1/tools/{tool.id}/iwy", {}, content_type="application/json")
            assert r.status_code == 502, r.content
            assert "[REDACTED]" in r.json()["error"]
            seeded.keep(r.content.decode())
        seeded.keep(*_pages(cast, f"/tools/{tool.id}/"))
    finally:
        standin.stop()
    assert_no_secret(seeded, caplog)


def test_agora_echoing_the_credentials_in_its_refusal(
    cast: Cast, echo: HTTPServer, seeded: Seeded, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    secret = "agora-" + secrets.token_hex(12)
    seeded.others += [secret, f"customer-1:{secret}"]
    credentials = {"app_id": "app1", "customer_id": "customer-1", "customer_secret": secret}
    account = AgoraAccount.objects.create(team=cast.team, credentials=credentials)
    for status in (401, 500):
        settings.AGORA_API_URL = echo.url_for(f"/status/{status}/agora")
        with pytest.raises(AgoraFailed) as failed:
            agora_query(account=account, agent_id="agent-1")
        assert "[REDACTED]" in failed.value.message
        seeded.keep(failed.value.message, failed.value.details)
    assert_no_secret(seeded, caplog)
