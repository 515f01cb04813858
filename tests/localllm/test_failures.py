"""When the local model cannot serve, and when it comes back: a turn fails at once with
`local_llm_unavailable` (the messages API answers 503) while nothing listens or llama.cpp loads,
and the next turn once the real server listens is answered, with no restart of Parley; the
same after a server that served crashes (SIGKILL) and is started again. A model
`manage.py localllm --wait-on-error` cannot load is answered on its port with the cause, which
Parley's status and turns then give."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client

from agents.configuration import AgentConfiguration
from agents.models import Agent
from localllm.selectors import LLAMA_LOADING, LocalLLMUnavailable, local_llm_status, packaged_model
from localllm.services import ServerOptions, local_llm_start
from sessions import engine
from sessions.models import EventKind, Session
from tests.factories import AgentFactory
from tests.loopback import free_port

from .stand_in import LOADING, loading_llama

pytestmark = pytest.mark.django_db


def on_local(settings: Any, url: str) -> Agent:
    settings.LOCAL_LLM_URL = url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": url}}
    document = AgentConfiguration.model_validate(
        {"llm": {"provider": "local", "model": "local", "first_message": "", "temperature": 0}}
    ).as_document()
    return AgentFactory(publish_status="public", configuration=document)


class Chat:
    """One session with the agent, over the messages API (JSON answers)."""

    def __init__(self, agent: Agent) -> None:
        body = (
            Client()
            .post(
                "/v1/start-agent-session",
                {"agentId": str(agent.id), "mode": "chat"},
                content_type="application/json",
            )
            .json()
        )
        self.session_id, self.token = body["sessionId"], body["sessionToken"]

    def send(self, content: str) -> Any:
        return Client().post(
            f"/api/v1/sessions/{self.session_id}/messages",
            {"content": content},
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def errors(self) -> list[dict[str, Any]]:
        events = Session.objects.get(id=self.session_id).events.filter(kind=EventKind.ERROR)
        return [e.data for e in events.order_by("seq")]


def test_the_core_and_localllm_say_the_same_code_and_read_llamas_loading_alike() -> None:
    # The engine may not import localllm: the two sides are kept equal here.
    assert LocalLLMUnavailable.code == engine.LOCAL_LLM_UNAVAILABLE
    assert engine.LLAMA_LOADING == LLAMA_LOADING == LOADING["error"]["message"]


@pytest.mark.local_llm
def test_turns_fail_with_the_code_until_the_model_serves_and_the_next_is_answered(
    settings: Any,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    chat = Chat(on_local(settings, url))

    nothing = chat.send("Hello?")
    assert (nothing.status_code, nothing.json()["code"]) == (503, "local_llm_unavailable")
    assert nothing.json()["error"] == engine.LOCAL_DOWN
    with loading_llama(port):
        loading = chat.send("Hello?")
    assert (loading.status_code, loading.json()["code"]) == (503, "local_llm_unavailable")
    assert loading.json()["error"] == engine.LOCAL_LOADING

    model = packaged_model()
    assert model is not None
    options = ServerOptions(
        model=model, host="127.0.0.1", port=port, threads=1, context=1024, parallel=1
    )
    server = local_llm_start(options=options)
    try:
        answered = chat.send("Say hello.")
    finally:
        del server
    assert answered.status_code == 200
    assert answered.json()["success"] is True
    assert answered.json()["message"]["content"].strip()
    assert [(e["code"], e["message"].split(":")[0]) for e in chat.errors()] == [
        ("local_llm_unavailable", "The local model's server does not answer at http"),
        ("local_llm_unavailable", "The local model's server at http"),
    ]


@pytest.mark.local_llm
def test_a_server_that_crashes_fails_turns_with_the_code_and_serves_again_when_restarted(
    settings: Any,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    chat = Chat(on_local(settings, url))
    first = serving(port)
    try:
        before = chat.send("Say hello.")
        first.send_signal(signal.SIGKILL)  # a crash: no chance to close anything
        first.wait(timeout=30)
        crashed = chat.send("Hello?")
        down = local_llm_status()
    finally:
        first.kill()
    second = serving(port)
    try:
        after = chat.send("Say goodbye.")
        up = local_llm_status()
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
    finally:
        second.kill()
    assert before.status_code == after.status_code == 200
    assert before.json()["message"]["content"].strip()
    assert after.json()["message"]["content"].strip()
    assert (crashed.status_code, crashed.json()["code"]) == (503, "local_llm_unavailable")
    assert crashed.json()["error"] == engine.LOCAL_DOWN
    assert crashed.headers["Retry-After"] == "5"
    assert (down.state, up.state) == ("down", "ready")
    assert [e["code"] for e in chat.errors()] == ["local_llm_unavailable"]


def serving(port: int) -> subprocess.Popen[str]:
    """`manage.py localllm` on the packaged model, once it says it serves."""
    server = manage("--port", str(port))
    assert server.stdout is not None
    assert server.stdout.readline().strip() == f"Local LLM at http://127.0.0.1:{port}/v1"
    return server


def manage(*args: str, **env: str) -> subprocess.Popen[str]:
    environ = os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings.base"} | env
    return subprocess.Popen(
        [sys.executable, "manage.py", "localllm", *args],
        cwd=django_settings.BASE_DIR,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def answered_503(url: str, within: float = 60) -> httpx.Response:
    """The first answer at `url` once something listens there."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (None, "cannot be read (No such file or directory): check LOCAL_LLM_MODEL."),
        (b"<html>Not found</html>", "is not a GGUF file: LOCAL_LLM_MODEL must name one."),
    ],
)
def test_a_model_it_cannot_load_is_said_on_its_port_and_by_parley(
    settings: Any, tmp_path: Path, content: bytes | None, cause: str
) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = manage("--wait-on-error", "--port", str(port), LOCAL_LLM_MODEL=str(model))
    try:
        health = answered_503(f"{url}/health")
        assert server.stderr is not None
        assert (
            server.stderr.readline().strip()
            == f"Local LLM not started: The local model {model} {cause}"
        )
        chat = Chat(on_local(settings, url))
        refused = chat.send("Hello?")
        status = local_llm_status()
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0
    said = f"The local model {model} {cause}"
    assert health.status_code == 503
    assert health.json() == {"error": {"code": 503, "message": said, "type": "unavailable_error"}}
    assert (refused.status_code, refused.json()["error"]) == (503, engine.LOCAL_BROKEN)
    assert chat.errors()[0]["message"] == f"The local model's server at {url} cannot serve: {said}"
    assert (status.state, status.model) == ("down", "")
    assert status.message.startswith(f"The local model's server could not load its model: {said}")
    assert "restart it once that is fixed" in status.message
