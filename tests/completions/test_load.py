"""The endpoint under load: 50 conversations stream through the official openai SDK at once,
against Parley's ASGI process as `make run` starts it, on SQLite and on PostgreSQL. Each is a
session of its own with both its turns, none waits for another's LLM, and none is refused."""

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent
from completions.models import RemoteConversation
from completions.services import llm_key_create
from sessions.models import EventKind
from tests.asgi import asgi_server
from tests.factories import AgentFactory
from tests.llm_server import ScriptedLLM, says

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSATIONS = 50
LLM_THINKS = 1.0  # seconds to the scripted LLM's first token
REPLY = ["The ", "line ", "is ", "open."]


@pytest.fixture
def asgi(tmp_path: Path) -> Iterator[str]:
    with asgi_server(tmp_path / "uvicorn.log") as url:
        yield url


def _agent(llm: ScriptedLLM) -> Agent:
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "scripted", "system_prompt": "Be brief."}}
    ).as_document()
    return AgentFactory(configuration=document)


async def _turn(
    client: openai.AsyncOpenAI, conversation: str, history: list[dict[str, str]]
) -> str:
    stream = await client.chat.completions.create(
        model="anything",
        messages=history,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Conversation-Id": conversation},
    )
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def _conversation(client: openai.AsyncOpenAI, number: int) -> list[str]:
    """Two turns, the second sending the first back as history, as an engine does."""
    asked = [{"role": "user", "content": f"Caller {number} here."}]
    first = await _turn(client, f"channel-{number}", asked)
    asked += [{"role": "assistant", "content": first}, {"role": "user", "content": "Still there?"}]
    return [first, await _turn(client, f"channel-{number}", asked)]


async def _all(base_url: str, secret: str) -> list[list[str]]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=secret, max_retries=0, timeout=60)
    async with client:
        return await asyncio.gather(*(_conversation(client, n) for n in range(CONVERSATIONS)))


def test_fifty_conversations_stream_at_once(asgi: str, receiver: HTTPServer) -> None:
    llm = ScriptedLLM(receiver)
    agent = _agent(llm)
    _, secret = llm_key_create(agent=agent, name="load")
    # Each first turn's reply starts only once every conversation's first turn is waiting on
    # the LLM: none waits for another's.
    together = threading.Barrier(CONVERSATIONS)
    first_turns = [says(*REPLY, first_token_delay=LLM_THINKS, together=together)]
    llm.will(*first_turns * CONVERSATIONS, *[says(*REPLY)] * CONVERSATIONS)

    answers = asyncio.run(_all(f"{asgi}/v1/agents/{agent.id}", secret))

    assert answers == [["The line is open."] * 2] * CONVERSATIONS
    assert llm.met == [True] * CONVERSATIONS
    links = RemoteConversation.objects.filter(agent=agent).select_related("session")
    assert links.count() == CONVERSATIONS
    for link in links:
        said = link.session.events.filter(kind=EventKind.MESSAGE).order_by("seq")
        number = link.key.removeprefix("channel-")
        assert [(e.data["role"], e.data["content"]) for e in said] == [
            ("user", f"Caller {number} here."),
            ("assistant", "The line is open."),
            ("user", "Still there?"),
            ("assistant", "The line is open."),
        ]
