"""An agent on the `local` provider answers through Parley with the packaged model: the whole
conversation on this machine, no network, no scripted server."""

from typing import Any

import openai
import pytest

from agents.configuration import AgentConfiguration
from completions.services import llm_key_create
from sessions.models import EventKind, Session
from tests.factories import AgentFactory

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db(transaction=True)]


def test_the_agent_endpoint_streams_the_local_models_answer(
    live_server: Any, settings: Any, local_llm_url: str
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": local_llm_url}}
    config = AgentConfiguration.model_validate(
        {"llm": {"provider": "local", "system_prompt": "You are brief.", "temperature": 0}}
    )
    agent = AgentFactory(configuration=config.as_document())
    client = openai.OpenAI(
        base_url=f"{live_server.url}/v1/agents/{agent.id}",
        api_key=llm_key_create(agent=agent)[1],
        max_retries=0,
    )
    stream = client.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "Say hello."}], stream=True
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta]
    text = "".join(piece or "" for piece in pieces)
    assert len([piece for piece in pieces if piece]) > 1
    assert text.strip()
    assert "trouble answering" not in text  # the agent's failure message
    said = Session.objects.get(agent=agent).events.filter(kind=EventKind.MESSAGE)
    assert [e.data["role"] for e in said.order_by("seq")] == ["user", "assistant"]
