"""An agent on the `local` provider answers through its OpenAI-compatible endpoint, on Parley's
async server, with the packaged model: the whole conversation on this machine, no network, no
scripted server."""

import openai
import pytest

from agents.configuration import DEFAULT_FAILURE_MESSAGE
from agents.models import Agent
from completions.services import llm_key_create

from .conftest import messages_of

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db(transaction=True)]

QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]  # about fifty tokens


def _client(parley_url: str, agent: Agent) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{parley_url}/v1/agents/{agent.id}",
        api_key=llm_key_create(agent=agent)[1],
        max_retries=0,
        timeout=120,
    )


def test_the_agent_endpoint_streams_the_local_models_answer_token_by_token(
    parley_url: str, local_agent: Agent
) -> None:
    stream = _client(parley_url, local_agent).chat.completions.create(
        model="anything", messages=QUESTION, stream=True
    )
    pieces: list[str] = []
    recorded_at_first_piece: list[str] = []
    for chunk in stream:
        if chunk.choices and (piece := chunk.choices[0].delta.content):
            if not pieces:
                recorded_at_first_piece = [m["role"] for m in messages_of(local_agent)]
            pieces.append(piece)

    assert len(pieces) > 5  # a chunk per token, not the reply at once
    # The first piece came while the model was still writing: the reply was not recorded yet.
    assert recorded_at_first_piece == ["user"]
    text = "".join(pieces)
    assert text.strip()
    assert DEFAULT_FAILURE_MESSAGE not in text
    said = messages_of(local_agent)
    assert [m["role"] for m in said] == ["user", "assistant"]
    assert said[1]["content"] == text
    assert said[1]["ttft_ms"] > 0


def test_the_agent_endpoint_answers_whole_with_the_local_models_usage(
    parley_url: str, local_agent: Agent
) -> None:
    answer = _client(parley_url, local_agent).chat.completions.create(
        model="anything", messages=QUESTION
    )

    text = answer.choices[0].message.content or ""
    assert text.strip()
    assert DEFAULT_FAILURE_MESSAGE not in text
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 5  # counted by llama.cpp, passed on by Parley
    said = messages_of(local_agent)
    assert [m["role"] for m in said] == ["user", "assistant"]
    assert said[1]["content"] == text
    assert "failure" not in said[1]
