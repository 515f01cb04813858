"""POST /v1/tool/{id}/test: validate the parameters, call the webhook, and report like iwy."""

from typing import Any
from uuid import UUID

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer

from tests.conftest import Cast
from tests.factories import ToolFactory
from tests.http import first_error_field, post
from tools.models import ExecutionOutcome, ExecutionSource, Tool, ToolExecution

pytestmark = pytest.mark.django_db

API_KEY = "key-5e8f1a"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def hook_tool(cast: Cast, receiver: HTTPServer, **fields: Any) -> Tool:
    defaults: dict[str, Any] = {
        "team": cast.team,
        "name": "get_weather",
        "server_url": receiver.url_for("/hook"),
        "parameters_schema": SCHEMA,
        "headers": {"x-api-key": API_KEY},
        "timeout_seconds": 5,
    }
    return ToolFactory(**(defaults | fields))


@pytest.mark.parametrize("path", ["/v1/tool/{id}/test", "/v1/tools/{id}/test"])
def test_a_test_calls_the_webhook_and_reports_both_sides(
    api: Client, cast: Cast, receiver: HTTPServer, path: str
) -> None:
    receiver.expect_request("/hook", method="POST").respond_with_json(
        {"temperature": 18, "conditions": "Partly cloudy"}
    )
    tool = hook_tool(cast, receiver)
    r = post(api, path.format(id=tool.id), {"parameters": {"city": "Paris"}})
    assert r.status_code == 200
    report = r.json()
    assert report["success"] is True
    assert report["validation"] == "valid"
    assert report["message"].startswith("The webhook answered 200 OK in ")
    assert report["tool"] == {"id": str(tool.id), "name": "get_weather"}
    assert report["request_sent"] == {
        "url": receiver.url_for("/hook"),
        "method": "POST",
        "headers": {
            "x-api-key": "[REDACTED]",
            "Content-Type": "application/json",
            "Idempotency-Key": f"msg_{UUID(report['execution_id']).hex}",
        },
        "payload": {
            "tool_id": str(tool.id),
            "tool_name": "get_weather",
            "parameters": {"city": "Paris"},
            "session": None,
        },
    }
    response = report["response_received"]
    assert response["status"] == 200
    assert response["status_text"] == "OK"
    assert response["content_type"] == "application/json"
    assert response["body"] == {"temperature": 18, "conditions": "Partly cloudy"}
    assert response["headers"]["content-type"] == "application/json"
    assert report["result"] == '{"temperature":18,"conditions":"Partly cloudy"}'
    assert isinstance(report["execution_time_ms"], int)
    assert API_KEY not in r.content.decode()
    record = ToolExecution.objects.get(id=report["execution_id"])
    assert record.source == ExecutionSource.TEST


def test_validate_only_checks_without_calling(
    api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    tool = hook_tool(cast, receiver)
    r = post(
        api, f"/v1/tool/{tool.id}/test", {"parameters": {"city": "Paris"}, "validate_only": True}
    )
    assert r.status_code == 200
    assert r.json()["success"] is True
    assert r.json()["validation"] == "valid"
    assert "not called" in r.json()["message"]
    assert receiver.log == []
    assert not ToolExecution.objects.exists()


def test_strict_params_report_each_problem_and_do_not_call(
    api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    tool = hook_tool(cast, receiver, strict_params=True)
    r = post(api, f"/v1/tool/{tool.id}/test", {"parameters": {"town": "Paris"}})
    report = r.json()
    assert r.status_code == 200
    assert report["success"] is False
    assert report["validation"] == "invalid"
    assert report["validation_errors"] == [
        {"field": "parameters.city", "message": "is required"},
        {"field": "parameters.town", "message": "is not a parameter of this tool"},
    ]
    assert report["outcome"] == ExecutionOutcome.INVALID_ARGUMENTS
    assert "parameters.city is required" in report["message"]
    assert receiver.log == []


def test_lenient_tools_are_called_with_a_warning(
    api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    tool = hook_tool(cast, receiver)
    r = post(api, f"/v1/tool/{tool.id}/test", {"parameters": {}})
    assert r.json()["validation"] == "warnings"
    assert r.json()["success"] is True
    assert len(receiver.log) == 1


def test_a_failing_webhook_is_a_200_report_saying_what_went_wrong(
    api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    receiver.expect_request("/hook").respond_with_json({"error": "no such city"}, status=404)
    tool = hook_tool(cast, receiver)
    r = post(api, f"/v1/tool/{tool.id}/test", {"parameters": {"city": "Atlantis"}})
    report = r.json()
    assert r.status_code == 200
    assert report["success"] is False
    assert report["outcome"] == "http_error"
    assert report["message"] == "The call failed: the webhook answered 404 NOT FOUND."
    assert report["response_received"]["body"] == {"error": "no such city"}


def test_a_refused_address_is_explained_in_the_report(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, server_url="http://169.254.169.254/latest/meta-data")
    r = post(api, f"/v1/tool/{tool.id}/test", {"parameters": {"city": "Paris"}})
    report = r.json()
    assert report["success"] is False
    assert report["outcome"] == "refused"
    assert "169.254.169.254 is the cloud metadata address" in report["message"]
    assert "ask your operator to allow it" in report["message"]
    assert report["response_received"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": ["Paris"]}, "parameters"),
        ({"parameters": "Paris"}, "parameters"),
        ({"parameters": {}, "validate_only": "maybe"}, "validate_only"),
        ({"parameters": {}, "dry_run": True}, "dry_run"),
    ],
)
def test_a_malformed_request_is_400(
    api: Client, cast: Cast, receiver: HTTPServer, body: dict[str, Any], field: str
) -> None:
    tool = hook_tool(cast, receiver)
    r = post(api, f"/v1/tool/{tool.id}/test", body)
    assert r.status_code == 400
    assert first_error_field(r).endswith(field)
    assert receiver.log == []


def test_read_only_keys_cannot_test(
    read_only_api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    tool = hook_tool(cast, receiver)
    r = post(read_only_api, f"/v1/tool/{tool.id}/test", {"parameters": {"city": "Paris"}})
    assert r.status_code == 403
    assert receiver.log == []


def test_another_teams_tool_is_not_found(
    outsider_api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    tool = hook_tool(cast, receiver)
    r = post(outsider_api, f"/v1/tool/{tool.id}/test", {"parameters": {"city": "Paris"}})
    assert r.status_code == 404
    assert receiver.log == []


def test_get_is_not_allowed(api: Client, cast: Cast, receiver: HTTPServer) -> None:
    tool = hook_tool(cast, receiver)
    assert api.get(f"/v1/tool/{tool.id}/test").status_code == 405


# The record of calls.


def test_the_recorded_calls_are_listed_newest_first(
    api: Client, cast: Cast, receiver: HTTPServer
) -> None:
    receiver.expect_request("/hook").respond_with_data("ok")
    tool = hook_tool(cast, receiver)
    for city in ("Paris", "Oslo"):
        post(api, f"/v1/tool/{tool.id}/test", {"parameters": {"city": city}})
    r = api.get(f"/v1/tools/{tool.id}/executions?limit=1")
    assert r.status_code == 200
    assert r.json()["count"] == 2
    [latest] = r.json()["items"]
    assert latest["arguments"] == {"city": "Oslo"}
    assert latest["source"] == "test"
    assert latest["outcome"] == "success"
    assert latest["request"]["headers"]["x-api-key"] == "[REDACTED]"
    assert latest["response"]["body"] == "ok"
    assert API_KEY not in r.content.decode()


def test_another_teams_calls_are_not_found(outsider_api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    assert outsider_api.get(f"/v1/tool/{tool.id}/executions").status_code == 404


def test_read_only_keys_may_list_calls(read_only_api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    assert read_only_api.get(f"/v1/tool/{tool.id}/executions").status_code == 200
