"""Property-based runs of both APIs from their own OpenAPI documents (/v1 and Agent Human's
/api/v1, the async messages and chat-completions endpoints included): no input gives a 5xx, and
every error comes in the API's error shape. Then each operation that takes a body gets each body
that Python's json reads and JSON does not allow, and one over the size limit."""

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings

from agents.models import Agent
from completions.services import llm_key_create
from config.api import agent_human_api, api
from config.wsgi import application
from tests.conftest import Cast
from tests.factories import AgentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

COMPLETIONS = "/v1/agents/{agent_id}/chat/completions"
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", application)
agent_human_schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _keep_the_test_transactions_connection() -> Iterator[None]:
    """Calls go straight to the WSGI app, so, as Django's test client does, stop the
    end-of-request hook from closing the connection that holds the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def agent_key(cast: Cast) -> tuple[Agent, str]:
    """An agent and its LLM key, for chat completions, which take no API key."""
    agent = AgentFactory(team=cast.team)
    return agent, llm_key_create(agent=agent)[1]


def assert_in_shape(path: str, status: int, body: Any, *, agent_human: bool = False) -> None:
    assert status < 500, body
    if status < 400:
        return
    if path == COMPLETIONS and set(body) == {"error"}:  # OpenAI's shape, which its SDKs read
        assert {"message", "type", "code"} <= set(body["error"]), body
        return
    expected = {"error", "code", "details"} | ({"success"} if agent_human else set())
    assert set(body) == expected, body
    assert body["error"]


@schema.parametrize()
@FUZZ
def test_no_input_makes_the_api_fail(
    case: schemathesis.Case, cast: Cast, agent_key: tuple[Agent, str]
) -> None:
    headers = {"x-api-key": cast.key.secret}
    if case.operation.path == COMPLETIONS:
        case.path_parameters = {"agent_id": str(agent_key[0].id)}
        headers = {"Authorization": f"Bearer {agent_key[1]}"}
    response = case.call(headers=headers)
    assert_in_shape(case.operation.path, response.status_code, _json(response.text))


@agent_human_schema.parametrize()
@FUZZ
def test_no_input_makes_the_agent_human_api_fail(case: schemathesis.Case, cast: Cast) -> None:
    response = case.call(headers={"x-api-key": cast.key.secret})
    assert_in_shape(
        case.operation.path, response.status_code, _json(response.text), agent_human=True
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # not JSON: the shape check fails, showing it


# Hostile bodies, on every operation of both documents that takes one.

DEEP = "[" * 5000 + "]" * 5000
HOSTILE = {
    "nan": "NaN",
    "infinity": "Infinity",
    "overflow": "1e309",
    "deep": DEEP,
    "lone surrogate": '"lone \\ud800 surrogate"',
    "nul": '"a\\u0000b"',
}


def _operations() -> list[tuple[str, str, dict[str, Any], bool]]:
    """(method, path, operation, agent_human) of each operation with a JSON body."""
    found = []
    for ninja, agent_human in [(api, False), (agent_human_api, True)]:
        document = ninja.get_openapi_schema()
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if "requestBody" in operation:
                    found.append((method, path, operation, agent_human))
    return found


def _fields(operation: dict[str, Any], ninja_document: dict[str, Any]) -> list[str]:
    """The body's top-level fields, so that the hostile value sits where input is read."""
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    if ref := body.get("$ref"):
        body = ninja_document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return list(body.get("properties", {})) or ["value"]


def _url(path: str, operation: dict[str, Any], agent: Agent) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        param = next(p for p in operation.get("parameters", []) if p["name"] == name)
        if path == COMPLETIONS:
            return str(agent.id)
        if enum := param["schema"].get("enum"):
            return str(enum[0])
        return "1" if param["schema"].get("type") == "integer" else str(uuid.uuid4())

    return re.sub(r"\{(\w+)\}", value, path)


OPERATIONS = _operations()
DOCUMENTS = {False: api.get_openapi_schema(), True: agent_human_api.get_openapi_schema()}


def _send(
    method: str,
    path: str,
    operation: dict[str, Any],
    raw: bytes,
    cast: Cast,
    key: tuple[Agent, str],
) -> Any:
    headers = (
        {"Authorization": f"Bearer {key[1]}"}
        if path == COMPLETIONS
        else {"x-api-key": cast.key.secret}
    )
    client = Client(headers=headers, raise_request_exception=False)
    return getattr(client, method)(
        _url(path, operation, key[0]), raw, content_type="application/json"
    )


def test_the_documents_hold_the_async_endpoints() -> None:
    paths = {path for _, path, _, _ in OPERATIONS}
    assert {COMPLETIONS, "/api/v1/sessions/{session_id}/messages"} <= paths
    for _, path, operation, _ in OPERATIONS:
        assert {"400", "401", "404", "413"} <= set(operation["responses"]), path


@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_no_hostile_body_makes_an_operation_fail(
    hostile: str, cast: Cast, agent_key: tuple[Agent, str]
) -> None:
    for method, path, operation, agent_human in OPERATIONS:
        fields = _fields(operation, DOCUMENTS[agent_human])
        raw = "{" + ", ".join(f'"{field}": {HOSTILE[hostile]}' for field in fields) + "}"
        response = _send(method, path, operation, raw.encode(), cast, agent_key)
        where = f"{method.upper()} {path}"
        assert response.status_code == 400, (where, response.content)
        assert_in_shape(path, response.status_code, response.json(), agent_human=agent_human)


def test_no_body_over_the_limit_reaches_an_operation(
    cast: Cast, agent_key: tuple[Agent, str], settings: Any
) -> None:
    raw = json.dumps({"value": "x" * settings.API_MAX_BODY_BYTES}).encode()
    for method, path, operation, _ in OPERATIONS:
        response = _send(method, path, operation, raw, cast, agent_key)
        assert response.status_code == 413, (method, path, response.content)
        assert response.json()["code"] == "payload_too_large"
