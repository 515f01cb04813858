"""parley.llm against the scripted OpenAI-compatible server on loopback."""

import asyncio
import ipaddress
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from parley.llm import LLMEndpoint, LLMFailure, LLMReply, chat_stream
from parley.outbound import OutboundClient, Outcome, Policy
from tests.llm_server import Script, ScriptedLLM, calls, says

LOOPBACK = Policy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.fixture
def llm(loopback_server: HTTPServer) -> Iterator[ScriptedLLM]:
    yield ScriptedLLM(loopback_server)
    loopback_server.clear()


def collect(llm: ScriptedLLM, policy: Policy = LOOPBACK, **kwargs: Any) -> tuple[list[str], Any]:
    """The pieces of text streamed, and the LLMReply (or the LLMFailure raised)."""

    async def go() -> tuple[list[str], Any]:
        pieces: list[str] = []
        endpoint = LLMEndpoint(llm.base_url, "scripted-model", api_key="sk-test-1234")
        async with OutboundClient(policy) as client:
            try:
                async for item in chat_stream(client, endpoint, messages=MESSAGES, **kwargs):
                    if isinstance(item, LLMReply):
                        return pieces, item
                    pieces.append(item)
            except LLMFailure as failure:
                return pieces, failure
        raise AssertionError("the stream ended without a reply")

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_text_streams_in_pieces_then_the_whole_reply(llm: ScriptedLLM) -> None:
    llm.will(says("Hel", "lo ", "there"))
    pieces, reply = collect(llm, temperature=0.3)
    assert pieces == ["Hel", "lo ", "there"]
    assert reply.content == "Hello there"
    assert reply.finish_reason == "stop"
    assert reply.usage == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    assert reply.ttft_ms is not None
    assert reply.total_ms >= reply.ttft_ms


def test_the_request_is_an_openai_streaming_request(llm: ScriptedLLM) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    collect(llm, tools=tools, temperature=0.3)
    body = llm.requests[0]
    assert body["model"] == "scripted-model"
    assert body["messages"] == MESSAGES
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3
    assert body["tools"] == tools
    assert llm.headers[0]["Authorization"] == "Bearer sk-test-1234"


def test_tool_calls_arrive_in_pieces_and_are_put_together(llm: ScriptedLLM) -> None:
    llm.will(calls(("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})))
    pieces, reply = collect(llm)
    assert pieces == []
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("call_0", "get_weather", {"city": "Paris"}),
        ("call_1", "get_time", {"zone": "CET"}),
    ]


def test_an_http_error_says_what_the_provider_said(llm: ScriptedLLM) -> None:
    llm.will(Script(status=401, error='{"error": {"message": "Incorrect API key"}}'))
    _, failure = collect(llm)
    assert isinstance(failure, LLMFailure)
    assert failure.error.outcome == Outcome.HTTP_ERROR
    assert "401" in failure.error.message
    assert "Incorrect API key" in failure.error.message
    assert not failure.error.retryable


def test_a_server_error_may_be_retried(llm: ScriptedLLM) -> None:
    llm.will(Script(status=503, error="overloaded"))
    _, failure = collect(llm)
    assert failure.error.retryable


def test_a_provider_that_does_not_answer_times_out(llm: ScriptedLLM) -> None:
    llm.will(says("late", first_token_delay=1.5))
    _, failure = collect(llm, read_timeout=0.5)
    assert failure.error.outcome == Outcome.TIMEOUT
    assert failure.error.message == "no answer within 0.5 seconds"


def test_a_stream_that_stalls_times_out_keeping_what_was_said(llm: ScriptedLLM) -> None:
    llm.will(says("one", "two", chunk_delay=1.0))
    pieces, failure = collect(llm, read_timeout=0.5)
    assert failure.error.outcome == Outcome.TIMEOUT
    assert "stalled for more than 0.5 seconds" in failure.error.message
    assert failure.partial == "".join(pieces)


def test_a_cut_stream_fails_and_keeps_what_was_said(llm: ScriptedLLM) -> None:
    llm.will(says("The weather ", "in Paris ", "is", cut_after=3))
    pieces, failure = collect(llm)
    assert isinstance(failure, LLMFailure)
    assert pieces == ["The weather ", "in Paris "]
    assert failure.partial == "The weather in Paris "
    assert "ended before the reply was complete" in failure.error.message


def test_an_error_inside_the_stream_is_a_failure(
    llm: ScriptedLLM, loopback_server: HTTPServer
) -> None:
    loopback_server.clear()
    loopback_server.expect_request("/v1/chat/completions").respond_with_data(
        'data: {"error": {"message": "context length exceeded"}}\n\n',
        content_type="text/event-stream",
    )
    _, failure = collect(llm)
    assert "context length exceeded" in failure.error.message


def test_an_endpoint_on_a_private_address_is_refused_unless_allowed(llm: ScriptedLLM) -> None:
    _, failure = collect(llm, policy=Policy())
    assert failure.error.outcome == Outcome.REFUSED
    assert llm.requests == []
