import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from agents.models import Agent
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory
from tests.http import call, first_error_field, patch, post
from tools.models import Tool

pytestmark = pytest.mark.django_db

REDACTED = "[REDACTED]"
VALID = {
    "name": "get_weather",
    "description": "Looks up the weather for a city.",
    "server_url": "https://hooks.example.com/weather",
    "parameters_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
SECRET_HEADERS = {
    "X-Api-Token": "hdr-secret-1234",
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": "parley-test",
    "Accept-Language": "en",
}


def raw_secret_columns(name: str) -> str:
    """The headers and auth_config columns as the database holds them, not decrypted."""
    table = Tool._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT headers, auth_config FROM {table} WHERE name = %s", [name])  # noqa: S608
        headers, auth_config = cursor.fetchone()
    return f"{headers} {auth_config}"


# Create, read, update, delete.


@pytest.mark.parametrize("path", ["/v1/tools", "/v1/tool"])
def test_it_creates_a_tool_with_defaults_filled(api: Client, cast: Cast, path: str) -> None:
    r = post(api, path, VALID)
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "get_weather"
    assert body["method"] == "POST"
    assert body["timeout_seconds"] == 20
    assert body["auth_config"] == {"type": "none"}
    assert body["headers"] == {}
    assert Tool.objects.get(id=body["id"]).team == cast.team


def test_it_records_the_signed_in_creator_as_user_id(cast: Cast) -> None:
    r = post(signed_in(cast.member), "/v1/tools", VALID)
    assert r.status_code == 201
    assert r.json()["user_id"] == str(cast.member.id)


def test_it_gets_by_singular_and_plural_paths(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    for path in (f"/v1/tool/{tool.id}", f"/v1/tools/{tool.id}"):
        r = api.get(path)
        assert r.status_code == 200
        assert r.json()["name"] == tool.name
        assert r.json()["parameters_schema"] == tool.parameters_schema


@pytest.mark.parametrize("path", ["/v1/tool/{id}", "/v1/tools/{id}"])
def test_patch_changes_only_the_fields_sent(api: Client, cast: Cast, path: str) -> None:
    created = post(api, "/v1/tools", VALID | {"headers": SECRET_HEADERS, "timeout_seconds": 45})
    tool_id = created.json()["id"]
    r = patch(api, path.format(id=tool_id), {"description": "Now with forecasts."})
    assert r.status_code == 200
    body = r.json()
    assert body["description"] == "Now with forecasts."
    assert body["name"] == "get_weather"
    assert body["timeout_seconds"] == 45
    assert body["parameters_schema"] == VALID["parameters_schema"]
    assert Tool.objects.get(id=tool_id).headers == SECRET_HEADERS


def test_patch_moves_updated_at_but_not_created_at(api: Client, cast: Cast) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    tool = ToolFactory(team=cast.team, created_at=yesterday, updated_at=yesterday)
    r = patch(api, f"/v1/tool/{tool.id}", {"timeout_seconds": 5})
    assert r.json()["timeout_seconds"] == 5
    tool.refresh_from_db()
    assert tool.created_at == yesterday
    assert tool.updated_at > yesterday + timedelta(hours=23)


def test_patch_refuses_null_name(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="kept")
    r = patch(api, f"/v1/tool/{tool.id}", {"name": None})
    assert r.status_code == 400
    assert first_error_field(r) == "name"
    assert Tool.objects.get(id=tool.id).name == "kept"


def test_patch_validates_like_create(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    r = patch(api, f"/v1/tool/{tool.id}", {"parameters_schema": {"type": "string"}})
    assert r.status_code == 400
    assert first_error_field(r) == "parameters_schema"
    assert Tool.objects.get(id=tool.id).parameters_schema["type"] == "object"


@pytest.mark.parametrize("path", ["/v1/tool/{id}", "/v1/tools/{id}"])
def test_delete_removes_the_tool(api: Client, cast: Cast, path: str) -> None:
    tool = ToolFactory(team=cast.team)
    r = api.delete(path.format(id=tool.id))
    assert r.status_code == 204
    assert api.get(f"/v1/tool/{tool.id}").status_code == 404
    assert not Tool.objects.filter(id=tool.id).exists()


def test_delete_drops_the_tool_from_agents_that_selected_it(api: Client, cast: Cast) -> None:
    doomed, kept = ToolFactory(team=cast.team), ToolFactory(team=cast.team)
    selected = [str(doomed.id), str(kept.id)]
    config = {"tool_calling": {"selected_tool_ids": selected}}
    agent_id = post(api, "/v1/agents", {"name": "a", "configuration": config}).json()["id"]
    assert api.delete(f"/v1/tool/{doomed.id}").status_code == 204
    agent = Agent.objects.get(id=agent_id)
    assert agent.configuration["tool_calling"]["selected_tool_ids"] == [str(kept.id)]


def test_delete_drops_a_tool_selected_twice(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    config = {"tool_calling": {"selected_tool_ids": [str(tool.id), str(tool.id)]}}
    r = post(api, "/v1/agents", {"name": "a", "configuration": config})
    assert r.status_code == 201
    api.delete(f"/v1/tool/{tool.id}")
    agent = Agent.objects.get(id=r.json()["id"])
    assert str(tool.id) not in agent.configuration["tool_calling"]["selected_tool_ids"]


def test_delete_leaves_other_agents_alone(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    agent = AgentFactory(team=cast.team, name="untouched")
    assert api.delete(f"/v1/tool/{tool.id}").status_code == 204
    assert Agent.objects.get(id=agent.id).name == "untouched"


# Listing.


def test_list_paginates(api: Client, cast: Cast) -> None:
    ToolFactory.create_batch(5, team=cast.team)
    r = api.get("/v1/tools?limit=2&offset=4")
    assert r.status_code == 200
    assert r.json()["count"] == 5
    assert len(r.json()["items"]) == 1


def test_list_is_newest_first(api: Client, cast: Cast) -> None:
    now = timezone.now()
    ToolFactory(team=cast.team, name="older", created_at=now - timedelta(hours=1))
    ToolFactory(team=cast.team, name="newer", created_at=now)
    names = [item["name"] for item in api.get("/v1/tools").json()["items"]]
    assert names == ["newer", "older"]


def test_list_query_count_does_not_grow_with_rows(
    api: Client, cast: Cast, django_assert_num_queries
) -> None:
    ToolFactory.create_batch(30, team=cast.team, headers={"X-Key": "s"})
    # The first call looks the key up and records its use; the process then remembers it.
    api.get("/v1/tools")
    # 1: the count; 2: the page of tools.
    with django_assert_num_queries(2):
        assert api.get("/v1/tools").status_code == 200


def test_list_shows_only_the_callers_team(api: Client, cast: Cast) -> None:
    ToolFactory(team=cast.other_team)
    mine = ToolFactory(team=cast.team)
    items = api.get("/v1/tools").json()["items"]
    assert [item["id"] for item in items] == [str(mine.id)]


def test_list_masks_secrets_too(api: Client, cast: Cast) -> None:
    ToolFactory(team=cast.team, headers={"Authorization": "Bearer list-secret"})
    r = api.get("/v1/tools")
    assert r.json()["items"][0]["headers"] == {"Authorization": REDACTED}
    assert "list-secret" not in r.content.decode()


# Secrets: masked on the way out, encrypted at rest, kept when sent back masked.

AUTH_CONFIGS = [
    ({"type": "bearer", "token": "tok-secret-1234"}, "token", "tok-secret-1234"),
    (
        {"type": "basic", "username": "robot", "password": "pw-secret-1234"},
        "password",
        "pw-secret-1234",
    ),
    (
        {"type": "header", "header_name": "X-Auth", "header_value": "hv-secret-1234"},
        "header_value",
        "hv-secret-1234",
    ),
    (
        {"type": "hmac", "secret": "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
        "secret",
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    ),
]


def test_header_values_are_masked_except_harmless_ones(api: Client) -> None:
    r = post(api, "/v1/tools", VALID | {"headers": SECRET_HEADERS})
    assert r.status_code == 201
    assert r.json()["headers"] == {
        "X-Api-Token": REDACTED,
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "parley-test",
        "Accept-Language": "en",
    }
    assert "hdr-secret-1234" not in r.content.decode()


@pytest.mark.parametrize(("auth_config", "field", "secret"), AUTH_CONFIGS)
def test_auth_secrets_are_masked_in_responses(
    api: Client, auth_config: dict, field: str, secret: str
) -> None:
    created = post(api, "/v1/tools", VALID | {"auth_config": auth_config})
    fetched = api.get(f"/v1/tool/{created.json()['id']}")
    for r in (created, fetched):
        assert r.json()["auth_config"] == auth_config | {field: REDACTED}
        assert secret not in r.content.decode()


@pytest.mark.parametrize(("auth_config", "field", "secret"), AUTH_CONFIGS)
def test_secrets_are_encrypted_at_rest(
    api: Client, auth_config: dict, field: str, secret: str
) -> None:
    body = VALID | {"headers": SECRET_HEADERS, "auth_config": auth_config}
    tool_id = post(api, "/v1/tools", body).json()["id"]
    stored = raw_secret_columns("get_weather")
    assert secret not in stored
    assert "hdr-secret-1234" not in stored
    tool = Tool.objects.get(id=tool_id)
    assert tool.auth_config[field] == secret
    assert tool.headers["X-Api-Token"] == "hdr-secret-1234"


def test_patch_sending_masked_header_back_keeps_the_secret(api: Client) -> None:
    tool_id = post(api, "/v1/tools", VALID | {"headers": SECRET_HEADERS}).json()["id"]
    masked = api.get(f"/v1/tool/{tool_id}").json()["headers"]
    r = patch(api, f"/v1/tool/{tool_id}", {"headers": masked | {"X-Extra": "new"}})
    assert r.status_code == 200
    assert Tool.objects.get(id=tool_id).headers == SECRET_HEADERS | {"X-Extra": "new"}


def test_patch_with_a_new_header_value_replaces_the_secret(api: Client) -> None:
    tool_id = post(api, "/v1/tools", VALID | {"headers": SECRET_HEADERS}).json()["id"]
    r = patch(api, f"/v1/tool/{tool_id}", {"headers": {"X-Api-Token": "rotated"}})
    assert r.status_code == 200
    assert Tool.objects.get(id=tool_id).headers == {"X-Api-Token": "rotated"}


@pytest.mark.parametrize(("auth_config", "field", "secret"), AUTH_CONFIGS)
def test_patch_sending_masked_auth_back_keeps_the_secret(
    api: Client, auth_config: dict, field: str, secret: str
) -> None:
    tool_id = post(api, "/v1/tools", VALID | {"auth_config": auth_config}).json()["id"]
    masked = api.get(f"/v1/tool/{tool_id}").json()["auth_config"]
    r = patch(api, f"/v1/tool/{tool_id}", {"auth_config": masked, "timeout_seconds": 9})
    assert r.status_code == 200
    assert r.json()["timeout_seconds"] == 9
    assert Tool.objects.get(id=tool_id).auth_config == auth_config


def test_masked_header_with_no_stored_value_is_400(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, headers={"X-Api-Token": "kept"})
    r = patch(api, f"/v1/tool/{tool.id}", {"headers": {"X-Api-Token": REDACTED, "X-New": REDACTED}})
    assert r.status_code == 400
    assert first_error_field(r) == "headers.X-New"
    assert Tool.objects.get(id=tool.id).headers == {"X-Api-Token": "kept"}


def test_masked_header_on_create_is_400(api: Client) -> None:
    r = post(api, "/v1/tools", VALID | {"headers": {"X-Api-Token": REDACTED}})
    assert r.status_code == 400
    assert first_error_field(r) == "headers.X-Api-Token"
    assert not Tool.objects.exists()


def test_masked_secret_for_another_auth_type_is_400(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, auth_config={"type": "bearer", "token": "kept"})
    r = patch(api, f"/v1/tool/{tool.id}", {"auth_config": {"type": "hmac", "secret": REDACTED}})
    assert r.status_code == 400
    assert first_error_field(r) == "auth_config.secret"
    assert Tool.objects.get(id=tool.id).auth_config == {"type": "bearer", "token": "kept"}


# Names.


def test_duplicate_name_in_the_team_is_409(api: Client, cast: Cast) -> None:
    ToolFactory(team=cast.team, name="get_weather")
    r = post(api, "/v1/tools", VALID)
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert "get_weather" in r.json()["error"]
    assert Tool.objects.filter(team=cast.team).count() == 1


def test_renaming_onto_a_taken_name_is_409(api: Client, cast: Cast) -> None:
    ToolFactory(team=cast.team, name="taken")
    tool = ToolFactory(team=cast.team, name="mine")
    r = patch(api, f"/v1/tool/{tool.id}", {"name": "taken"})
    assert r.status_code == 409
    assert Tool.objects.get(id=tool.id).name == "mine"


def test_patch_keeping_its_own_name_is_not_a_conflict(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="mine")
    assert patch(api, f"/v1/tool/{tool.id}", {"name": "mine"}).status_code == 200


def test_same_name_in_another_team_is_fine(api: Client, cast: Cast) -> None:
    ToolFactory(team=cast.other_team, name="get_weather")
    assert post(api, "/v1/tools", VALID).status_code == 201


# Access: outsider 404, viewer and read-only key cannot write, revoked key 401.

ENDPOINTS = [
    ("get", "/v1/tool/{id}", None),
    ("patch", "/v1/tool/{id}", {"description": "x"}),
    ("delete", "/v1/tool/{id}", None),
    ("get", "/v1/tools/{id}", None),
    ("patch", "/v1/tools/{id}", {"description": "x"}),
    ("delete", "/v1/tools/{id}", None),
]
WRITES = [
    ("post", "/v1/tools", VALID),
    ("post", "/v1/tool", VALID),
    ("patch", "/v1/tool/{id}", {"description": "x"}),
    ("patch", "/v1/tools/{id}", {"description": "x"}),
    ("delete", "/v1/tool/{id}", None),
    ("delete", "/v1/tools/{id}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_another_teams_tool_is_not_found(
    outsider_api: Client, cast: Cast, method: str, path: str, body: object
) -> None:
    tool = ToolFactory(team=cast.team, description="kept")
    r = call(outsider_api, method, path.format(id=tool.id), body)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert Tool.objects.filter(id=tool.id, description="kept").exists()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_outsider_signed_in_gets_404(cast: Cast, method: str, path: str, body: object) -> None:
    tool = ToolFactory(team=cast.team, description="kept")
    r = call(signed_in(cast.outsider), method, path.format(id=tool.id), body)
    assert r.status_code == 404
    assert Tool.objects.filter(id=tool.id, description="kept").exists()


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_read_only_key_cannot_write(
    read_only_api: Client, cast: Cast, method: str, path: str, body: object
) -> None:
    tool = ToolFactory(team=cast.team, description="kept")
    r = call(read_only_api, method, path.format(id=tool.id), body)
    assert r.status_code == 403
    assert "read-only" in r.json()["error"]
    assert Tool.objects.get(id=tool.id).description == "kept"
    assert Tool.objects.count() == 1


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_viewer_cannot_write(cast: Cast, method: str, path: str, body: object) -> None:
    tool = ToolFactory(team=cast.team, description="kept")
    r = call(signed_in(cast.viewer), method, path.format(id=tool.id), body)
    assert r.status_code == 403
    assert "viewer" in r.json()["error"]
    assert Tool.objects.get(id=tool.id).description == "kept"
    assert Tool.objects.count() == 1


def test_viewer_and_read_only_key_can_read(read_only_api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    assert read_only_api.get(f"/v1/tool/{tool.id}").status_code == 200
    assert read_only_api.get("/v1/tools").json()["count"] == 1
    assert signed_in(cast.viewer).get(f"/v1/tools/{tool.id}").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"), [*ENDPOINTS, *WRITES, ("get", "/v1/tools", None)]
)
def test_revoked_key_is_refused(cast: Cast, method: str, path: str, body: object) -> None:
    tool = ToolFactory(team=cast.team, description="kept")
    cast.key.revoked_at = timezone.now()
    cast.key.save()
    client = Client(headers={"x-api-key": cast.key.secret})
    r = call(client, method, path.format(id=tool.id), body)
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]
    assert Tool.objects.filter(id=tool.id, description="kept").exists()


def test_missing_key_is_401(db: None) -> None:
    r = Client().get("/v1/tools")
    assert r.status_code == 401
    assert "x-api-key" in r.json()["error"]


def test_unknown_tool_id_is_404(api: Client) -> None:
    assert api.get(f"/v1/tool/{uuid.uuid4()}").status_code == 404


def test_wrong_method_is_405_in_the_error_shape(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    r = api.put(f"/v1/tool/{tool.id}", {}, content_type="application/json")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"


# Bad input.


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": "get weather"}, "name"),
        ({"name": "1abc"}, "name"),
        ({"name": "a" * 65}, "name"),
        ({"description": ""}, "description"),
        ({"description": ["x"]}, "description"),
        ({"method": "FETCH"}, "method"),
        ({"server_url": "ftp://hooks.example.com/x"}, "server_url"),
        ({"server_url": "hooks.example.com/x"}, "server_url"),
        (
            {"parameters_schema": {"type": "object", "properties": {"a": {"type": "nope"}}}},
            "parameters_schema",
        ),
        ({"parameters_schema": {"type": "string"}}, "parameters_schema"),
        ({"parameters_schema": "object"}, "parameters_schema"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 301}, "timeout_seconds"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"is_async": "maybe"}, "is_async"),
        ({"tags": "weather"}, "tags"),
        ({"headers": ["X-Key"]}, "headers"),
        ({"headers": {"Host": "evil.example.com"}}, "headers"),
        ({"headers": {"Content-Length": "10"}}, "headers"),
        ({"headers": {"X-Key": "a\r\nX-Injected: 1"}}, "headers"),
        ({"auth_config": {"type": "oauth"}}, "auth_config"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_400_naming_the_field(api: Client, changes: dict, field: str) -> None:
    r = post(api, "/v1/tools", VALID | changes)
    assert r.status_code == 400
    assert r.json()["code"] == "validation_error"
    assert first_error_field(r) == field
    assert r.json()["error"].startswith(field)
    assert not Tool.objects.exists()


@pytest.mark.parametrize("name", ["X Key", "X:Key", ""])
def test_bad_header_names_are_400(api: Client, name: str) -> None:
    r = post(api, "/v1/tools", VALID | {"headers": {name: "v"}})
    assert r.status_code == 400
    assert first_error_field(r).startswith("headers")


@pytest.mark.parametrize(
    "auth_config",
    [
        {"type": "bearer"},
        {"type": "bearer", "token": ""},
        {"type": "basic", "username": "robot"},
        {"type": "header", "header_value": "v"},
        {"type": "header", "header_name": "X Auth", "header_value": "v"},
        {"type": "hmac"},
        {"type": "hmac", "secret": "not-a-standard-webhooks-secret"},
        {"type": "hmac", "secret": "whsec_c2hvcnQ="},
        {"type": "bearer", "token": "t", "extra": 1},
    ],
)
def test_incomplete_auth_config_is_400(api: Client, auth_config: dict) -> None:
    r = post(api, "/v1/tools", VALID | {"auth_config": auth_config})
    assert r.status_code == 400
    assert first_error_field(r).startswith("auth_config")


@pytest.mark.parametrize(
    "auth_config",
    [
        {"type": "header", "header_name": "Host", "header_value": "evil.example.com"},
        {"type": "header", "header_name": "X-Auth", "header_value": "v\r\nX-Injected: 1"},
        {"type": "bearer", "token": "t\nX-Injected: 1"},
    ],
)
def test_auth_headers_follow_the_header_rules(api: Client, auth_config: dict) -> None:
    r = post(api, "/v1/tools", VALID | {"auth_config": auth_config})
    assert r.status_code == 400
    assert first_error_field(r).startswith("auth_config")


@pytest.mark.parametrize(
    "server_url",
    [
        "http://intranet/hook",
        "http://tool_service:8080/run",
        "https://hooks.example.com/" + "a" * 2050,
    ],
)
def test_server_url_the_spec_accepts_is_never_a_500(api: Client, server_url: str) -> None:
    r = post(api, "/v1/tools", VALID | {"server_url": server_url})
    assert r.status_code in (201, 400)
    if r.status_code == 400:
        assert first_error_field(r) == "server_url"


def test_unknown_field_in_patch_is_400(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    r = patch(api, f"/v1/tool/{tool.id}", {"colour": "red"})
    assert r.status_code == 400
    assert first_error_field(r) == "colour"


def test_malformed_json_is_400(api: Client) -> None:
    r = api.post("/v1/tools", '{"name": ', content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_json"
    assert "line 1" in r.json()["error"]


def test_malformed_json_in_patch_is_400(api: Client, cast: Cast) -> None:
    tool = ToolFactory(team=cast.team)
    r = api.patch(f"/v1/tool/{tool.id}", "{", content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_json"


def test_wrong_content_type_is_415(api: Client) -> None:
    r = api.post("/v1/tools", "name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert "application/json" in r.json()["error"]


def test_oversized_body_is_413(api: Client) -> None:
    big = VALID | {"description": "a" * (1024 * 1024)}
    r = post(api, "/v1/tools", big)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert not Tool.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "Looks up\x00 the weather."},
        {"parameters_schema": {"type": "object", "properties": {"a\x00": {"type": "string"}}}},
        {"tags": ["wea\x00ther"]},
    ],
)
def test_a_nul_character_is_stored_or_refused_never_a_500(api: Client, changes: dict) -> None:
    r = post(api, "/v1/tools", VALID | changes)
    assert r.status_code in (201, 400)
    if r.status_code == 201:
        fetched = api.get(f"/v1/tool/{r.json()['id']}").json()
        assert {field: fetched[field] for field in changes} == changes
    else:
        assert first_error_field(r).startswith(next(iter(changes)))
