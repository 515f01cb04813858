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
