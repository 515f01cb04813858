"""Publishing to iwy, pushing changes, pulling iwy's side, drift and its resolution, and single-use
agents minted on iwy, against the loopback stand-in of iwy's API (tests/iwy/iwy_standin.py)."""

from typing import Any

import pytest

from activity.models import ActivityEntry
from activity.services import Actor
from agents.models import AgentKind
from agents.services import agent_update
from iwy import services
from iwy.client import IwyError, IwyRejected, IwyUnavailable
from iwy.models import AgentLink, IwyAccount, MintedAgent, SyncState, ToolLink
from parley.errors import Conflict, InvalidInput
from tests.conftest import Cast
from tests.factories import AgentFactory
from tools.services import tool_update

from .conftest import a_tool, an_agent
from .iwy_standin import IwyStandIn

pytestmark = pytest.mark.django_db


def changed(capture: Any, do: Any) -> None:
    """Make a change in Parley and run what it queued once it commits (the push)."""
    with capture(execute=True):
        do()


def pull(link: AgentLink | ToolLink) -> str:
    model = AgentLink if isinstance(link, AgentLink) else ToolLink
    return services.link_pull(model=model, link_id=link.pk)


# The account.


def test_connecting_stores_the_key_encrypted_and_records_only_its_hint(
    cast: Cast, owner: Actor
) -> None:
    key = "iwy_sk_" + "a" * 30
    services.account_connect(team=cast.team, actor=owner, api_key=f"  {key} ")
    account = IwyAccount.objects.get(team=cast.team)
    assert account.api_key == key
    raw = IwyAccount.objects.filter(pk=account.pk).values_list("credentials", flat=True).get()
    assert key not in raw
    entry = ActivityEntry.objects.get(team=cast.team, target_id="iwy")
    assert key not in str(entry.changes)
    services.account_connect(team=cast.team, actor=owner, api_key="iwy_sk_" + "b" * 30)
    assert IwyAccount.objects.get(team=cast.team).api_key.endswith("b" * 30)


@pytest.mark.parametrize("key", ["", "two words", "line\nbreak"])
def test_a_key_that_cannot_be_one_is_refused(cast: Cast, owner: Actor, key: str) -> None:
    with pytest.raises(InvalidInput):
        services.account_connect(team=cast.team, actor=owner, api_key=key)
    assert not IwyAccount.objects.exists()


def test_without_an_account_publishing_says_what_to_configure(
    cast: Cast, standin: IwyStandIn
) -> None:
    with pytest.raises(Conflict, match=r"no iwy account connected.*iwy Service API key"):
        services.tool_publish(tool=a_tool(cast))
    assert standin.requests == []


# Publishing.


def test_a_tool_is_published_with_its_headers_and_its_iwy_id_kept(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast, timeout_seconds=30, tags=["weather"])
    link = services.tool_publish(tool=tool)
    (request,) = standin.seen("POST", "/tool")
    assert request.headers["authorization"] == f"Bearer {standin.key}"
    assert request.body["name"] == "get_weather"
    assert request.body["headers"] == {"x-api-key": "hook-secret"}  # iwy calls the webhook
    assert request.body["auth_config"] == {}
    assert (request.body["timeout_seconds"], request.body["tags"]) == (30, ["weather"])
    assert link.remote_id in standin.tools
    assert link.state == SyncState.IN_SYNC
    with pytest.raises(Conflict, match="already on iwy"):
        services.tool_publish(tool=tool)


def test_an_agent_whose_tools_are_not_on_iwy_is_refused_naming_them(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    agent = an_agent(cast, tool_calling={"selected_tool_ids": [str(tool.id)]})
    with pytest.raises(Conflict, match="not on iwy yet: get_weather"):
        services.agent_publish(agent=agent)
    assert standin.requests == []


def test_an_agent_published_with_its_tools_refers_to_them_by_their_iwy_ids(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    agent = an_agent(
        cast,
        llm={"system_prompt": "Be brief.", "temperature": 0.3},
        tool_calling={"selected_tool_ids": [str(tool.id)]},
    )
    link = services.agent_publish(agent=agent, with_tools=True)
    tool_id = ToolLink.objects.get(tool=tool).remote_id
    assert [r.path for r in standin.requests] == ["/tool", "/agent"]
    sent = standin.seen("POST", "/agent")[0].body
    assert sent["name"] == "Ada"
    assert sent["configuration"]["tool_calling"] == {"selected_tool_ids": [tool_id]}
    assert sent["configuration"]["llm"]["system_prompt"] == "Be brief."
    assert "temperature" not in sent["configuration"]["llm"]  # Parley's own, not iwy's
    assert "turn_detection" not in sent["configuration"]
    assert standin.agents[link.remote_id]["name"] == "Ada"


def test_single_use_agents_are_not_published(cast: Cast, account: IwyAccount) -> None:
    agent = AgentFactory(team=cast.team, kind=AgentKind.SINGLE_USE)
    with pytest.raises(InvalidInput, match="only permanent agents"):
        services.agent_publish(agent=agent)


def test_a_refused_publish_keeps_nothing_and_says_what_iwy_said(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    standin.fail("POST", "/agent", 400, "llm.model is not supported")
    with pytest.raises(IwyRejected, match=r"llm\.model is not supported"):
        services.agent_publish(agent=an_agent(cast))
    assert not AgentLink.objects.exists()


# Pushing Parley's changes.


def test_a_change_is_pushed_as_a_patch_of_only_the_changed_fields(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    changed(
        django_capture_on_commit_callbacks,
        lambda: agent_update(agent=agent, actor=owner, changes={"name": "Ada II"}),
    )
    (patch,) = standin.seen("PATCH")
    assert patch.path == f"/agent/{link.remote_id}"
    assert patch.body == {"name": "Ada II"}
    assert standin.agents[link.remote_id]["name"] == "Ada II"
    link.refresh_from_db()
    assert (link.state, link.last_error) == (SyncState.IN_SYNC, "")


def test_a_configuration_change_sends_the_configuration_keeping_iwys_own_fields(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    changes = {"configuration": {"llm": {"system_prompt": "Speak French."}}}
    changed(
        django_capture_on_commit_callbacks,
        lambda: agent_update(agent=agent, actor=owner, changes=changes),
    )
    (patch,) = standin.seen("PATCH")
    assert set(patch.body) == {"configuration"}
    llm = patch.body["configuration"]["llm"]
    assert llm["system_prompt"] == "Speak French."
    assert llm["cost_per_minute"] == 0.001532  # iwy's, sent back as it was
    assert standin.agents[link.remote_id]["configuration"]["llm"]["system_prompt"] == (
        "Speak French."
    )


def test_a_change_iwy_has_no_field_for_pushes_nothing(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    services.agent_publish(agent=agent)
    changes = {"configuration": {"llm": {"temperature": 0.1}}}
    changed(
        django_capture_on_commit_callbacks,
        lambda: agent_update(agent=agent, actor=owner, changes=changes),
    )
    assert [r.method for r in standin.requests] == ["POST"]
    assert AgentLink.objects.get().state == SyncState.IN_SYNC


def test_a_tool_change_is_pushed(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    tool = a_tool(cast)
    link = services.tool_publish(tool=tool)
    changed(
        django_capture_on_commit_callbacks,
        lambda: tool_update(tool=tool, actor=owner, changes={"timeout_seconds": 45}),
    )
    (patch,) = standin.seen("PATCH")
    assert patch.body == {"timeout_seconds": 45}
    assert standin.tools[link.remote_id]["timeout_seconds"] == 45


def test_a_change_is_not_pushed_before_the_commit(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    services.agent_publish(agent=agent)
    with django_capture_on_commit_callbacks() as queued:
        agent_update(agent=agent, actor=owner, changes={"name": "Later"})
        assert AgentLink.objects.get().state == SyncState.PENDING
    assert len(queued) == 1
    assert standin.seen("PATCH") == []


def test_a_change_iwy_refuses_marks_the_link_failed_with_iwys_words(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    services.agent_publish(agent=agent)
    standin.fail("PATCH", "/agent/", 422, "name is too long for iwy")
    changed(
        django_capture_on_commit_callbacks,
        lambda: agent_update(agent=agent, actor=owner, changes={"name": "Ada III"}),
    )
    link = AgentLink.objects.get()
    assert link.state == SyncState.ERROR
    assert "name is too long for iwy" in link.last_error


def test_a_rate_limited_push_is_for_retrying_and_succeeds_later(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    standin.fail("PATCH", "/agent/", 429, "Too many requests")
    with pytest.raises(IwyUnavailable) as caught:
        services.link_push(model=AgentLink, link_id=link.pk)
    assert caught.value.retryable
    link.refresh_from_db()
    assert link.state == SyncState.PENDING  # still to push
    assert "Too many requests" in link.last_error
    assert services.link_push(model=AgentLink, link_id=link.pk) == "pushed"
    assert standin.agents[link.remote_id]["name"] == "Ada II"


def test_iwy_failing_is_for_retrying(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    standin.fail("GET", "/agent/", 503, "upstream down")
    with pytest.raises(IwyError) as caught:
        services.link_push(model=AgentLink, link_id=link.pk)
    assert caught.value.retryable
    assert caught.value.status == 502


def test_a_slow_iwy_is_given_up_on_and_retried(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor, settings: Any
) -> None:
    settings.IWY_TIMEOUT_SECONDS = 0.3
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    standin.slow("GET", "/agent/", 1.0)
    with pytest.raises(IwyUnavailable, match="did not answer"):
        services.link_push(model=AgentLink, link_id=link.pk)
    assert services.link_push(model=AgentLink, link_id=link.pk) == "pushed"


def test_a_change_to_an_agent_using_a_tool_not_on_iwy_fails_naming_it(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    services.agent_publish(agent=agent)
    tool = a_tool(cast, name="book_table")
    changes = {"configuration": {"tool_calling": {"selected_tool_ids": [str(tool.id)]}}}
    changed(
        django_capture_on_commit_callbacks,
        lambda: agent_update(agent=agent, actor=owner, changes=changes),
    )
    link = AgentLink.objects.get()
    assert link.state == SyncState.ERROR
    assert "book_table" in link.last_error
    assert standin.seen("PATCH") == []


# Pulling iwy's side: drift.


def test_a_change_made_on_iwy_is_drift_and_blocks_pushes(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    assert pull(link) == SyncState.IN_SYNC
    standin.edit("agent", link.remote_id, name="Renamed on iwy")
    assert pull(link) == SyncState.DRIFT
    changes = {"configuration": {"llm": {"first_message": "Hello!"}}}
    changed(
        django_capture_on_commit_callbacks,
        lambda: agent_update(agent=agent, actor=owner, changes=changes),
    )
    assert standin.seen("PATCH") == []  # iwy's change is not overwritten
    link.refresh_from_db()
    assert link.state == SyncState.DRIFT
    rows = {row["field"]: row for row in services.link_diff(link=link)}
    assert rows["name"] == {
        "field": "name",
        "parley": "Ada",
        "iwy": "Renamed on iwy",
        "parley_changed": False,
        "iwy_changed": True,
    }
    assert rows["configuration.llm.first_message"]["parley"] == "Hello!"
    assert rows["configuration.llm.first_message"]["parley_changed"] is True


def test_a_push_checks_iwy_first_and_stops_at_drift(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    standin.edit("agent", link.remote_id, publish_status="public")
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    assert services.link_push(model=AgentLink, link_id=link.pk) == "drift"
    assert standin.seen("PATCH") == []
    assert standin.agents[link.remote_id]["publish_status"] == "public"


def test_iwys_own_fields_changing_is_not_drift(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    link = services.agent_publish(agent=an_agent(cast))
    standin.agents[link.remote_id]["configuration"]["llm"]["cost_per_minute"] = 0.5
    assert pull(link) == SyncState.IN_SYNC


def test_a_change_undone_on_iwy_is_no_longer_drift(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    link = services.agent_publish(agent=an_agent(cast))
    standin.edit("agent", link.remote_id, name="Other")
    assert pull(link) == SyncState.DRIFT
    standin.edit("agent", link.remote_id, name="Ada")
    assert pull(link) == SyncState.IN_SYNC


def test_a_pull_pushes_changes_left_pending(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    agent_update(agent=agent, actor=owner, changes={"name": "Queued"})  # its push was lost
    changed(django_capture_on_commit_callbacks, lambda: pull(link))
    assert standin.agents[link.remote_id]["name"] == "Queued"
    assert AgentLink.objects.get().state == SyncState.IN_SYNC


def test_an_object_gone_from_iwy_marks_the_link_failed(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    link = services.tool_publish(tool=a_tool(cast))
    del standin.tools[link.remote_id]
    with pytest.raises(IwyError):
        pull(link)
    link.refresh_from_db()
    assert link.state == SyncState.ERROR
    assert "Tool not found" in link.last_error


def test_without_an_account_the_links_wait(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    services.account_disconnect(team=cast.team, actor=owner)
    assert pull(link) == "paused"
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    assert services.link_push(model=AgentLink, link_id=link.pk) == "paused"
    link.refresh_from_db()
    assert link.state == SyncState.PENDING
    assert "no iwy account" in link.last_error


# A person resolves drift.


def drifted_agent(cast: Cast, standin: IwyStandIn, owner: Actor) -> AgentLink:
    agent = an_agent(cast, llm={"system_prompt": "Parley's prompt"})
    link = services.agent_publish(agent=agent)
    remote = standin.agents[link.remote_id]
    remote["configuration"]["llm"]["system_prompt"] = "iwy's prompt"
    standin.edit("agent", link.remote_id, name="iwy's name")
    agent_update(agent=agent, actor=owner, changes={"publish_status": "private"})
    pull(link)
    link.refresh_from_db()
    assert link.state == SyncState.DRIFT
    return link


def test_keeping_parleys_pushes_parleys_values_over_iwys(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    link = drifted_agent(cast, standin, owner)
    services.link_keep_parley(link=link)
    (patch,) = standin.seen("PATCH")
    assert set(patch.body) == {"name", "publish_status", "configuration"}
    remote = standin.agents[link.remote_id]
    assert (remote["name"], remote["publish_status"]) == ("Ada", "private")
    assert remote["configuration"]["llm"]["system_prompt"] == "Parley's prompt"
    link.refresh_from_db()
    assert (link.state, link.remote_seen) == (SyncState.IN_SYNC, None)
    assert pull(link) == SyncState.IN_SYNC


def test_taking_iwys_applies_iwys_values_to_parley_through_the_update(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    owner: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    link = drifted_agent(cast, standin, owner)
    changed(
        django_capture_on_commit_callbacks,
        lambda: services.link_take_iwy(link=link, actor=owner),
    )
    agent = link.agent
    agent.refresh_from_db()
    assert agent.name == "iwy's name"
    assert agent.publish_status == "draft"  # iwy's
    assert agent.configuration["llm"]["system_prompt"] == "iwy's prompt"
    assert agent.configuration["llm"]["temperature"] == 0.7  # Parley's own, untouched
    assert ActivityEntry.objects.filter(target_id=str(agent.id), action="published").exists()
    assert standin.seen("PATCH") == []
    link.refresh_from_db()
    assert link.state == SyncState.IN_SYNC
    assert pull(link) == SyncState.IN_SYNC


def test_iwys_values_parley_cannot_take_are_refused_and_change_nothing(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    link = drifted_agent(cast, standin, owner)
    standin.agents[link.remote_id]["configuration"]["llm"]["provider"] = "anthropic"
    with pytest.raises(InvalidInput, match=r"configuration\.llm\.provider"):
        services.link_take_iwy(link=link, actor=owner)
    link.agent.refresh_from_db()
    assert link.agent.name == "Ada"
    assert AgentLink.objects.get().state == SyncState.DRIFT


def test_taking_iwys_tool_keeps_a_header_iwy_shows_redacted(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    tool = a_tool(cast)
    link = services.tool_publish(tool=tool)
    standin.edit(
        "tool", link.remote_id, headers={"x-api-key": "[REDACTED]"}, description="From iwy."
    )
    assert pull(link) == SyncState.DRIFT
    link.refresh_from_db()
    rows = {row["field"]: row for row in services.link_diff(link=link)}
    assert rows["description"]["iwy"] == "From iwy."
    assert rows["headers.x-api-key"]["parley"] == "[REDACTED]"  # never shown in clear
    services.link_take_iwy(link=link, actor=owner)
    tool.refresh_from_db()
    assert tool.description == "From iwy."
    assert tool.headers == {"x-api-key": "hook-secret"}


def test_taking_an_agent_whose_iwy_tools_are_not_linked_is_refused(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    link = drifted_agent(cast, standin, owner)
    standin.agents[link.remote_id]["configuration"]["tool_calling"] = {
        "selected_tool_ids": ["6f1c0000-0000-4000-8000-000000000000"]
    }
    with pytest.raises(InvalidInput, match="no Parley tool is linked"):
        services.link_take_iwy(link=link, actor=owner)


# Single-use agents on iwy.


def test_a_single_use_agent_is_minted_from_a_permanent_agent_and_recorded(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast, llm={"system_prompt": "Demo"})
    minted, remote = services.agent_mint(
        team=cast.team, actor=owner, agent=agent, ttl_seconds=600, metadata={"campaign": "x"}
    )
    (request,) = standin.seen("POST", "/ephemeral-agent")
    assert request.body["ttl_seconds"] == 600
    assert request.body["metadata"] == {"campaign": "x"}
    assert request.body["configuration"]["llm"]["system_prompt"] == "Demo"
    assert minted.remote_id == remote["id"]
    assert remote["id"] in standin.ephemeral
    assert minted.expires_at is not None
    assert minted.source_agent == agent
    assert MintedAgent.objects.filter(team=cast.team).count() == 1


def test_a_configuration_to_mint_is_checked_as_parleys_own(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    with pytest.raises(InvalidInput, match=r"configuration\.llm\.sytem_prompt"):
        services.agent_mint(
            team=cast.team,
            actor=owner,
            configuration={"llm": {"sytem_prompt": "typo"}},
            ttl_seconds=300,
            metadata={},
        )
    assert standin.requests == []


def test_a_good_pull_clears_an_earlier_error(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    link = services.tool_publish(tool=a_tool(cast))
    standin.fail("GET", "/tool/", 404, "Tool not found")
    with pytest.raises(IwyError):
        pull(link)
    assert ToolLink.objects.get().state == SyncState.ERROR
    assert pull(link) == SyncState.IN_SYNC
    assert ToolLink.objects.get().last_error == ""


def test_tools_published_for_an_agent_iwy_then_refuses_stay_linked(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    agent = an_agent(cast, tool_calling={"selected_tool_ids": [str(tool.id)]})
    standin.fail("POST", "/agent", 400, "no")
    with pytest.raises(IwyRejected):
        services.agent_publish(agent=agent, with_tools=True)
    assert ToolLink.objects.filter(tool=tool).exists()
    services.agent_publish(agent=agent, with_tools=True)
    assert len(standin.seen("POST", "/tool")) == 1
