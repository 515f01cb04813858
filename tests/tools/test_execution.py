"""The tool execution engine against a real webhook receiver on loopback: what it sends, how it
signs, what the agent's LLM gets back, and what is recorded."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sessions.models import EventKind
from tests.conftest import wait_until_logged
from tests.factories import SessionFactory, ToolFactory
from tools.execution import ToolRun, tool_execute
from tools.models import ExecutionOutcome, ExecutionSource, Tool, ToolExecution
from tools.services import tool_executions_prune
from tools.spec import REDACTED

pytestmark = pytest.mark.django_db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "tok-3b9e1f"
API_KEY = "key-7c2d4a"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}


def run(tool: Tool, arguments: Any, **kwargs: Any) -> ToolRun:
    return async_to_sync(tool_execute)(tool=tool, arguments=arguments, **kwargs)


def hook_tool(receiver: HTTPServer, **fields: Any) -> Tool:
    defaults: dict[str, Any] = {
        "name": "get_weather",
        "server_url": receiver.url_for("/hook"),
        "parameters_schema": SCHEMA,
        "timeout_seconds": 5,
    }
    return ToolFactory(**(defaults | fields))


def received(receiver: HTTPServer, index: int = -1) -> Request:
    return receiver.log[index][0]


def standard_webhooks_valid(secret: str, headers: Any, body: bytes) -> bool:
    """The receiving end of the Standard Webhooks scheme, written from its specification."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s[:3] == "v1,"]
    return any(hmac.compare_digest(expected, s) for s in offered)


# The request.


def test_a_post_tool_sends_its_payload_and_headers(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook", method="POST").respond_with_json({"temp": 18})
    tool = hook_tool(receiver, headers={"X-Api-Key": API_KEY, "Accept": "application/json"})
    result = run(tool, {"city": "Paris"})
    request = received(receiver)
    assert request.get_json() == {
        "tool_id": str(tool.id),
        "tool_name": "get_weather",
        "parameters": {"city": "Paris"},
        "session": None,
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Api-Key"] == API_KEY
    assert request.headers["User-Agent"].startswith("Parley-Webhooks/")
    assert result.result == '{"temp":18}'
    assert result.ok


def test_a_session_is_described_in_the_payload_and_gets_a_timeline_event(
    receiver: HTTPServer,
) -> None:
    receiver.expect_request("/hook").respond_with_json({"temp": 18})
    tool = hook_tool(receiver)
    session = SessionFactory(team=tool.team, metadata={"customer": "c-42"})
    run(tool, {"city": "Paris"}, session=session)
    assert received(receiver).get_json()["session"] == {
        "id": str(session.id),
        "agent_id": str(session.agent_id),
        "metadata": {"customer": "c-42"},
    }
    event = session.events.get(kind=EventKind.TOOL_CALL)
    assert event.data["tool_name"] == "get_weather"
    assert event.data["arguments"] == {"city": "Paris"}
    assert event.data["result"] == '{"temp":18}'
    assert event.data["outcome"] == "success"
    assert event.data["execution_id"] == str(ToolExecution.objects.get().id)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_send_the_parameters_as_a_query_string(
    receiver: HTTPServer, method: str
) -> None:
    receiver.expect_request("/hook", method=method).respond_with_data("done")
    schema = {"type": "object", "properties": {}}
    tool = hook_tool(receiver, method=method, parameters_schema=schema)
    run(tool, {"city": "São Paulo", "days": 3, "metric": True, "tags": ["a", "b"]})
    request = received(receiver)
    assert request.args.to_dict() == {
        "city": "São Paulo",
        "days": "3",
        "metric": "true",
        "tags": '["a","b"]',
    }
    assert request.get_data() == b""


AUTHS = [
    ({"type": "bearer", "token": TOKEN}, "Authorization", f"Bearer {TOKEN}"),
    (
        {"type": "basic", "username": "robot", "password": "pw-9d1"},
        "Authorization",
        "Basic " + base64.b64encode(b"robot:pw-9d1").decode(),
    ),
    ({"type": "header", "header_name": "X-Token", "header_value": TOKEN}, "X-Token", TOKEN),
]


@pytest.mark.parametrize(("auth", "header", "value"), AUTHS)
def test_auth_config_becomes_the_right_header(
    receiver: HTTPServer, auth: dict[str, str], header: str, value: str
) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    run(hook_tool(receiver, auth_config=auth), {"city": "Paris"})
    assert received(receiver).headers[header] == value


def test_hmac_auth_signs_the_body_as_standard_webhooks_specifies(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    tool = hook_tool(receiver, auth_config={"type": "hmac", "secret": SECRET})
    before = int(time.time())
    run(tool, {"city": "Paris"})
    after = time.time()
    request = received(receiver)
    assert standard_webhooks_valid(SECRET, request.headers, request.get_data())
    assert before <= int(request.headers["webhook-timestamp"]) <= after  # signed as it was sent
    assert request.headers["webhook-id"] == f"msg_{ToolExecution.objects.get().id.hex}"
    other = "whsec_" + base64.b64encode(b"another key, 32 bytes long......").decode()
    assert not standard_webhooks_valid(other, request.headers, request.get_data())


def test_a_get_tool_signs_the_empty_body(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    auth = {"type": "hmac", "secret": SECRET}
    run(hook_tool(receiver, method="GET", auth_config=auth), {"city": "Paris"})
    request = received(receiver)
    assert standard_webhooks_valid(SECRET, request.headers, b"")


# The arguments.


def test_strict_params_refuse_bad_arguments_naming_each_without_calling(
    receiver: HTTPServer,
) -> None:
    tool = hook_tool(receiver, strict_params=True)
    result = run(tool, {"days": 0, "country": "FR"})
    assert receiver.log == []
    fields = {(p.field, p.message) for p in result.problems}
    assert ("parameters.city", "is required") in fields
    assert ("parameters.country", "is not a parameter of this tool") in fields
    assert ("parameters.days", "0 is less than the minimum of 1") in fields
    assert result.execution.outcome == ExecutionOutcome.INVALID_ARGUMENTS
    assert result.result.startswith("Error: the arguments for get_weather are not valid:")
    assert "parameters.city is required" in result.result


def test_without_strict_params_the_call_goes_ahead_and_the_problems_are_reported(
    receiver: HTTPServer,
) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    result = run(hook_tool(receiver), {"country": "FR"})
    assert received(receiver).get_json()["parameters"] == {"country": "FR"}
    assert [p.field for p in result.problems] == ["parameters.city"]
    assert result.ok


def test_arguments_that_are_not_an_object_are_never_sent(receiver: HTTPServer) -> None:
    result = run(hook_tool(receiver), ["Paris"])
    assert receiver.log == []
    assert result.execution.outcome == ExecutionOutcome.INVALID_ARGUMENTS
    assert result.execution.arguments == {"not_an_object": ["Paris"]}


# What the LLM gets.


def test_a_long_reply_is_cut_for_the_llm_saying_so(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("x" * 500, content_type="text/plain")
    with override_settings(TOOL_RESULT_MAX_CHARS=100):
        result = run(hook_tool(receiver), {"city": "Paris"})
    assert result.result == "x" * 100 + "… [cut: the reply was 500 characters]"


def test_an_empty_reply_is_still_a_result(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("", status=204)
    assert run(hook_tool(receiver), {"city": "Paris"}).result == "OK (the tool returned no content)"


FAILURES = [
    ("/hook", 500, "the webhook answered 500 INTERNAL SERVER ERROR: boom", "http_error"),
    ("/hook", 404, "the webhook answered 404 NOT FOUND: boom", "http_error"),
]


@pytest.mark.parametrize(("path", "status", "said", "outcome"), FAILURES)
def test_a_failing_webhook_becomes_a_short_error_for_the_llm(
    receiver: HTTPServer, path: str, status: int, said: str, outcome: str
) -> None:
    receiver.expect_request(path).respond_with_data("boom", status=status)
    result = run(hook_tool(receiver), {"city": "Paris"})
    assert result.result == f"Error: the tool get_weather failed: {said}"
    assert result.execution.outcome == outcome
    assert result.execution.status_code == status


def test_a_timeout_is_an_error_string_not_an_exception(receiver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response("late")

    receiver.expect_request("/hook").respond_with_handler(slow)
    result = run(hook_tool(receiver, timeout_seconds=1), {"city": "Paris"})
    assert result.result == (
        "Error: the tool get_weather failed: no complete reply within 1 seconds"
    )
    assert result.execution.outcome == ExecutionOutcome.TIMEOUT
    assert 900 <= result.execution.duration_ms < 1400
    wait_until_logged(receiver, 1)


def test_a_refused_address_is_explained(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    tool = ToolFactory(name="crm_lookup", server_url="http://10.0.0.5:8080/lookup")
    result = run(tool, {"city": "Paris"})
    assert result.execution.outcome == ExecutionOutcome.REFUSED
    assert result.execution.error == (
        "10.0.0.5 is a private address; ask your operator to allow it (OUTBOUND_ALLOWED_NETWORKS)"
    )
    assert result.result.startswith("Error: the tool crm_lookup failed: 10.0.0.5 is a private")


# The record.


def test_every_call_is_recorded_with_secrets_redacted(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_json({"temp": 18}, headers={"X-Region": "eu"})
    tool = hook_tool(
        receiver,
        headers={"X-Api-Key": API_KEY, "Accept": "application/json"},
        auth_config={"type": "bearer", "token": TOKEN},
    )
    run(tool, {"city": "Paris"})
    record = ToolExecution.objects.get()
    assert record.tool == tool
    assert record.team == tool.team
    assert record.source == ExecutionSource.AGENT
    assert record.outcome == ExecutionOutcome.SUCCESS
    assert record.status_code == 200
    assert record.duration_ms is not None
    assert record.finished_at is not None
    assert record.arguments == {"city": "Paris"}
    assert record.request["headers"]["X-Api-Key"] == REDACTED
    assert record.request["headers"]["Authorization"] == REDACTED
    assert record.request["headers"]["Accept"] == "application/json"
    assert record.request["payload"]["parameters"] == {"city": "Paris"}
    assert record.response["body"] == {"temp": 18}
    assert record.response["headers"]["x-region"] == "eu"
    stored = json.dumps([record.request, record.response, record.error])
    assert API_KEY not in stored
    assert TOKEN not in stored


def test_secrets_a_webhook_echoes_back_are_hidden_from_the_llm_and_the_record(
    receiver: HTTPServer,
) -> None:
    def echo(request: Request) -> Response:
        return Response(
            json.dumps({"you_sent": dict(request.headers)}), mimetype="application/json"
        )

    receiver.expect_request("/hook").respond_with_handler(echo)
    tool = hook_tool(receiver, auth_config={"type": "bearer", "token": TOKEN})
    result = run(tool, {"city": "Paris"})
    assert TOKEN not in result.result
    assert f"Bearer {REDACTED}" in result.result
    assert TOKEN not in json.dumps(ToolExecution.objects.get().response)


def test_basic_auth_a_webhook_echoes_is_hidden_encoded_and_decoded(receiver: HTTPServer) -> None:
    pair = "robot:pw-9d1x"
    encoded = base64.b64encode(pair.encode()).decode()

    def echo(request: Request) -> Response:
        said = {"you_sent": dict(request.headers), "as_text": f"{pair} / {encoded}"}
        return Response(json.dumps(said), status=500, mimetype="application/json")

    receiver.expect_request("/hook").respond_with_handler(echo)
    auth = {"type": "basic", "username": "robot", "password": "pw-9d1x"}
    result = run(hook_tool(receiver, auth_config=auth), {"city": "Paris"})
    record = ToolExecution.objects.get()
    for text in (result.result, json.dumps(record.response), record.error):
        assert "pw-9d1x" not in text
        assert encoded not in text
        assert encoded.rstrip("=") not in text
    assert record.response["body"]["you_sent"]["Authorization"] == REDACTED


def test_user_and_password_in_the_url_are_not_recorded(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    url = receiver.url_for("/hook").replace("http://", "http://robot:hunter2@")
    run(hook_tool(receiver, server_url=url), {"city": "Paris"})
    assert "hunter2" not in ToolExecution.objects.get().request["url"]


def test_large_bodies_are_capped_in_the_record(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("y" * 5000, content_type="text/plain")
    with override_settings(TOOL_RECORD_BODY_MAX_CHARS=1000):
        run(hook_tool(receiver), {"city": "z" * 5000})
    record = ToolExecution.objects.get()
    assert record.response["body"].endswith("[cut: the reply was 5000 characters]")
    assert len(record.response["body"]) < 1100
    assert len(record.request["payload"]) < 1100
    assert record.arguments == {"city": "z" * 5000}  # what the model said is kept whole


# Async tools.


def test_an_async_tool_is_acknowledged_at_once_and_its_result_recorded_when_it_arrives(
    receiver: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.expect_request("/hook").respond_with_json({"queued": "job-1"})
    tool = hook_tool(receiver, is_async=True)
    session = SessionFactory(team=tool.team)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = run(tool, {"city": "Paris"}, session=session)
    assert result.result.startswith("The tool get_weather was started")
    assert result.execution.outcome == ExecutionOutcome.PENDING
    assert receiver.log == []  # not called until the task runs

    for callback in callbacks:  # the queue: a task per call (eager in tests)
        callback()
    record = ToolExecution.objects.get()
    assert record.is_async
    assert record.outcome == ExecutionOutcome.SUCCESS
    assert record.response["body"] == {"queued": "job-1"}
    event = session.events.get(kind=EventKind.TOOL_CALL)
    assert event.data["async"] is True
    assert event.data["result"] == '{"queued":"job-1"}'


def test_a_queued_call_delivered_twice_is_made_once(
    receiver: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run(hook_tool(receiver, is_async=True), {"city": "Paris"})
    callbacks[0]()
    callbacks[0]()
    assert len(receiver.log) == 1


def test_a_test_of_an_async_tool_waits_for_the_reply(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    result = run(hook_tool(receiver, is_async=True), {"city": "P"}, source=ExecutionSource.TEST)
    assert result.execution.outcome == ExecutionOutcome.SUCCESS
    assert not result.execution.is_async


# Retention.


def test_old_records_are_pruned() -> None:
    tool = ToolFactory()
    now = timezone.now()
    for days in (1, 29, 31, 90):
        ToolExecution.objects.create(
            team=tool.team,
            tool=tool,
            tool_name=tool.name,
            source=ExecutionSource.AGENT,
            outcome=ExecutionOutcome.SUCCESS,
            started_at=now - timezone.timedelta(days=days),
        )
    assert tool_executions_prune(older_than=now - timezone.timedelta(days=30), batch=1) == 2
    assert ToolExecution.objects.count() == 2
