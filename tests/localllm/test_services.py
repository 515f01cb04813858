"""llama.cpp's server on the packaged model: a real turn, streamed token by token, and the
OpenAI-compatible shapes Parley's engine reads."""

import json
import socket
from typing import Any

import httpx
import pytest

from localllm.selectors import LocalLLMUnavailable, packaged_model
from localllm.services import ServerOptions, local_llm_start

pytestmark = pytest.mark.local_llm

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def chunks(response: httpx.Response) -> list[dict[str, Any]]:
    data = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(item) for item in data[:-1]]


def test_a_reply_streams_token_by_token(local_llm_url: str) -> None:
    body = {"messages": HELLO, "max_tokens": 24, "stream": True, "temperature": 0}
    with httpx.stream("POST", f"{local_llm_url}/chat/completions", json=body, timeout=60) as got:
        assert got.status_code == 200
        pieces = [c["choices"][0]["delta"].get("content") for c in chunks(got) if c["choices"]]
    text = [piece for piece in pieces if piece]
    assert len(text) > 3  # one chunk per token, not the reply at once
    assert "".join(text).strip()


def test_a_whole_reply_counts_its_tokens(local_llm_url: str) -> None:
    body = {"messages": HELLO, "max_tokens": 24, "temperature": 0}
    answer = httpx.post(f"{local_llm_url}/chat/completions", json=body, timeout=60).json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"].strip()
    assert 0 < answer["usage"]["completion_tokens"] <= 24


def test_a_taken_port_is_refused_with_its_number() -> None:
    model = packaged_model()
    assert model is not None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ServerOptions(
            model=model, host="127.0.0.1", port=port, threads=1, context=512, parallel=1
        )
        with pytest.raises(LocalLLMUnavailable, match=f"Port {port} .* is taken"):
            local_llm_start(options=options)


def test_a_reply_that_does_not_say_how_long_stops_at_the_servers_limit() -> None:
    """A small model can run on for its whole context; the server stops it at max_tokens
    unless the request asks for another length."""
    model = packaged_model()
    assert model is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ServerOptions(
        model=model, host="127.0.0.1", port=port, threads=2, context=1024, parallel=1, max_tokens=8
    )
    server = local_llm_start(options=options)
    url = f"{server.listening_address}/v1/chat/completions"
    long = [{"role": "user", "content": "Write a long story about a bike that travels the world."}]
    try:
        capped = httpx.post(url, json={"messages": long, "temperature": 0}, timeout=60).json()
        body = {"messages": long, "max_tokens": 24, "temperature": 0}
        asked = httpx.post(url, json=body, timeout=60).json()
    finally:
        del server
    assert capped["choices"][0]["finish_reason"] == "length"
    assert capped["usage"]["completion_tokens"] == 8
    assert asked["usage"]["completion_tokens"] == 24
