"""A real call (tests/voice/test_call.py's harness) whose reply after a tool call ends in text
with nothing to pronounce: the caller hears the reply and is told of no error, and the session's
timeline records none."""

import asyncio
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from sessions.models import EventKind
from tests.factories import ToolFactory
from tests.llm_server import ScriptedLLM, calls, says

from .conftest import RunningWorker
from .peer import speech, transcribe
from .test_call import agent_for, connect, events, quiet_after, until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scripted(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def test_a_reply_after_a_tool_call_is_spoken_with_no_error_told_or_recorded(
    voice_worker: RunningWorker, scripted: ScriptedLLM, receiver: HTTPServer, cast: Any
) -> None:
    receiver.expect_request("/weather", method="POST").respond_with_json({"sky": "sunny"})
    tool = ToolFactory(team=cast.team, name="weather", server_url=receiver.url_for("/weather"))
    agent = agent_for(scripted, cast.team, tool_calling={"selected_tool_ids": [str(tool.id)]})
    scripted.will(
        calls(("weather", {"city": "Paris"})),
        says("It is sunny in Paris.", "\n\n", " —", " …"),
    )

    async def call() -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        peer, started = await connect(agent)
        await asyncio.sleep(0.5)
        spoken = peer.mic.say(speech("What is the weather in Paris?"))
        await quiet_after(peer, spoken)
        said = await until(
            lambda: len(events(started["sessionId"])) >= 2, what="the reply's record"
        )
        assert said
        reply = transcribe(peer.heard.audio(since=spoken))
        await peer.close()
        return reply, started, peer.messages

    reply, started, messages = asyncio.run(call())

    assert "sunny" in reply.lower()
    assert [m for m in messages if m.get("type") == "error"] == []
    said = events(started["sessionId"])
    assert [m["role"] for m in said] == ["user", "assistant"]
    assert said[1]["content"] == "It is sunny in Paris."  # nothing unspoken recorded as said
    assert events(started["sessionId"], EventKind.ERROR) == []
    assert events(started["sessionId"], EventKind.TOOL_CALL)[0]["tool_name"] == "weather"
