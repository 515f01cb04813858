"""Agent versions: every write makes exactly one, review mode keeps live traffic on the
published one, and restore, publish and diff work from the versions alone."""

from typing import Any

import pytest

from activity.models import Action, ActivityEntry
from activity.services import SYSTEM, Actor
from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentVersion, PublishMode, VersionSource
from agents.selectors import agent_version_diff
from agents.services import (
    agent_create,
    agent_duplicate,
    agent_update,
    agent_version_publish,
    agent_version_restore,
    ephemeral_agent_create,
)
from parley.errors import Conflict, NotFound
from tests.conftest import Cast
from tests.factories import ToolFactory
from tools.services import tool_delete, tool_update

pytestmark = pytest.mark.django_db


def _prompt(text: str) -> dict[str, Any]:
    return {"configuration": {"llm": {"system_prompt": text}}}


def _agent(cast: Cast, **fields: Any) -> Agent:
    return agent_create(
        team=cast.team,
        actor=Actor(user=cast.owner),
        name="Support",
        configuration=AgentConfiguration.model_validate(
            {"llm": {"provider": "openai", "system_prompt": "Be brief."}}
        ),
        **fields,
    )


def _numbers(agent: Agent) -> list[int]:
    return list(agent.versions.order_by("number").values_list("number", flat=True))


def test_creating_an_agent_makes_version_1_published(cast: Cast) -> None:
    agent = _agent(cast)
    version = agent.versions.get()
    assert (version.number, version.source, version.author) == (1, "dashboard", cast.owner)
    assert version.configuration == agent.configuration
    assert agent.published_version == version
    assert agent.draft_version is None


def test_each_write_path_makes_exactly_one_version(cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="lookup")
    agent = _agent(cast)
    agent_update(agent=agent, actor=Actor(api_key=cast.key), changes=_prompt("Be kind."))
    agent_update(agent=agent, actor=SYSTEM, changes={"name": "Renamed"}, source="sync")
    ids = {"tool_calling": {"selected_tool_ids": [str(tool.id)]}}
    agent_update(agent=agent, actor=Actor(user=cast.owner), changes={"configuration": ids})
    tool_delete(tool=tool, actor=Actor(user=cast.owner))
    agent.refresh_from_db()
    copy = agent_duplicate(agent=agent, actor=Actor(user=cast.member))
    sources = list(agent.versions.order_by("number").values_list("source", flat=True))
    assert sources == ["dashboard", "api", "sync", "dashboard", "system"]
    assert agent.versions.get(number=4).tools[0]["name"] == "lookup"
    assert agent.versions.get(number=5).configuration["tool_calling"]["selected_tool_ids"] == []
    assert _numbers(copy) == [1]


def test_a_single_use_agent_has_version_1_only(cast: Cast) -> None:
    agent = ephemeral_agent_create(
        team=cast.team,
        actor=Actor(api_key=cast.key),
        configuration=AgentConfiguration(),
        ttl_seconds=300,
    )
    assert agent.versions.get().source == "api"


def test_review_mode_keeps_live_traffic_on_the_published_version(cast: Cast) -> None:
    agent = _agent(cast, publish_mode=PublishMode.REVIEW)
    agent_update(agent=agent, actor=Actor(user=cast.owner), changes=_prompt("Draft one."))
    agent.refresh_from_db()
    assert agent.configuration["llm"]["system_prompt"] == "Be brief."
    assert (agent.published_version.number, agent.draft_version.number) == (1, 2)
    # The next edit starts from the draft, not from the published configuration.
    agent_update(agent=agent, actor=Actor(user=cast.owner), changes={"name": "Renamed"})
    agent.refresh_from_db()
    assert agent.draft_version.configuration["llm"]["system_prompt"] == "Draft one."
    assert agent.draft_version.number == 3

    agent_version_publish(agent=agent, actor=Actor(user=cast.owner), number=3)
    agent.refresh_from_db()
    assert agent.configuration["llm"]["system_prompt"] == "Draft one."
    assert agent.published_version.number == 3
    assert agent.draft_version is None
    entry = ActivityEntry.objects.filter(action=Action.VERSION_PUBLISHED).get()
    assert entry.changes == {"version": [None, 3]}
    assert entry.actor == cast.owner


def test_an_edit_back_to_the_published_configuration_clears_the_draft(cast: Cast) -> None:
    agent = _agent(cast, publish_mode=PublishMode.REVIEW)
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("Draft."))
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("Be brief."))
    assert agent.draft_version is None
    assert agent.published_version.number == 3


def test_taking_iwys_side_publishes_even_under_review(cast: Cast) -> None:
    agent = _agent(cast, publish_mode=PublishMode.REVIEW)
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("From iwy."), source="sync")
    agent.refresh_from_db()
    assert agent.configuration["llm"]["system_prompt"] == "From iwy."
    assert agent.published_version.source == VersionSource.SYNC


def test_two_saves_from_the_same_version_the_second_is_refused(cast: Cast) -> None:
    agent = _agent(cast, publish_mode=PublishMode.REVIEW)
    stale = Agent.objects.get(pk=agent.pk)
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("First."), base_version=1)
    with pytest.raises(Conflict, match="saved as version 2 since you started from version 1"):
        agent_update(agent=stale, actor=SYSTEM, changes=_prompt("Second."), base_version=1)
    assert _numbers(agent) == [1, 2]
    assert agent.versions.get(number=2).configuration["llm"]["system_prompt"] == "First."


def test_a_save_without_a_base_merges_into_the_newest_version(cast: Cast) -> None:
    """A stale instance does not overwrite what was saved meanwhile: the patch merges."""
    agent = _agent(cast, publish_mode=PublishMode.REVIEW)
    stale = Agent.objects.get(pk=agent.pk)
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("First."))
    agent_update(
        agent=stale, actor=SYSTEM, changes={"configuration": {"llm": {"temperature": 0.2}}}
    )
    llm = agent.versions.get(number=3).configuration["llm"]
    assert (llm["system_prompt"], llm["temperature"]) == ("First.", 0.2)


def test_restore_makes_a_new_version_equal_to_the_old_one(cast: Cast) -> None:
    agent = _agent(cast)
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("Changed."))
    restored = agent_version_restore(agent=agent, actor=Actor(user=cast.member), number=1)
    assert restored.number == 3
    assert restored.note == "Restored from version 1."
    assert restored.configuration == agent.versions.get(number=1).configuration
    agent.refresh_from_db()
    assert agent.configuration["llm"]["system_prompt"] == "Be brief."
    assert ActivityEntry.objects.filter(action=Action.VERSION_RESTORED).count() == 1


def test_restore_under_review_makes_a_draft(cast: Cast) -> None:
    agent = _agent(cast)
    agent_update(agent=agent, actor=SYSTEM, changes=_prompt("Changed."))
    agent_update(agent=agent, actor=SYSTEM, changes={"publish_mode": "review"})
    agent_version_restore(agent=agent, actor=SYSTEM, number=1)
    agent.refresh_from_db()
    assert agent.configuration["llm"]["system_prompt"] == "Changed."
    assert agent.draft_version.number == 4


def test_an_unknown_version_is_not_found(cast: Cast) -> None:
    agent = _agent(cast)
    with pytest.raises(NotFound):
        agent_version_publish(agent=agent, actor=SYSTEM, number=9)


def test_the_diff_shows_fields_the_prompt_and_tools(cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="lookup")
    agent = _agent(cast)
    ids = [str(tool.id)]
    agent_update(
        agent=agent,
        actor=SYSTEM,
        changes={
            "configuration": {
                "llm": {"system_prompt": "Be brief.\nBe kind.", "temperature": 0.1},
                "tool_calling": {"selected_tool_ids": ids},
            }
        },
    )
    tool_update(tool=tool, actor=SYSTEM, changes={"description": "Finds orders."})
    agent_update(agent=agent, actor=SYSTEM, changes={"name": "Helper"})
    diff = agent_version_diff(agent=agent, from_number=1, to_number=3)
    paths = {change.path: (change.before, change.after) for change in diff.fields}
    assert paths["llm.temperature"] == (0.7, 0.1)
    assert paths["name"] == ("Support", "Helper")
    assert "llm.system_prompt" not in paths
    assert [(line.kind, line.text) for line in diff.system_prompt] == [
        ("same", "Be brief."),
        ("added", "Be kind."),
    ]
    assert [(t.name, t.change) for t in diff.tools] == [("lookup", "added")]
    tools = agent_version_diff(agent=agent, from_number=2, to_number=3).tools
    assert [(t.change, t.fields) for t in tools] == [("changed", ["description"])]


def test_versions_are_numbered_per_agent(cast: Cast) -> None:
    one, two = _agent(cast), _agent(cast)
    agent_update(agent=one, actor=SYSTEM, changes={"name": "One"})
    assert _numbers(one) == [1, 2]
    assert _numbers(two) == [1]
    assert AgentVersion.objects.count() == 3
