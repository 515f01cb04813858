"""An agent whose analysis runs on the scripted LLM on loopback, and sessions that end."""

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from activity.services import SYSTEM
from agents.configuration import AgentConfiguration
from agents.models import Agent
from agents.services import agent_update
from sessions.models import EventKind, Session, SessionType
from sessions.services import session_create, session_end, session_event_append
from tests.conftest import Cast
from tests.factories import AgentFactory
from tests.llm_server import Script, ScriptedLLM, says

SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "refund": {"type": "boolean"}},
    "required": ["order_id"],
    "additionalProperties": False,
}
CRITERIA = [
    {"name": "resolved", "rule": "The caller's question was answered."},
    {"name": "polite", "rule": "The agent stayed polite."},
]
GOOD = {
    "summary": "The caller asked where order A-17 is; the agent said it ships tomorrow.",
    "data": {"order_id": "A-17", "refund": False},
    "criteria": {
        "resolved": {"result": "pass", "reason": "The agent gave the shipping date."},
        "polite": {"result": "fail", "reason": "The agent was curt."},
    },
}


def answers(value: Any) -> Script:
    """The analysis LLM's reply: `value` as JSON text, streamed in two pieces."""
    text = value if isinstance(value, str) else json.dumps(value)
    return says(text[:10], text[10:])


def analysis_agent(cast: Cast, llm: ScriptedLLM, **analysis: Any) -> Agent:
    settings = {"summary_prompt": "Two sentences.", "data_schema": SCHEMA}
    settings |= {"success_criteria": CRITERIA} | analysis
    config = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "m"}, "analysis": settings}
    )
    agent = AgentFactory(team=cast.team, configuration=config.as_document())
    agent_update(agent=agent, actor=SYSTEM, changes={})  # its version 1
    return agent


def talked(agent: Agent) -> Session:
    session = session_create(agent=agent, type=SessionType.CHAT)
    for role, content in [("user", "Where is order A-17?"), ("assistant", "It ships tomorrow.")]:
        data = {"role": role, "content": content}
        session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
    return session


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


@pytest.fixture
def agent(cast: Cast, llm: ScriptedLLM) -> Agent:
    return analysis_agent(cast, llm)


@pytest.fixture
def ended(agent: Agent, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any) -> Any:
    """End a session of `agent` (a new one by default), running what its end queued."""

    def end(session: Session | None = None, *scripts: Script) -> Session:
        session = session or talked(agent)
        llm.will(*scripts)
        with django_capture_on_commit_callbacks(execute=True):
            session_end(session=session, reason="done")
        session.refresh_from_db()
        return session

    return end
