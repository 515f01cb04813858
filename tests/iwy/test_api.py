"""POST /v1/iwy/ephemeral-agent and GET /v1/iwy/ephemeral-agents."""

from typing import Any

import pytest
from django.test import Client

from iwy import services
from iwy.models import AgentLink, IwyAccount, MintedAgent, ToolLink
from tests.conftest import Cast
from tests.factories import AgentFactory

from .conftest import a_tool, an_agent
from .iwy_standin import IwyStandIn

pytestmark = pytest.mark.django_db

MINT = "/v1/iwy/ephemeral-agent"


def mint(api: Client, body: dict[str, Any]) -> Any:
    return api.post(MINT, body, content_type="application/json")


def test_minting_from_a_permanent_agent_answers_iwys_agent_and_records_it(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    agent = an_agent(cast, llm={"system_prompt": "Demo"})
    r = mint(api, {"agent_id": str(agent.id), "ttl_seconds": 600, "metadata": {"c": "summer"}})
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"agent"}
    remote = standin.ephemeral[body["agent"]["id"]]
    assert body["agent"] == {k: remote[k] for k in ("id", "expires_at", "created_at")}
    assert remote["request"]["ttl_seconds"] == 600
    listed = api.get("/v1/iwy/ephemeral-agents").json()
    assert listed["count"] == 1
    (item,) = listed["items"]
    assert item["id"] == body["agent"]["id"]
    assert item["source_agent_id"] == str(agent.id)
    assert item["metadata"] == {"c": "summer"}


def test_minting_from_a_configuration(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    r = mint(api, {"configuration": {"llm": {"first_message": "Welcome!"}}})
    assert r.status_code == 201
    (request,) = standin.seen("POST", "/ephemeral-agent")
    assert request.body["ttl_seconds"] == 300
    assert request.body["configuration"]["llm"]["first_message"] == "Welcome!"
    assert MintedAgent.objects.get().source_agent is None


def test_without_an_iwy_account_it_is_409_saying_what_to_configure(
    cast: Cast, api: Client, standin: IwyStandIn
) -> None:
    r = mint(api, {"configuration": {}})
    assert r.status_code == 409
    assert "no iwy account connected" in r.json()["error"]
    assert r.json()["details"] == {"missing": "iwy_account"}
    assert standin.requests == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "agent_id"),
        ({"configuration": {}, "agent_id": "6f1c0000-0000-4000-8000-000000000000"}, "agent_id"),
        ({"configuration": {}, "ttl_seconds": 30}, "ttl_seconds"),
        ({"configuration": {}, "ttl_seconds": 90_000}, "ttl_seconds"),
        ({"configuration": {"llm": {"temperature": 9}}}, "configuration.llm.temperature"),
        ({"configuration": {}, "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn, body: Any, field: str
) -> None:
    r = mint(api, body)
    assert r.status_code in (400, 404, 422), r.content
    if r.status_code != 404:
        assert field in r.json()["error"]
    assert standin.seen("POST") == []


def test_another_teams_agent_is_not_found(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    other = AgentFactory(team=cast.other_team)
    r = mint(api, {"agent_id": str(other.id)})
    assert r.status_code == 404
    assert standin.requests == []


def test_an_agent_whose_tools_are_not_on_iwy_is_refused_naming_them(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast, name="book_table")
    agent = an_agent(cast, tool_calling={"selected_tool_ids": [str(tool.id)]})
    r = mint(api, {"agent_id": str(agent.id)})
    assert r.status_code == 400
    assert "book_table" in r.json()["error"]


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [
        (400, 422, "iwy_rejected"),
        (401, 502, "iwy_error"),
        (500, 502, "iwy_error"),
        (429, 503, "iwy_unavailable"),
    ],
)
def test_iwys_refusals_are_clear_errors_with_iwys_message(
    cast: Cast,
    api: Client,
    account: IwyAccount,
    standin: IwyStandIn,
    status: int,
    answer: int,
    code: str,
) -> None:
    standin.fail("POST", "/ephemeral-agent", status, "iwy says no")
    r = mint(api, {"configuration": {}})
    assert r.status_code == answer
    assert r.json()["code"] == code
    assert "iwy says no" in r.json()["error"]
    assert r.json()["details"]["iwy_status"] == status
    assert not MintedAgent.objects.exists()


def test_a_slow_iwy_is_a_503(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn, settings: Any
) -> None:
    settings.IWY_TIMEOUT_SECONDS = 0.3
    standin.slow("POST", "/ephemeral-agent", 1.0)
    r = mint(api, {"configuration": {}})
    assert r.status_code == 503
    assert "did not answer" in r.json()["error"]


def test_a_read_only_key_cannot_mint_but_can_list(
    cast: Cast, read_only_api: Client, outsider_api: Client, account: IwyAccount
) -> None:
    assert mint(read_only_api, {"configuration": {}}).status_code == 403
    assert read_only_api.get("/v1/iwy/ephemeral-agents").json()["count"] == 0
    MintedAgent.objects.create(team=cast.team, remote_id="x", ttl_seconds=60)
    assert outsider_api.get("/v1/iwy/ephemeral-agents").json()["count"] == 0
    assert Client().post(MINT, {}, content_type="application/json").status_code == 401


# Agents and tools on iwy.


def test_an_agent_is_published_with_its_tools_and_read_back(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    agent = an_agent(cast, tool_calling={"selected_tool_ids": [str(tool.id)]})
    url = f"/v1/agents/{agent.id}/iwy"
    refused = api.post(url, {}, content_type="application/json")
    assert refused.status_code == 409
    assert tool.name in refused.json()["error"]
    r = api.post(url, {"with_tools": True}, content_type="application/json")
    assert r.status_code == 201, r.content
    link = AgentLink.objects.get(agent=agent)
    assert r.json()["iwy_id"] == link.remote_id
    assert r.json()["state"] == "in_sync"
    assert link.remote_id in standin.agents
    assert api.get(f"/v1/tools/{tool.id}/iwy").json()["state"] == "in_sync"
    again = api.post(url, {}, content_type="application/json")
    assert again.status_code == 409


def test_drift_is_read_and_resolved_through_the_api(
    cast: Cast, api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    standin.edit("agent", link.remote_id, name="iwy's name")
    services.link_pull(model=AgentLink, link_id=link.pk)
    url = f"/v1/agents/{agent.id}/iwy"
    shown = api.get(url).json()
    assert shown["state"] == "drift"
    assert any(field["field"] == "name" for field in shown["diff"]), shown["diff"]
    bad = api.post(f"{url}/resolve", {"keep": "both"}, content_type="application/json")
    assert bad.status_code in (400, 422)
    kept = api.post(f"{url}/resolve", {"keep": "iwy"}, content_type="application/json")
    assert kept.status_code == 200, kept.content
    assert kept.json()["state"] == "in_sync"
    agent.refresh_from_db()
    assert agent.name == "iwy's name"


def test_unlinking_and_what_is_not_there(
    cast: Cast, api: Client, outsider_api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool = a_tool(cast)
    url = f"/v1/tools/{tool.id}/iwy"
    assert api.get(url).status_code == 404  # not published yet
    services.tool_publish(tool=tool)
    assert outsider_api.get(url).status_code == 404
    assert outsider_api.delete(url).status_code == 404
    wrong = api.get(f"/v1/sessions/{tool.id}/iwy")
    assert wrong.status_code == 400
    assert "agents" in str(wrong.json()), wrong.json()
    assert api.delete(url).status_code == 204
    assert not ToolLink.objects.exists()
    assert api.get(url).status_code == 404


def test_a_read_only_key_reads_but_cannot_publish(
    cast: Cast, read_only_api: Client, account: IwyAccount, standin: IwyStandIn
) -> None:
    agent = an_agent(cast)
    url = f"/v1/agents/{agent.id}/iwy"
    assert read_only_api.post(url, {}, content_type="application/json").status_code == 403
    assert not AgentLink.objects.exists()
