"""A chat with an agent on the `local` provider, as the dashboard and the widget hold it: the
session API on Parley's async server streams the packaged model's reply token by token, and
records it. No network, no scripted server."""

import json
from typing import Any

import httpx
import pytest
from django.test import Client

from agents.configuration import DEFAULT_FAILURE_MESSAGE
from agents.models import Agent

from .conftest import messages_of

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db(transaction=True)]

# About fifty tokens from the packaged model: a second or so in which to see them come.
QUESTION = "Why is the sky blue?"


def test_a_chat_reply_streams_token_by_token_and_is_recorded(
    parley_url: str, local_agent: Agent
) -> None:
    started = Client().post(
        "/v1/start-agent-session",
        {"agentId": str(local_agent.id), "mode": "chat"},
        content_type="application/json",
    )
    assert started.status_code == 200, started.content
    body = started.json()
    assert body["messagesUrl"].startswith(parley_url + "/")
    headers = {"Authorization": f"Bearer {body['sessionToken']}", "Accept": "text/event-stream"}

    received: list[tuple[str, dict[str, Any]]] = []
    recorded_at_first_token: list[str] = []
    with httpx.stream(
        "POST", body["messagesUrl"], json={"content": QUESTION}, headers=headers, timeout=120
    ) as reply:
        assert reply.status_code == 200
        event = ""
        for line in reply.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                if event == "token" and not received:
                    recorded_at_first_token = [m["role"] for m in messages_of(local_agent)]
                received.append((event, json.loads(line.removeprefix("data: "))))

    names = [name for name, _ in received]
    tokens = [data["text"] for name, data in received if name == "token"]
    assert names == ["token"] * len(tokens) + ["done"]
    assert len(tokens) > 5  # a piece per token, not the reply at once
    # The first token came while the model was still writing: the reply was not recorded yet.
    assert recorded_at_first_token == ["user"]
    done = received[-1][1]["message"]
    assert done["content"] == "".join(tokens)
    assert done["failed"] is False
    assert done["ttft_ms"] > 0

    user, assistant = messages_of(local_agent)
    assert user == {"role": "user", "content": QUESTION}
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "".join(tokens)
    assert assistant["content"].strip() != DEFAULT_FAILURE_MESSAGE
    assert "failure" not in assistant
    assert assistant["ttft_ms"] == done["ttft_ms"]
