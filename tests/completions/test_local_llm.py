"""The agent as an LLM, when its own LLM is the local model and nothing serves it: a whole answer
is OpenAI's error with 503 and the code, which OpenAI's SDKs retry after Retry-After; a stream,
already begun, carries the agent's failure message as any LLM failure does."""

from typing import Any

import openai
import pytest

from agents.configuration import DEFAULT_FAILURE_MESSAGE, AgentConfiguration
from agents.models import Agent
from completions.services import llm_key_create
from sessions.engine import LOCAL_DOWN, LOCAL_LLM_UNAVAILABLE
from sessions.models import EventKind, Session
from tests.factories import AgentFactory
from tests.loopback import free_port

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def agent(settings: Any) -> Agent:
    """On the `local` provider, whose server is not running."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings.LOCAL_LLM_URL = url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": url}}
    document = AgentConfiguration.model_validate(
        {"llm": {"provider": "local", "model": "local"}}
    ).as_document()
    return AgentFactory(configuration=document)


def client(live_server: Any, agent: Agent) -> openai.OpenAI:
    base = f"{live_server.url}/v1/agents/{agent.id}"
    return openai.OpenAI(base_url=base, api_key=llm_key_create(agent=agent)[1], max_retries=0)


def test_a_whole_answer_is_503_in_openais_shape_with_the_code(
    live_server: Any, agent: Agent
) -> None:
    with pytest.raises(openai.InternalServerError) as refused:
        client(live_server, agent).chat.completions.create(model="m", messages=HELLO)
    assert refused.value.status_code == 503
    assert refused.value.response.headers["Retry-After"] == "5"
    assert refused.value.body == {
        "message": LOCAL_DOWN,
        "type": "server_error",
        "code": LOCAL_LLM_UNAVAILABLE,
        "param": None,
    }
    session = Session.objects.get(agent=agent)
    assert session.events.get(kind=EventKind.ERROR).data["code"] == LOCAL_LLM_UNAVAILABLE


def test_a_stream_carries_the_failure_message(live_server: Any, agent: Agent) -> None:
    stream = client(live_server, agent).chat.completions.create(
        model="m", messages=HELLO, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == DEFAULT_FAILURE_MESSAGE
