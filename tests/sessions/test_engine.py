"""The conversation engine, driven by the scripted OpenAI-compatible server on loopback, with
tools served by a real webhook receiver."""

import json
import socket
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agents.configuration import AgentConfiguration
from parley.llm import ToolCallRequest
from sessions.engine import Turn, session_greet, session_turn
from sessions.models import EventKind, Session, SessionType
from sessions.services import session_create
from tests.factories import AgentFactory, ToolFactory
from tests.llm_server import Script, ScriptedLLM, calls, says
from tools.execution import ToolRun
from tools.models import Tool

pytestmark = pytest.mark.django_db

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class Heard:
    """A listener that keeps what it heard, in order."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.tools: list[str] = []

    async def text(self, piece: str) -> None:
        self.pieces.append(piece)

    async def tool_started(self, call: ToolCallRequest) -> None:
        self.tools.append(f"started {call.name}")

    async def tool_finished(self, call: ToolCallRequest, run: ToolRun) -> None:
        self.tools.append(f"finished {call.name} {run.execution.outcome}")


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def a_session(llm: ScriptedLLM, tools: list[Tool] = (), **llm_config: Any) -> Session:  # type: ignore[assignment]
    config = AgentConfiguration.model_validate(
        {
            "llm": {
                "custom_url": llm.base_url,
                "model": "scripted-model",
                "system_prompt": "You are the weather desk.",
                "first_message": "Hello! Which city?",
                **llm_config,
            },
            "tool_calling": {"selected_tool_ids": [str(t.id) for t in tools]},
        }
    )
    agent = AgentFactory(configuration=config.as_document())
    for tool in tools:
        Tool.objects.filter(id=tool.id).update(team=agent.team)
    return session_create(agent=agent, type=SessionType.CHAT)


def turn(session: Session, content: str, heard: Heard | None = None) -> Turn:
    return async_to_sync(session_turn)(session=session, content=content, listener=heard)


def timeline(session: Session) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.data) for e in session.events.exclude(kind=EventKind.STATUS_CHANGE)]


def weather_tool(receiver: HTTPServer, path: str = "/weather", **fields: Any) -> Tool:
    defaults = {"name": "get_weather", "server_url": receiver.url_for(path)}
    return ToolFactory(parameters_schema=WEATHER, **(defaults | fields))


def test_the_first_message_is_said_and_recorded(llm: ScriptedLLM) -> None:
    session = a_session(llm)
    heard = Heard()
    assert async_to_sync(session_greet)(session=session, listener=heard) == "Hello! Which city?"
    assert heard.pieces == ["Hello! Which city?"]
    assert timeline(session) == [
        ("message", {"role": "assistant", "content": "Hello! Which city?"})
    ]


def test_a_turn_streams_the_reply_and_records_both_sides(llm: ScriptedLLM) -> None:
    session = a_session(llm)
    async_to_sync(session_greet)(session=session)
    llm.will(says("Sunny ", "in Paris."))
    heard = Heard()
    result = turn(session, "Paris, please", heard)
    assert heard.pieces == ["Sunny ", "in Paris."]
    assert result.reply == "Sunny in Paris."
    assert llm.requests[0]["messages"] == [
        {"role": "system", "content": "You are the weather desk."},
        {"role": "assistant", "content": "Hello! Which city?"},
        {"role": "user", "content": "Paris, please"},
    ]
    assert llm.requests[0]["temperature"] == 0.7
    *_, (user_kind, user), (kind, reply) = timeline(session)
    assert (user_kind, user) == ("message", {"role": "user", "content": "Paris, please"})
    assert kind == "message"
    assert reply["content"] == "Sunny in Paris."
    assert reply["prompt_tokens"] == 12
    assert reply["completion_tokens"] == 7
    assert 0 <= reply["ttft_ms"] <= reply["total_ms"]


def test_a_tool_call_goes_through_the_webhook_and_back_to_the_model(
    llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    receiver.expect_request("/weather").respond_with_json({"temp_c": 18})
    session = a_session(llm, [weather_tool(receiver)])
    llm.will(calls(("get_weather", {"city": "Paris"})), says("It is 18 °C."))
    heard = Heard()
    result = turn(session, "Weather in Paris?", heard)
    assert result.reply == "It is 18 °C."
    assert heard.tools == ["started get_weather", "finished get_weather success"]
    webhook = next(r for r, _ in receiver.log if r.path == "/weather")
    assert webhook.get_json()["parameters"] == {"city": "Paris"}
    assert webhook.get_json()["session"]["id"] == str(session.id)
    tools_offered = llm.requests[0]["tools"]
    assert tools_offered[0]["function"]["name"] == "get_weather"
    assert tools_offered[0]["function"]["parameters"] == WEATHER
    follow_up = llm.requests[1]["messages"]
    assert follow_up[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert follow_up[-1] == {"role": "tool", "tool_call_id": "call_0", "content": '{"temp_c":18}'}
    kinds = [kind for kind, _ in timeline(session)]
    assert kinds == ["message", "tool_call", "message"]


def test_several_tool_calls_run_in_parallel(llm: ScriptedLLM, receiver: HTTPServer) -> None:
    # Each call answers only once both are in flight; one after the other, the first would
    # wait in vain (its tool's timeout, or the barrier's) and fail.
    both = threading.Barrier(2, timeout=8)

    def slow(request: Request) -> Response:
        both.wait()
        return Response(json.dumps({"city": request.get_json()["parameters"]["city"]}))

    receiver.expect_request("/slow").respond_with_handler(slow)
    session = a_session(llm, [weather_tool(receiver, "/slow")])
    llm.will(
        calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
        says("Both done."),
    )
    result = turn(session, "Paris and Oslo?")
    assert len(result.tool_runs) == 2
    assert [run.execution.outcome for run in result.tool_runs] == ["success", "success"]
    tool_messages = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_0", "call_1"]


def test_bad_tool_arguments_go_back_to_the_model_not_to_the_user(
    llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    session = a_session(llm, [weather_tool(receiver, strict_params=True)])
    llm.will(
        calls(("get_weather", "{city: Paris")),
        calls(("get_weather", {"town": "Paris"})),
        calls(("no_such_tool", {})),
        says("Sorry, I could not look that up."),
    )
    result = turn(session, "Weather?")
    assert result.reply == "Sorry, I could not look that up."
    assert not result.failed
    assert not [r for r, _ in receiver.log if r.path == "/weather"]
    results = [m["content"] for r in llm.requests[1:] for m in r["messages"][-1:]]
    assert "must be a JSON object" in results[0]
    assert "parameters.city is required" in results[1]
    assert results[2] == "Error: there is no tool named 'no_such_tool'."


def test_tool_rounds_are_limited(llm: ScriptedLLM, receiver: HTTPServer, settings: Any) -> None:
    settings.CHAT_MAX_TOOL_ROUNDS = 2
    receiver.expect_request("/weather").respond_with_json({"temp_c": 18})
    session = a_session(llm, [weather_tool(receiver)])
    llm.will(*[calls(("get_weather", {"city": "Paris"}))] * 2, says("Done."))
    assert turn(session, "Weather?").reply == "Done."
    assert [("tools" in r) for r in llm.requests] == [True, True, False]


@pytest.mark.parametrize(
    ("script", "code"),
    [
        (Script(status=500, error="upstream exploded"), "llm_http_error"),
        (says("x", first_token_delay=1.5), "llm_timeout"),
    ],
)
def test_an_llm_failure_sends_the_failure_message_and_the_session_goes_on(
    llm: ScriptedLLM, settings: Any, script: Script, code: str
) -> None:
    settings.LLM_READ_TIMEOUT = 0.5
    session = a_session(llm, failure_message="One moment, please try again.")
    llm.will(script, says("Now it works."))
    heard = Heard()
    result = turn(session, "Hello?", heard)
    assert result.failed
    assert heard.pieces == ["One moment, please try again."]
    events = timeline(session)
    assert events[-2][0] == "error"
    assert events[-2][1]["code"] == code
    assert events[-1][1] == {
        "role": "assistant",
        "content": "One moment, please try again.",
        "failure": True,
    }
    assert turn(session, "Hello again?").reply == "Now it works."
    history = llm.requests[-1]["messages"]
    assert all(m.get("content") != "One moment, please try again." for m in history)


def test_an_llm_refusal_is_a_sentence_for_the_caller_and_redacted_on_the_timeline(
    llm: ScriptedLLM,
) -> None:
    session = a_session(llm)
    echoed = "Incorrect API key provided: Authorization: Bearer sk-proj-a1b2c3d4e5f6a7b8c9d0"
    llm.will(Script(status=401, error=echoed))
    result = turn(session, "Hello?")
    assert (result.error_code, result.error) == (
        "llm_http_error",
        "The agent's language model refused or failed the request.",
    )
    error = next(data for kind, data in timeline(session) if kind == "error")
    assert error["message"] == (
        "The LLM failed: it answered 401 UNAUTHORIZED: Incorrect API key provided: "
        "Authorization: Bearer [REDACTED]"
    )


def test_a_cut_stream_keeps_what_was_said(llm: ScriptedLLM) -> None:
    session = a_session(llm)
    llm.will(says("The forecast ", "says rain", cut_after=3))
    result = turn(session, "Forecast?")
    assert result.failed
    assert (
        "message",
        {"role": "assistant", "content": "The forecast says rain", "interrupted": True},
    ) in timeline(session)


def test_history_is_the_last_max_history_messages(llm: ScriptedLLM) -> None:
    session = a_session(llm, max_history=2)
    for n in range(3):
        llm.will(says(f"answer {n}"))
        turn(session, f"question {n}")
    assert llm.requests[-1]["messages"] == [
        {"role": "system", "content": "You are the weather desk."},
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "question 2"},
    ]


def test_without_a_provider_the_session_says_how_to_fix_it(llm: ScriptedLLM, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {}
    session = a_session(llm, custom_url=None, provider="openai")
    result = turn(session, "Hello?")
    assert result.failed
    assert "OPENAI_API_KEY" in result.error
    error = next(data for kind, data in timeline(session) if kind == "error")
    assert error["code"] == "provider_not_configured"
    assert "Providers page" in error["message"]
    assert llm.requests == []


def test_an_install_wide_provider_on_a_private_address_is_the_operators_choice(
    llm: ScriptedLLM, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.LLM_PROVIDER_DEFAULTS = {"ollama": {"base_url": llm.base_url}}
    session = a_session(llm, custom_url=None, provider="ollama")
    llm.will(says("Local model here."))
    assert turn(session, "Hi").reply == "Local model here."


def test_a_custom_url_on_a_private_address_is_refused_without_the_allow_list(
    llm: ScriptedLLM, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    session = a_session(llm)
    result = turn(session, "Hi")
    assert result.failed
    assert "ask your operator to allow it" in result.error
    assert llm.requests == []


def test_a_webhook_that_is_down_is_an_error_the_model_hears(llm: ScriptedLLM) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tool = ToolFactory(name="get_weather", server_url=f"http://127.0.0.1:{port}/weather")
    session = a_session(llm, [tool])
    llm.will(calls(("get_weather", {"city": "Paris"})), says("The weather service is down."))
    result = turn(session, "Weather?")
    assert result.reply == "The weather service is down."
    tool_message = llm.requests[1]["messages"][-1]
    assert tool_message["content"].startswith("Error: the tool get_weather failed:")
    assert "refused the connection" in tool_message["content"]
    call = next(data for kind, data in timeline(session) if kind == "tool_call")
    assert call["outcome"] == "unreachable"
