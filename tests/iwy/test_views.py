"""The iwy page, and the iwy panel's actions on agent and tool pages."""

from typing import Any

import pytest

from activity.models import Action, ActivityEntry
from iwy import services
from iwy.models import AgentLink, IwyAccount, SyncState, ToolLink
from tests.conftest import Cast, signed_in

from .conftest import a_tool, an_agent
from .iwy_standin import IwyStandIn

pytestmark = pytest.mark.django_db

KEY = "iwy_sk_0123456789abcdefghij"


def test_an_owner_connects_replaces_and_disconnects_the_account(cast: Cast) -> None:
    client = signed_in(cast.owner)
    page = client.get("/iwy/")
    assert page.status_code == 200
    assert b"Connect iwy" in page.content
    r = client.post("/iwy/account/", {"api_key": KEY})
    assert r.status_code == 302
    page = client.get("/iwy/")
    assert KEY.encode() not in page.content
    assert b"iwy\xe2\x80\xa6ghij" in page.content  # the hint: first 3, last 4
    assert b"Replace key" in page.content
    client.post("/iwy/account/", {"api_key": KEY + "X"})
    assert IwyAccount.objects.get().api_key == KEY + "X"
    assert client.post("/iwy/account/delete/").status_code == 302
    assert not IwyAccount.objects.exists()


def test_a_key_that_cannot_be_one_is_shown_beside_the_field(cast: Cast) -> None:
    r = signed_in(cast.owner).post("/iwy/account/", {"api_key": "two words"})
    assert r.status_code == 400
    assert b"no spaces" in r.content
    assert not IwyAccount.objects.exists()


def test_only_owners_and_admins_change_the_account(cast: Cast) -> None:
    assert signed_in(cast.member).post("/iwy/account/", {"api_key": KEY}).status_code == 403
    assert signed_in(cast.member).post("/iwy/account/delete/").status_code == 403
    assert not IwyAccount.objects.exists()
    assert b"Only owners and admins" in signed_in(cast.member).get("/iwy/").content


def test_the_iwy_page_answers_only_get_and_only_the_signed_in(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/iwy/").status_code == 405
    assert signed_in(cast.owner).get("/iwy/account/").status_code == 405
    from django.test import Client

    assert Client().get("/iwy/").status_code == 302


def test_a_member_publishes_an_agent_with_its_tools_from_its_page(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    agent = an_agent(cast, tool_calling={"selected_tool_ids": [str(tool.id)]})
    client = signed_in(cast.member)
    page = client.get(f"/agents/{agent.id}/")
    assert b"Publish to iwy with its tools" in page.content
    r = client.post(f"/iwy/agents/{agent.id}/publish/", {"with_tools": "1"})
    assert r.status_code == 302
    assert r["Location"] == f"/agents/{agent.id}/"
    link = AgentLink.objects.get(agent=agent)
    page = client.get(f"/agents/{agent.id}/")
    assert link.remote_id.encode() in page.content
    assert b"In sync" in page.content
    assert ToolLink.objects.filter(tool=tool).exists()
    published = ActivityEntry.objects.filter(action=Action.IWY_PUBLISHED, actor=cast.member)
    assert sorted(published.values_list("target_type", flat=True)) == ["agent", "tool"]
    assert published.get(target_type="agent").changes == {"iwy_id": [None, link.remote_id]}


def test_a_publish_iwy_refuses_says_what_iwy_said(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    standin.fail("POST", "/tool", 400, "server_url must be https")
    client = signed_in(cast.member)
    r = client.post(f"/iwy/tools/{tool.id}/publish/", follow=True)
    assert b"server_url must be https" in r.content
    assert not ToolLink.objects.exists()


def test_without_an_account_the_panel_says_where_to_connect_one(cast: Cast) -> None:
    agent = an_agent(cast)
    page = signed_in(cast.member).get(f"/agents/{agent.id}/")
    assert b"Connect the team's iwy account" in page.content
    page = signed_in(cast.member).get(f"/tools/{a_tool(cast).id}/")
    assert b"Connect the team's iwy account" in page.content


def test_a_viewer_sees_the_panel_but_cannot_publish(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    agent = an_agent(cast)
    client = signed_in(cast.viewer)
    assert b"Publish to iwy" not in client.get(f"/agents/{agent.id}/").content
    assert client.post(f"/iwy/agents/{agent.id}/publish/").status_code == 403
    assert standin.requests == []


def test_another_teams_agent_or_tool_is_not_found(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    agent, tool = an_agent(cast), a_tool(cast)
    services.agent_publish(agent=agent)
    client = signed_in(cast.outsider)
    for path in ("publish", "resolve", "pull", "unlink"):
        assert client.post(f"/iwy/agents/{agent.id}/{path}/", {"keep": "iwy"}).status_code == 404
        assert client.post(f"/iwy/tools/{tool.id}/{path}/", {"keep": "iwy"}).status_code == 404
    assert client.get(f"/iwy/agents/{agent.id}/preview/").status_code == 404
    assert AgentLink.objects.filter(agent=agent).exists()


def test_an_unknown_kind_or_a_wrong_method_is_refused(cast: Cast, account: IwyAccount) -> None:
    agent = an_agent(cast)
    client = signed_in(cast.member)
    assert client.post(f"/iwy/sessions/{agent.id}/publish/").status_code == 404
    assert client.get(f"/iwy/agents/{agent.id}/publish/").status_code == 405


def drifted(cast: Cast, standin: IwyStandIn) -> AgentLink:
    agent = an_agent(cast, llm={"system_prompt": "Parley's prompt"})
    link = services.agent_publish(agent=agent)
    standin.edit("agent", link.remote_id, name="iwy's name")
    services.link_pull(model=AgentLink, link_id=link.pk)
    link.refresh_from_db()
    return link


def test_drift_is_shown_with_the_fields_that_differ_on_both_pages(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    link = drifted(cast, standin)
    client = signed_in(cast.member)
    page = client.get(f"/agents/{link.agent_id}/").content.decode()
    assert "Changed on iwy" in page
    assert "iwy&#x27;s name" in page
    assert "changed on iwy" in page
    assert "Keep Parley's" in page
    assert "Take iwy's" in page
    listing = client.get("/iwy/").content.decode()
    assert 'data-iwy-state="drift"' in listing
    assert f"/agents/{link.agent_id}/#iwy" in listing


def test_resolving_needs_a_side(cast: Cast, account: IwyAccount, standin: IwyStandIn) -> None:
    link = drifted(cast, standin)
    client = signed_in(cast.member)
    assert client.post(f"/iwy/agents/{link.agent_id}/resolve/", {}).status_code == 400
    r = client.post(f"/iwy/agents/{link.agent_id}/resolve/", {"keep": "both"})
    assert r.status_code == 400
    assert AgentLink.objects.get().state == SyncState.DRIFT


def test_taking_iwys_from_the_page(cast: Cast, account: IwyAccount, standin: IwyStandIn) -> None:
    link = drifted(cast, standin)
    r = signed_in(cast.member).post(
        f"/iwy/agents/{link.agent_id}/resolve/", {"keep": "iwy", "back": "iwy"}
    )
    assert r["Location"] == "/iwy/"
    link.agent.refresh_from_db()
    assert link.agent.name == "iwy's name"
    assert AgentLink.objects.get().state == SyncState.IN_SYNC


def test_keeping_parleys_from_the_page_with_htmx(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    link = drifted(cast, standin)
    r = signed_in(cast.member).post(
        f"/iwy/agents/{link.agent_id}/resolve/", {"keep": "parley"}, headers={"HX-Request": "true"}
    )
    assert r["HX-Redirect"] == f"/agents/{link.agent_id}/"
    assert standin.agents[link.remote_id]["name"] == "Ada"
    assert ActivityEntry.objects.get(action=Action.IWY_KEPT).actor == cast.member


def test_checking_now_and_unlinking(cast: Cast, account: IwyAccount, standin: IwyStandIn) -> None:
    tool = a_tool(cast)
    link = services.tool_publish(tool=tool)
    client = signed_in(cast.member)
    standin.edit("tool", link.remote_id, description="Changed on iwy.")
    r = client.post(f"/iwy/tools/{tool.id}/pull/", follow=True)
    assert b"is drift" in r.content
    assert client.post(f"/iwy/tools/{tool.id}/unlink/").status_code == 302
    assert not ToolLink.objects.exists()
    assert link.remote_id in standin.tools  # nothing deleted on iwy
    unlinked = ActivityEntry.objects.get(action=Action.IWY_UNLINKED)
    assert (unlinked.actor, unlinked.target_label) == (cast.member, tool.name)
    assert b"unlinked from iwy" in client.get("/activity/").content
    assert client.post(f"/iwy/tools/{tool.id}/unlink/").status_code == 404


def test_the_preview_page_loads_iwys_widget_for_the_agents_iwy_id(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, settings: Any
) -> None:
    settings.IWY_WIDGET_URL = "https://cdn.example.com/live-avatar.min.js"
    agent = an_agent(cast)
    client = signed_in(cast.viewer)
    assert client.get(f"/iwy/agents/{agent.id}/preview/").status_code == 404  # not on iwy
    link = services.agent_publish(agent=agent)
    page = client.get(f"/agents/{agent.id}/")
    assert f"/iwy/agents/{agent.id}/preview/".encode() in page.content
    r = client.get(f"/iwy/agents/{agent.id}/preview/")
    assert r.status_code == 200
    assert r["X-Frame-Options"] == "SAMEORIGIN"
    body = r.content.decode()
    assert f'<live-avatar agentid="{link.remote_id}">' in body
    assert 'data-widget-url="https://cdn.example.com/live-avatar.min.js"' in body
    assert "needs an internet connection" in body


def test_the_iwy_page_lists_links_and_minted_agents_in_few_queries(
    cast: Cast,
    account: IwyAccount,
    standin: IwyStandIn,
    django_assert_max_num_queries: Any,
) -> None:
    from activity.services import Actor

    for n in range(3):
        services.tool_publish(tool=a_tool(cast, name=f"tool_{n}"))
        services.agent_publish(agent=an_agent(cast, name=f"Agent {n}"))
    services.agent_mint(
        team=cast.team, actor=Actor(user=cast.owner), configuration={}, ttl_seconds=60, metadata={}
    )
    client = signed_in(cast.owner)
    # session, user, membership(s), account, agent links, tool links, minted
    with django_assert_max_num_queries(12):
        page = client.get("/iwy/")
    assert page.content.count(b"data-link") == 6
    assert page.content.count(b"data-minted") == 1
