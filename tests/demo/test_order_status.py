"""The demo's order-status tool through the real tools engine and conversation engine: answered
inside Parley, offline, while the outbound policy still refuses loopback and every other host."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from demo.order_status import ORDER_STATUS_URL, demo_reply
from demo.services import demo_workspace_create
from parley.outbound import OutboundRequest
from sessions.chat import session_message
from sessions.models import EventKind, Session, SessionType
from sessions.services import session_create
from tests.factories import ToolFactory
from tests.llm_server import ScriptedLLM, calls, says
from tools.execution import ToolRun, tool_execute
from tools.models import ExecutionOutcome, Tool, ToolExecution
from tools.services import tool_test

pytestmark = pytest.mark.django_db


@pytest.fixture
def tool(settings: Any) -> Tool:
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # the operator's default: no private address
    return ToolFactory(
        name="order_status",
        server_url=ORDER_STATUS_URL,
        parameters_schema={"type": "object", "properties": {"order_number": {"type": "string"}}},
        timeout_seconds=5,
    )


@pytest.fixture
def loopback(loopback_server: HTTPServer) -> Iterator[HTTPServer]:
    """The suite's loopback server, without the allow-list the `receiver` fixture adds."""
    yield loopback_server
    loopback_server.clear()


def run(tool: Tool, arguments: Any) -> ToolRun:
    return async_to_sync(tool_execute)(tool=tool, arguments=arguments)


def test_a_known_order_is_answered_inside_parley_and_recorded_like_any_webhook(tool: Tool) -> None:
    done = run(tool, {"order_number": "A-1042"})
    assert done.execution.outcome == ExecutionOutcome.SUCCESS
    assert json.loads(done.result) == {
        "order_number": "A-1042",
        "status": "shipped",
        "item": "Acme Trail 29 mountain bike",
        "carrier": "ParcelPost",
        "delivery": "expected within 2 working days",
    }
    recorded = ToolExecution.objects.get(pk=done.execution.pk)
    assert recorded.status_code == 200
    assert recorded.request["url"] == ORDER_STATUS_URL
    assert recorded.request["payload"]["parameters"] == {"order_number": "A-1042"}
    assert recorded.response["body"]["status"] == "shipped"


def test_an_order_number_is_read_as_the_shop_writes_it(tool: Tool) -> None:
    assert json.loads(run(tool, {"order_number": " a-1043 "}).result)["order_number"] == "A-1043"
    assert json.loads(run(tool, {"order_number": "1044"}).result)["status"] == "being assembled"


def test_an_unknown_order_is_a_webhook_error_the_agent_can_relay(tool: Tool) -> None:
    done = run(tool, {"order_number": "A-9999"})
    assert done.execution.outcome == ExecutionOutcome.HTTP_ERROR
    assert done.execution.status_code == 404
    assert done.result.startswith(
        "Error: the tool order_status failed: the webhook answered 404 Not Found: "
    )
    assert "There is no order A-9999. Order numbers look like A-1042." in done.result


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"server_url": "https://demo.parley.invalid/admin/"}, 404),
        ({"server_url": "https://demo.parley.invalid/order-status/../admin"}, 404),
        ({"method": "GET"}, 405),
    ],
)
def test_only_a_post_to_the_order_status_path_is_answered(
    tool: Tool, fields: dict[str, str], status: int
) -> None:
    Tool.objects.filter(pk=tool.pk).update(**fields)
    tool.refresh_from_db()
    done = run(tool, {"order_number": "A-1042"})
    assert (done.execution.outcome, done.execution.status_code) == ("http_error", status)


def test_the_dashboards_test_button_calls_it_too(tool: Tool) -> None:
    report = tool_test(tool=tool, parameters={"order_number": "A-1043"})
    assert report["success"] is True
    assert report["response_received"]["body"]["status"] == "ready for pickup"


def test_a_look_alike_host_is_not_answered_but_sent_for_real(tool: Tool) -> None:
    # Only the reserved host itself is Parley's: this one is looked up, and no such host exists.
    Tool.objects.filter(pk=tool.pk).update(
        server_url="https://demo.parley.invalid.example.test/order-status"
    )
    tool.refresh_from_db()
    done = run(tool, {"order_number": "A-1042"})
    assert done.execution.outcome == ExecutionOutcome.DNS_ERROR
    assert done.execution.response is None


def test_loopback_is_still_refused(tool: Tool, loopback: HTTPServer) -> None:
    """The demo opens nothing in the outbound policy: a real server listening on loopback is
    refused, and never reached."""
    loopback.expect_request("/order-status").respond_with_json({"status": "shipped"})
    Tool.objects.filter(pk=tool.pk).update(server_url=loopback.url_for("/order-status"))
    tool.refresh_from_db()
    done = run(tool, {"order_number": "A-1042"})
    assert done.execution.outcome == ExecutionOutcome.REFUSED
    assert "a loopback address" in done.execution.error
    assert loopback.log == []


def test_the_demo_agent_calls_its_tool_in_a_conversation(
    loopback: HTTPServer, settings: Any
) -> None:
    """The demo agent as `manage.py demo` makes it, its local LLM stood in for by a scripted
    one that asks for the tool: the engine calls it and gives the model the order."""
    llm = ScriptedLLM(loopback)
    # The local LLM is the operator's own address (a private one is allowed); tools' are not.
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": llm.base_url}}
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    llm.will(calls(("order_status", {"order_number": "A-1042"})), says("It has shipped."))
    team = demo_workspace_create().team
    session = session_create(agent=team.agents.get(), type=SessionType.CHAT)

    turn = async_to_sync(session_message)(session=session, content="Where is order A-1042?")

    assert turn.reply == "It has shipped."
    assert [run.execution.outcome for run in turn.tool_runs] == [ExecutionOutcome.SUCCESS]
    given = llm.requests[1]["messages"][-1]
    assert given["role"] == "tool"
    assert json.loads(given["content"])["item"] == "Acme Trail 29 mountain bike"
    events = Session.objects.get(pk=session.pk).events.filter(kind=EventKind.TOOL_CALL)
    assert events.get().data["outcome"] == "success"


@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=50),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner),
            max_leaves=10,
        ).map(lambda value: json.dumps({"parameters": {"order_number": value}}).encode()),
    ),
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
    path=st.text(max_size=30).map(lambda text: "/order-status" + quote(text)),
)
def test_whatever_a_call_sends_the_demo_answers_as_a_webhook_would(
    body: bytes, method: str, path: str
) -> None:
    reply = demo_reply(OutboundRequest(method, f"https://demo.parley.invalid{path}", {}, body))
    assert reply.status in (200, 400, 404, 405)
    assert isinstance(reply.content, dict)
    assert (reply.error is None) == (reply.status == 200)
