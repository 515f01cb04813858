import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from agents.models import Agent, AgentKind
from providers.models import Provider
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory
from tests.http import call, patch, post

pytestmark = pytest.mark.django_db

VALID = {"name": "Support", "configuration": {"llm": {"system_prompt": "Be brief."}}}


@pytest.mark.parametrize("path", ["/v1/agents", "/v1/agent"])
def test_it_creates_an_agent_with_defaults_filled(api: Client, cast: Cast, path: str) -> None:
    r = post(api, path, VALID)
    assert r.status_code == 201
    body = r.json()
    assert body["publish_status"] == "draft"
    assert body["kind"] == "permanent"
    assert body["configuration"]["llm"]["system_prompt"] == "Be brief."
    assert body["configuration"]["turn_detection"]["threshold"] == 0.5
    assert Agent.objects.get(id=body["id"]).team == cast.team


# The LLM an agent gets when the request names no provider.

LOCAL = {"local": {"base_url": "http://127.0.0.1:8003/v1"}}
OPENAI_KEY = {"openai": {"api_key": "sk-operator-0000000000000000"}}


def created_llm(api: Client, path: str, configuration: dict[str, Any]) -> tuple[str, str]:
    """The provider and model of the agent the API made, as stored."""
    r = post(api, path, {"name": "Support", "configuration": configuration})
    assert r.status_code in (200, 201), r.json()
    agent_id = r.json()["agent"]["id"] if path == "/v1/ephemeral-agent" else r.json()["id"]
    llm = Agent.objects.get(id=agent_id).configuration["llm"]
    return llm["provider"], llm["model"]


PATHS = ["/v1/agents", "/v1/agent", "/v1/ephemeral-agent"]


@pytest.mark.parametrize("path", PATHS)
def test_with_no_openai_key_an_agent_gets_the_local_model(
    api: Client, path: str, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    assert created_llm(api, path, {"llm": {"system_prompt": "Be brief."}}) == ("local", "local")
    assert created_llm(api, path, {}) == ("local", "local")


@pytest.mark.parametrize("path", PATHS)
def test_with_the_operators_openai_key_an_agent_gets_openai(
    api: Client, path: str, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL | OPENAI_KEY
    assert created_llm(api, path, {}) == ("openai", "gpt-4o-mini")


def test_with_the_teams_own_openai_key_an_agent_gets_openai(
    api: Client, cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    Provider.objects.create(team=cast.team, kind="openai", credentials={"api_key": "sk-team-key"})
    assert created_llm(api, "/v1/agents", {}) == ("openai", "gpt-4o-mini")


@pytest.mark.parametrize("path", PATHS)
def test_a_provider_sent_is_kept_even_without_a_key(api: Client, path: str, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    assert created_llm(api, path, {"llm": {"provider": "openai"}}) == ("openai", "gpt-4o-mini")
    sent = {"llm": {"provider": "groq", "model": "llama-3.1-8b-instant"}}
    assert created_llm(api, path, sent) == ("groq", "llama-3.1-8b-instant")


def test_a_model_sent_without_a_provider_is_kept(api: Client, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    assert created_llm(api, "/v1/agents", {"llm": {"model": "smollm2"}}) == ("local", "smollm2")


def test_updating_an_agent_leaves_its_provider_alone(api: Client, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    agent_id = post(api, "/v1/agents", {"name": "Support"}).json()["id"]
    settings.LLM_PROVIDER_DEFAULTS = LOCAL | OPENAI_KEY
    r = patch(api, f"/v1/agents/{agent_id}", {"configuration": {"llm": {"temperature": 0.2}}})
    assert r.json()["configuration"]["llm"]["provider"] == "local"


def test_it_records_the_signed_in_creator_as_user_id(cast: Cast) -> None:
    r = post(signed_in(cast.member), "/v1/agents", VALID)
    assert r.status_code == 201
    assert r.json()["user_id"] == str(cast.member.id)


def test_it_gets_by_singular_and_plural_paths(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    for path in (f"/v1/agent/{agent.id}", f"/v1/agents/{agent.id}"):
        r = api.get(path)
        assert r.status_code == 200
        assert r.json()["name"] == agent.name


def test_patch_changes_only_the_fields_sent(api: Client, cast: Cast) -> None:
    agent = Agent.objects.get(id=post(api, "/v1/agents", VALID).json()["id"])
    r = patch(api, f"/v1/agent/{agent.id}", {"configuration": {"llm": {"temperature": 0.2}}})
    assert r.status_code == 200
    llm = r.json()["configuration"]["llm"]
    assert llm["temperature"] == 0.2
    assert llm["system_prompt"] == "Be brief."
    assert r.json()["name"] == "Support"


def test_patch_null_in_configuration_restores_the_default(api: Client, cast: Cast) -> None:
    agent_id = post(api, "/v1/agents", VALID).json()["id"]
    r = patch(api, f"/v1/agents/{agent_id}", {"configuration": {"llm": {"system_prompt": None}}})
    assert r.json()["configuration"]["llm"]["system_prompt"] == "You are a helpful assistant."


def test_patch_refuses_null_name(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    r = patch(api, f"/v1/agent/{agent.id}", {"name": None})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "name"


def test_delete_removes_the_agent(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    assert api.delete(f"/v1/agent/{agent.id}").status_code == 204
    assert api.get(f"/v1/agent/{agent.id}").status_code == 404


def test_list_filters_by_publish_status(api: Client, cast: Cast) -> None:
    AgentFactory(team=cast.team, publish_status="public")
    AgentFactory(team=cast.team, publish_status="draft")
    r = api.get("/v1/agents?publish_status=public")
    assert r.status_code == 200
    assert r.json()["count"] == 1
    assert r.json()["items"][0]["publish_status"] == "public"


def test_list_paginates(api: Client, cast: Cast) -> None:
    AgentFactory.create_batch(5, team=cast.team)
    r = api.get("/v1/agents?limit=2&offset=4")
    assert r.json()["count"] == 5
    assert len(r.json()["items"]) == 1


def test_list_query_count_does_not_grow_with_rows(
    api: Client, cast: Cast, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    AgentFactory.create_batch(30, team=cast.team)
    # The first call looks the key up and records its use; the process then remembers it.
    api.get("/v1/agents")
    # 1: the count; 2: the page of agents.
    with django_assert_num_queries(2):
        assert api.get("/v1/agents").status_code == 200


def test_list_shows_only_the_callers_team(api: Client, cast: Cast) -> None:
    AgentFactory(team=cast.other_team)
    assert api.get("/v1/agents").json()["count"] == 0


# Access: outsider 404, viewer and read-only key cannot write, revoked key 401.

ENDPOINTS = [
    ("get", "/v1/agent/{id}", None),
    ("patch", "/v1/agent/{id}", {"name": "x"}),
    ("delete", "/v1/agent/{id}", None),
    ("get", "/v1/agents/{id}", None),
    ("patch", "/v1/agents/{id}", {"name": "x"}),
    ("delete", "/v1/agents/{id}", None),
]
WRITES = [
    ("post", "/v1/agents", VALID),
    ("post", "/v1/agent", VALID),
    ("post", "/v1/ephemeral-agent", {"configuration": {}}),
    ("patch", "/v1/agent/{id}", {"name": "x"}),
    ("delete", "/v1/agents/{id}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_another_teams_agent_is_not_found(
    outsider_api: Client, cast: Cast, method: str, path: str, body: object
) -> None:
    agent = AgentFactory(team=cast.team)
    r = call(outsider_api, method, path.format(id=agent.id), body)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert Agent.objects.filter(id=agent.id, name=agent.name).exists()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_outsider_signed_in_gets_404(cast: Cast, method: str, path: str, body: object) -> None:
    agent = AgentFactory(team=cast.team)
    assert call(signed_in(cast.outsider), method, path.format(id=agent.id), body).status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_read_only_key_cannot_write(
    read_only_api: Client, cast: Cast, method: str, path: str, body: object
) -> None:
    agent = AgentFactory(team=cast.team, name="kept")
    r = call(read_only_api, method, path.format(id=agent.id), body)
    assert r.status_code == 403
    assert "read-only" in r.json()["error"]
    assert Agent.objects.get(id=agent.id).name == "kept"
    assert Agent.objects.count() == 1


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_viewer_cannot_write(cast: Cast, method: str, path: str, body: object) -> None:
    agent = AgentFactory(team=cast.team, name="kept")
    r = call(signed_in(cast.viewer), method, path.format(id=agent.id), body)
    assert r.status_code == 403
    assert "viewer" in r.json()["error"]
    assert Agent.objects.count() == 1


def test_viewer_and_read_only_key_can_read(read_only_api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    assert read_only_api.get(f"/v1/agent/{agent.id}").status_code == 200
    assert signed_in(cast.viewer).get("/v1/agents").status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS + WRITES)
def test_revoked_key_is_refused(cast: Cast, method: str, path: str, body: object) -> None:
    agent = AgentFactory(team=cast.team)
    cast.key.revoked_at = timezone.now()
    cast.key.save()
    client = Client(headers={"x-api-key": cast.key.secret})
    r = call(client, method, path.format(id=agent.id), body)
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]


def test_missing_key_is_401_with_instructions(db: None) -> None:
    r = Client().get("/v1/agents")
    assert r.status_code == 401
    assert "x-api-key" in r.json()["error"]


def test_unknown_agent_id_is_404(api: Client) -> None:
    assert api.get(f"/v1/agent/{uuid.uuid4()}").status_code == 404


# Bad input.


@pytest.mark.parametrize(
    ("configuration", "field"),
    [
        ({"llm": {"provider": "skynet"}}, "configuration.llm.provider"),
        ({"llm": {"temperature": 2.5}}, "configuration.llm.temperature"),
        ({"llm": {"temperature": "hot"}}, "configuration.llm.temperature"),
        ({"llm": {"max_history": -1}}, "configuration.llm.max_history"),
        ({"stt": {"provider": "ears"}}, "configuration.stt.provider"),
        ({"tts": {"provider": "mouth"}}, "configuration.tts.provider"),
        ({"video": {"provider": "hologram"}}, "configuration.video.provider"),
        ({"turn_detection": {"threshold": 1.5}}, "configuration.turn_detection.threshold"),
        (
            {"turn_detection": {"silence_duration_ms": -5}},
            "configuration.turn_detection.silence_duration_ms",
        ),
        ({"idle_timeout_seconds": 0}, "configuration.idle_timeout_seconds"),
        ({"max_duration_seconds": 10**9}, "configuration.max_duration_seconds"),
        ({"allowed_origins": ["example.com"]}, "configuration.allowed_origins.0"),
        ({"allowed_origins": ["https://example.com/path"]}, "configuration.allowed_origins.0"),
        (
            {"end_of_conversation": {"callback_url": "ftp://x"}},
            "configuration.end_of_conversation.callback_url",
        ),
        ({"llm": {"sytem_prompt": "typo"}}, "configuration.llm.sytem_prompt"),
        (
            {"tool_calling": {"selected_tool_ids": ["nope"]}},
            "configuration.tool_calling.selected_tool_ids.0",
        ),
    ],
)
def test_invalid_configuration_names_the_field(
    api: Client, configuration: dict, field: str
) -> None:
    r = post(api, "/v1/agents", {"name": "x", "configuration": configuration})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "validation_error"
    assert body["details"]["errors"][0]["field"] == field
    assert body["error"].startswith(field)


def test_invalid_configuration_in_patch_names_the_field(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    r = patch(api, f"/v1/agent/{agent.id}", {"configuration": {"llm": {"temperature": 9}}})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "configuration.llm.temperature"


def test_foreign_tool_ids_are_refused(api: Client, cast: Cast) -> None:
    foreign = ToolFactory(team=cast.other_team)
    config = {"tool_calling": {"selected_tool_ids": [str(foreign.id)]}}
    r = post(api, "/v1/agents", {"name": "x", "configuration": config})
    assert r.status_code == 400
    assert (
        r.json()["details"]["errors"][0]["field"] == "configuration.tool_calling.selected_tool_ids"
    )
    assert str(foreign.id) in r.json()["error"]


def test_own_tool_ids_are_accepted(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    config = {"tool_calling": {"selected_tool_ids": [str(tool.id)]}}
    r = post(api, "/v1/agents", {"name": "x", "configuration": config})
    assert r.status_code == 201
    assert r.json()["configuration"]["tool_calling"]["selected_tool_ids"] == [str(tool.id)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"configuration": {}}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "publish_status": "live"}, "publish_status"),
        ({"name": "x", "metadata": []}, "metadata"),
        ({"name": "x", "configuration": "llm"}, "configuration"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_wrong_types_and_enums_are_400(api: Client, body: dict, field: str) -> None:
    r = post(api, "/v1/agents", body)
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == field


def test_malformed_json_is_400(api: Client) -> None:
    r = api.post("/v1/agents", '{"name": ', content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_json"
    assert "line 1" in r.json()["error"]


def test_wrong_content_type_is_415(api: Client) -> None:
    r = api.post("/v1/agents", "name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert "application/json" in r.json()["error"]


def test_oversized_body_is_413(api: Client) -> None:
    big = {"name": "x", "metadata": {"blob": "a" * (1024 * 1024)}}
    r = post(api, "/v1/agents", big)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


def test_wrong_method_is_405_in_the_error_shape(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    r = api.put(f"/v1/agent/{agent.id}", {}, content_type="application/json")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"


# Single-use agents.


def test_ephemeral_agent_returns_the_iwy_shape(api: Client, cast: Cast) -> None:
    before = timezone.now()
    r = post(
        api, "/v1/ephemeral-agent", {"configuration": VALID["configuration"], "ttl_seconds": 600}
    )
    assert r.status_code == 200
    assert set(r.json()) == {"agent"}
    assert set(r.json()["agent"]) == {"id", "expires_at", "created_at"}
    agent = Agent.objects.get(id=r.json()["agent"]["id"])
    assert agent.kind == AgentKind.SINGLE_USE
    assert timedelta(seconds=599) < agent.expires_at - before < timedelta(seconds=601)


def test_ephemeral_agent_ttl_defaults_to_300(api: Client) -> None:
    r = post(api, "/v1/ephemeral-agent", {"configuration": {}})
    agent = Agent.objects.get(id=r.json()["agent"]["id"])
    assert agent.expires_at - agent.created_at == timedelta(seconds=300)


@pytest.mark.parametrize("ttl", [59, 86401, -1, "soon", 1.5])
def test_ephemeral_agent_ttl_out_of_range_is_400(api: Client, ttl: object) -> None:
    r = post(api, "/v1/ephemeral-agent", {"configuration": {}, "ttl_seconds": ttl})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "ttl_seconds"


@pytest.mark.parametrize("ttl", [60, 86400])
def test_ephemeral_agent_ttl_bounds_are_accepted(api: Client, ttl: int) -> None:
    assert (
        post(api, "/v1/ephemeral-agent", {"configuration": {}, "ttl_seconds": ttl}).status_code
        == 200
    )


def test_ephemeral_agent_requires_configuration(api: Client) -> None:
    r = post(api, "/v1/ephemeral-agent", {"ttl_seconds": 600})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "configuration"


def test_expired_single_use_agent_is_invalid_at_once(api: Client) -> None:
    agent_id = post(api, "/v1/ephemeral-agent", {"configuration": {}, "ttl_seconds": 60}).json()[
        "agent"
    ]["id"]
    assert api.get(f"/v1/agent/{agent_id}").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        r = api.get(f"/v1/agent/{agent_id}")
        assert r.status_code == 410
        assert r.json()["code"] == "gone"
        assert api.get("/v1/agents?kind=single_use").json()["count"] == 0
    assert Agent.objects.filter(id=agent_id).exists()  # no sweep has run: the check is at read time


@pytest.mark.parametrize(
    ("query", "listed"),
    [("", "permanent"), ("?kind=permanent", "permanent"), ("?kind=single_use", "single-use")],
)
def test_the_list_shows_single_use_agents_only_when_asked(
    api: Client, cast: Cast, query: str, listed: str
) -> None:
    # The documented contract: single-use agents are listed only with ?kind=single_use.
    agents = {
        "permanent": AgentFactory(team=cast.team),
        "single-use": AgentFactory(
            team=cast.team,
            kind=AgentKind.SINGLE_USE,
            expires_at=timezone.now() + timedelta(minutes=5),
        ),
    }
    body = api.get(f"/v1/agents{query}").json()
    assert [item["id"] for item in body["items"]] == [str(agents[listed].id)]
    assert body["count"] == 1
