"""Services the dashboard added: duplicating an agent, checking a configuration unsaved, and the
LLM a new agent gets when nobody names one."""

from typing import Any

import pytest

from activity.models import Action, ActivityEntry
from activity.services import Actor
from agents.configuration import AgentConfiguration
from agents.models import Agent
from agents.services import agent_configuration_validate, agent_duplicate, agent_llm_default
from parley.errors import InvalidInput
from tests.conftest import Cast
from tests.factories import AgentFactory, ToolFactory

pytestmark = pytest.mark.django_db


def test_a_duplicate_is_a_draft_copy_with_the_same_configuration(cast: Cast) -> None:
    document = AgentConfiguration().as_document()
    document["llm"] |= {"system_prompt": "Sell boats.", "voice": "alloy"}
    agent = AgentFactory(
        team=cast.team,
        name="Boats",
        publish_status="public",
        configuration=document,
        metadata={"crm_id": 7},
    )
    copy = agent_duplicate(agent=agent, actor=Actor(user=cast.member))
    assert copy.id != agent.id
    assert copy.team == cast.team
    assert copy.name == "Copy of Boats"
    assert copy.publish_status == "draft"
    assert copy.configuration == agent.configuration
    assert copy.metadata == {}  # the caller's bookkeeping belongs to the original
    assert copy.created_by == cast.member
    assert ActivityEntry.objects.get(target_id=str(copy.id)).action == Action.CREATED
    agent.refresh_from_db()
    assert agent.name == "Boats"
    assert agent.publish_status == "public"


def test_a_duplicate_keeps_its_provider_whatever_new_agents_get(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {}  # new agents would get the local model
    agent = AgentFactory(team=cast.team)  # OpenAI, stored
    copy = agent_duplicate(agent=agent, actor=Actor(user=cast.member))
    assert copy.configuration["llm"]["provider"] == "openai"


def test_a_configuration_naming_no_provider_gets_the_teams_usual_llm(
    cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {}
    usual = agent_llm_default(team=cast.team, configuration=AgentConfiguration())
    assert (usual.llm.provider, usual.llm.model) == ("local", "local")
    named = AgentConfiguration.model_validate({"llm": {"provider": "openai"}})
    assert agent_llm_default(team=cast.team, configuration=named) is named


def test_a_duplicate_of_a_long_name_still_fits(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team, name="x" * 200)
    copy = agent_duplicate(agent=agent, actor=Actor(user=cast.owner))
    assert copy.name == ("Copy of " + "x" * 200)[:200]
    assert Agent.objects.count() == 2


def test_checking_a_configuration_fills_defaults_and_saves_nothing(cast: Cast) -> None:
    configuration = agent_configuration_validate(
        team=cast.team, document={"llm": {"temperature": 1.5}}
    )
    assert configuration.llm.temperature == 1.5
    assert configuration.turn_detection.threshold == 0.5
    assert not Agent.objects.exists()


def test_checking_names_every_problem_by_its_place_in_the_document(cast: Cast) -> None:
    with pytest.raises(InvalidInput) as refused:
        agent_configuration_validate(
            team=cast.team,
            document={"llm": {"temperature": 5}, "allowed_origins": ["https://ok.com", "nope"]},
        )
    fields = [problem["field"] for problem in refused.value.details["errors"]]
    assert fields == ["configuration.llm.temperature", "configuration.allowed_origins.1"]


def test_checking_refuses_tools_of_another_team(cast: Cast) -> None:
    ours, theirs = ToolFactory(team=cast.team), ToolFactory(team=cast.other_team)
    agent_configuration_validate(
        team=cast.team, document={"tool_calling": {"selected_tool_ids": [str(ours.id)]}}
    )
    with pytest.raises(InvalidInput) as refused:
        agent_configuration_validate(
            team=cast.team, document={"tool_calling": {"selected_tool_ids": [str(theirs.id)]}}
        )
    assert refused.value.details["errors"][0]["field"] == (
        "configuration.tool_calling.selected_tool_ids"
    )
