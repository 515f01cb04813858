"""The README's "Talking to an agent" commands, run as written (bash, curl) against Parley's
async server as `make run` starts it: only the addresses are this server's. A newcomer pastes
them; they start a session, get the reply streamed, and end it."""

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from sessions.models import Session, SessionStatus
from tests.asgi import asgi_server
from tests.conftest import Cast
from tests.factories import AgentFactory
from tests.llm_server import ScriptedLLM, says

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("curl"), reason="the README's commands need curl"),
]

README = Path(__file__).resolve().parents[1] / "README.md"
# The addresses the README uses: `make run`'s web server and its async server.
ADDRESSES = ("http://127.0.0.1:8000", "http://127.0.0.1:8001")


def readme_commands(heading: str) -> str:
    """The shell block under a README heading."""
    text = README.read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, f"no ```sh block under {heading!r}"
    return found.group(1)


@pytest.fixture
def asgi(tmp_path: Path) -> Iterator[str]:
    with asgi_server(tmp_path / "uvicorn.log") as url:
        yield url


def _run(commands: str, base_url: str, key: str) -> str:
    for address in ADDRESSES:
        commands = commands.replace(address, base_url)
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-euo", "pipefail", "-c", commands],
        env=os.environ | {"KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _events(stream: str) -> list[tuple[str, Any]]:
    found = re.findall(r"event: (\w+)\ndata: (.*)\n", stream)
    return [(name, json.loads(data)) for name, data in found]


def test_talking_to_an_agent_as_the_readme_shows(
    asgi: str, cast: Cast, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver)
    document = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "scripted", "first_message": "Hi!"}}
    ).as_document()
    agent = AgentFactory(team=cast.team, configuration=document)
    llm.will(says("I answer ", "questions."))

    out = _run(readme_commands("### Talking to an agent"), asgi, cast.key.secret)

    stream, _, ended = out.rpartition("\n\n")
    events = _events(stream + "\n\n")
    assert [data["text"] for name, data in events if name == "token"] == ["I answer ", "questions."]
    assert events[-1][0] == "done"
    answer = json.loads(ended)
    assert answer["session"]["status"] == "completed"
    assert answer["session"]["agent_id"] == str(agent.id)
    assert answer["session"]["transcript"] == (
        "Assistant: Hi!\nUser: Hello! What can you do?\nAssistant: I answer questions."
    )
    assert answer["session"]["metadata"] == {"end_reason": "user_initiated"}
    session = Session.objects.get(id=answer["session"]["session_id"])
    assert session.status == SessionStatus.STOPPED
    assert llm.requests[0]["messages"][-1] == {
        "role": "user",
        "content": "Hello! What can you do?",
    }
