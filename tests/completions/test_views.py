"""The agent as an OpenAI-compatible LLM, called through the official openai SDK and with
requests shaped like Agora's custom-LLM calls, against Django's live server; the upstream LLM
is the scripted one on loopback and tools run against a loopback webhook."""

import json
from typing import Any

import httpx
import openai
import pytest
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent
from completions.models import RemoteConversation
from completions.services import llm_key_create, llm_key_revoke
from sessions.models import EventKind, Session, SessionStatus
from teams.models import Role
from tests.conftest import signed_in
from tests.factories import AgentFactory, MembershipFactory, ToolFactory
from tests.llm_server import ScriptedLLM, calls, says

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def an_agent(llm: ScriptedLLM, tool_ids: list[str] = (), **llm_config: Any) -> Agent:  # type: ignore[assignment]
    config = AgentConfiguration.model_validate(
        {
            "llm": {
                "custom_url": llm.base_url,
                "model": "scripted-model",
                "system_prompt": "You are the weather desk.",
                "failure_message": "Sorry, something went wrong.",
                **llm_config,
            },
            "tool_calling": {"selected_tool_ids": list(tool_ids)},
        }
    )
    return AgentFactory(configuration=config.as_document())


@pytest.fixture
def agent(llm: ScriptedLLM) -> Agent:
    return an_agent(llm)


def client(live_server: Any, agent: Agent, secret: str | None = None) -> openai.OpenAI:
    secret = secret if secret is not None else llm_key_create(agent=agent)[1]
    base = f"{live_server.url}/v1/agents/{agent.id}"
    return openai.OpenAI(base_url=base, api_key=secret, max_retries=0)


def said(session: Session) -> list[tuple[str, str]]:
    events = session.events.filter(kind=EventKind.MESSAGE).order_by("seq")
    return [(e.data["role"], e.data["content"]) for e in events]


def test_the_sdk_gets_a_whole_answer_and_the_turn_is_a_session(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    llm.will(says("Sunny ", "in Paris."))
    answer = client(live_server, agent).chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        user="conv-1",
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "Sunny in Paris."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.total_tokens == 19
    session = Session.objects.get(agent=agent)
    assert session.status == SessionStatus.RUNNING
    assert session.metadata["conversation_id"] == "conv-1"
    assert said(session) == [("user", "Weather in Paris?"), ("assistant", "Sunny in Paris.")]
    assert llm.requests[0]["messages"][0] == {
        "role": "system",
        "content": "You are the weather desk.",
    }


def test_the_sdk_streams_chunks_then_usage(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    llm.will(says("Sunny ", "in ", "Paris."))
    stream = client(live_server, agent).chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Weather?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sunny in Paris."
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 12


def test_a_conversation_id_is_one_session_and_the_callers_history_is_sent(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    llm.will(says("Which city?"), says("Sunny."))
    sdk = client(live_server, agent)
    header = {"X-Conversation-Id": "channel-42"}
    first = [{"role": "user", "content": "Weather?"}]
    sdk.chat.completions.create(model="m", messages=first, extra_headers=header)
    second = [
        *first,
        {"role": "assistant", "content": "Which city?"},
        {"role": "user", "content": "Paris."},
    ]
    sdk.chat.completions.create(model="m", messages=second, extra_headers=header)
    session = Session.objects.get(agent=agent)
    assert RemoteConversation.objects.get(key="channel-42").session == session
    assert said(session) == [
        ("user", "Weather?"),
        ("assistant", "Which city?"),
        ("user", "Paris."),
        ("assistant", "Sunny."),
    ]
    assert llm.requests[1]["messages"][1:] == second[0:]
    sdk.chat.completions.create(model="m", messages=first, extra_headers={"X-Conversation-Id": "x"})
    assert Session.objects.filter(agent=agent).count() == 2


def test_an_ended_conversation_starts_a_new_session(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    sdk = client(live_server, agent)
    sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], user="u")
    Session.objects.update(status=SessionStatus.STOPPED)
    sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], user="u")
    assert Session.objects.filter(agent=agent).count() == 2
    live = Session.objects.get(agent=agent, status=SessionStatus.RUNNING)
    assert RemoteConversation.objects.get(key="u").session == live


def agora_body(**extra: Any) -> dict[str, Any]:
    """What Agora's engine POSTs to llm.url with vendor "custom": system_messages first,
    turn_id and timestamp on every message, llm.params merged in."""
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Keep it short.", "turn_id": 0, "timestamp": 1},
            {"role": "user", "content": "Hello", "turn_id": 0, "timestamp": 1730000000000},
            {"role": "assistant", "content": "Hi!", "turn_id": 0, "timestamp": 1730000000500},
            {"role": "user", "content": "Weather?", "turn_id": 1, "timestamp": 1730000001000},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 512,
        "temperature": 0.2,
        "conversation_id": "agora-channel-7",
        "unknown_thing": {"nested": [1, 2]},
        **extra,
    }


def post(
    live_server: Any, agent: Agent, body: Any, secret: str | None = None, **headers: str
) -> httpx.Response:
    secret = secret if secret is not None else llm_key_create(agent=agent)[1]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{live_server.url}/v1/agents/{agent.id}/chat/completions",
        content=content,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"} | headers,
        timeout=10,
    )


def sse(response: httpx.Response) -> list[Any]:
    lines = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    return [json.loads(line) if line != "[DONE]" else line for line in lines]


def test_an_agora_shaped_call_streams_and_keeps_its_system_message_after_the_agents(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    llm.will(says("Sunny."))
    response = post(live_server, agent, agora_body())
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse(response)
    assert events[-1] == "[DONE]"
    assert events[-2]["usage"]["total_tokens"] == 19
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-2]) == "Sunny."
    assert llm.requests[0]["messages"] == [
        {"role": "system", "content": "You are the weather desk."},
        {"role": "system", "content": "Keep it short."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Weather?"},
    ]
    session = Session.objects.get(agent=agent)
    assert session.metadata["conversation_id"] == "agora-channel-7"


def test_a_tool_call_runs_on_parleys_side_and_the_caller_sees_only_the_answer(
    live_server: Any, llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    receiver.expect_request("/weather").respond_with_json({"temp_c": 18})
    tool = ToolFactory(
        name="get_weather", server_url=receiver.url_for("/weather"), parameters_schema=WEATHER
    )
    agent = an_agent(llm, [str(tool.id)])
    tool.team = agent.team
    tool.save()
    llm.will(calls(("get_weather", {"city": "Paris"})), says("It is 18 °C."))
    events = sse(post(live_server, agent, agora_body()))
    deltas = [e["choices"][0]["delta"] for e in events if isinstance(e, dict) and e["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == "It is 18 °C."
    assert not any("tool_calls" in d for d in deltas)
    webhook = next(r for r, _ in receiver.log if r.path == "/weather")
    assert webhook.get_json()["parameters"] == {"city": "Paris"}
    session = Session.objects.get(agent=agent)
    assert session.events.filter(kind=EventKind.TOOL_CALL).exists()


def test_an_llm_failure_is_the_agents_failure_message(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    llm.will(says(status=500, error="down"))
    answer = client(live_server, agent).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}]
    )
    assert answer.choices[0].message.content == "Sorry, something went wrong."
    session = Session.objects.get(agent=agent)
    assert session.events.filter(kind=EventKind.ERROR).exists()


PICTURE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
ASKED = [{"type": "text", "text": "What is this?"}, PICTURE]


def test_for_a_text_model_images_become_text_and_are_recorded(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": ASKED}]}
    assert post(live_server, agent, body).status_code == 200
    assert llm.requests[0]["messages"][-1] == {"role": "user", "content": "What is this? [image]"}
    messages = Session.objects.get(agent=agent).events.filter(kind=EventKind.MESSAGE)
    recorded = next(e.data for e in messages if e.data["role"] == "user")
    assert recorded["images"] == [PICTURE["image_url"]]


def test_a_model_that_takes_images_gets_them(live_server: Any, llm: ScriptedLLM) -> None:
    agent = an_agent(llm, input_modalities=["text", "image"])
    earlier = {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look."}, earlier]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": ASKED},
    ]
    assert post(live_server, agent, {"model": "m", "messages": messages}).status_code == 200
    sent = llm.requests[0]["messages"]
    assert sent[-1] == {"role": "user", "content": ASKED}
    looked = {"type": "image_url", "image_url": {"url": earlier["image_url"], "detail": "low"}}
    assert sent[-3] == {"role": "user", "content": [{"type": "text", "text": "Look."}, looked]}


def test_an_image_without_a_usable_url_is_a_400(live_server: Any, agent: Agent) -> None:
    bad = [
        {"type": "text", "text": "See"},
        {"type": "image_url", "image_url": {"url": "file:///x"}},
    ]
    answer = post(
        live_server, agent, {"model": "m", "messages": [{"role": "user", "content": bad}]}
    )
    assert answer.status_code == 400
    assert "image_url" in error_of(answer)["message"]


def error_of(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    return error


def test_a_wrong_or_missing_or_revoked_key_is_401(live_server: Any, agent: Agent) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(live_server, agent, "ak_wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}]
        )
    response = httpx.post(
        f"{live_server.url}/v1/agents/{agent.id}/chat/completions", json=agora_body()
    )
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    key, secret = llm_key_create(agent=agent)
    llm_key_revoke(key=key)
    assert post(live_server, agent, agora_body(), secret).status_code == 401
    sibling = AgentFactory(team=agent.team)
    assert (
        post(live_server, sibling, agora_body(), secret=llm_key_create(agent=agent)[1]).status_code
        == 401
    )
    assert not Session.objects.exists()


def test_another_teams_agent_is_404(live_server: Any, agent: Agent) -> None:
    theirs = AgentFactory()
    assert theirs.team_id != agent.team_id
    response = post(live_server, theirs, agora_body(), secret=llm_key_create(agent=agent)[1])
    assert response.status_code == 404
    assert error_of(response)["type"] == "not_found_error"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        {"model": "m"},
        {"messages": []},
        {"messages": ["hi"]},
        {"messages": [{"role": "assistant", "content": "Hi"}]},
        {"messages": [{"role": "user", "content": "   "}]},
        {"messages": [{"role": "user", "content": {"odd": 1}}]},
        {"messages": [{"role": "user", "content": "Hi"}], "stream": "yes"},
        {"messages": [{"role": "user", "content": "Hi"}], "stream_options": 3},
        {"messages": [{"role": "user", "content": "Hi"}], "user": ["x"]},
    ],
)
def test_a_bad_body_is_400_in_openais_shape(live_server: Any, agent: Agent, body: Any) -> None:
    response = post(live_server, agent, body)
    assert response.status_code == 400, response.text
    assert error_of(response)["type"] == "invalid_request_error"
    assert not Session.objects.exists()


def test_the_session_page_lists_the_images_sent(
    live_server: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    linked = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    content = [*ASKED, linked]
    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    assert post(live_server, agent, body).status_code == 200
    session = Session.objects.get(agent=agent)
    viewer = MembershipFactory(team=agent.team, role=Role.VIEWER).user
    page = signed_in(viewer).get(f"/sessions/{session.id}/").content.decode()
    assert 'href="https://example.com/cat.png"' in page
    assert "An image sent inline" in page
