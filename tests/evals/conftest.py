"""An agent on the scripted LLM on loopback with one webhook tool, and its suite."""

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from activity.services import SYSTEM, Actor
from agents.configuration import AgentConfiguration
from agents.models import Agent
from agents.services import agent_update
from evals.models import EvalRun, EvalScenario
from evals.services import eval_run_play, eval_run_start, scenario_create, scenario_spec
from tests.conftest import Cast
from tests.factories import AgentFactory, ToolFactory
from tests.llm_server import Script, ScriptedLLM, says
from tools.models import Tool

FIRST = "Hi! How can I help?"
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^A-[0-9]+$"}},
    "required": ["order_id"],
}


def judged(**verdicts: str) -> Script:
    """The judge's answer: {criterion: "pass"/"fail"/"unknown"}, each with a reason."""
    criteria = {name: {"result": v, "reason": f"{name} was {v}."} for name, v in verdicts.items()}
    return says(json.dumps({"criteria": criteria}))


def eval_agent(
    cast: Cast, llm: ScriptedLLM, tool: Tool | None = None, **llm_settings: Any
) -> Agent:
    config = {"llm": {"custom_url": llm.base_url, "model": "m", "first_message": FIRST}}
    config["llm"] |= llm_settings
    if tool is not None:
        config["tool_calling"] = {"selected_tool_ids": [str(tool.id)]}
    document = AgentConfiguration.model_validate(config).as_document()
    agent = AgentFactory(team=cast.team, configuration=document)
    agent_update(agent=agent, actor=SYSTEM, changes={})  # its version 1
    agent.refresh_from_db()
    return agent


def scenario(agent: Agent, name: str = "order status", **spec: Any) -> EvalScenario:
    spec = {"script": ["Where is order A-17?"], "max_turns": 3} | spec
    return scenario_create(agent=agent, actor=SYSTEM, name=name, spec=scenario_spec(spec))


def played(agent: Agent, **kwargs: Any) -> EvalRun:
    """A run of the agent's suite, played here in order (as `manage.py evals run` does)."""
    run = eval_run_start(agent=agent, actor=Actor(), dispatch=False, **kwargs)
    return eval_run_play(run=run)


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


@pytest.fixture
def tool(cast: Cast, receiver: HTTPServer) -> Tool:
    return ToolFactory(
        team=cast.team,
        name="lookup_order",
        server_url=receiver.url_for("/orders"),
        parameters_schema=ORDER_SCHEMA,
    )


@pytest.fixture
def agent(cast: Cast, llm: ScriptedLLM, tool: Tool) -> Agent:
    return eval_agent(cast, llm, tool)
