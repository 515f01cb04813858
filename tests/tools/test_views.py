"""The dashboard's tool pages: list, new, detail, edit, delete, and the schema editor's check."""

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from activity.models import ActivityEntry
from tests.conftest import Cast, signed_in
from tests.factories import ToolFactory
from tools.models import Tool
from tools.services import tool_sample_call

pytestmark = pytest.mark.django_db

HEADER_SECRET = "hdr-secret-7f3a9c"
TOKEN = "tok-secret-41b2d8"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(**changes: Any) -> dict[str, Any]:
    """A complete, valid submission of the tool form, as the browser sends it."""
    data = {
        "name": "get_weather",
        "description": "Looks up the weather for a city.",
        "method": "POST",
        "server_url": "https://hooks.example.com/weather",
        "parameters_schema": json.dumps(SCHEMA),
        "headers_name": ["X-Api-Key", "Accept", ""],
        "headers_value": [HEADER_SECRET, "application/json", ""],
        "auth_type": "bearer",
        "auth_token": TOKEN,
        "timeout_seconds": "30",
        "is_async": "on",
        "tags": "weather, public",
    }
    return data | changes


def stored_tool(cast: Cast, **fields: Any) -> Tool:
    """A tool holding a secret header and a bearer token, as the dashboard saves them."""
    defaults = {
        "team": cast.team,
        "name": "get_weather",
        "headers": {"X-Api-Key": HEADER_SECRET, "Accept": "application/json"},
        "auth_config": {"type": "bearer", "token": TOKEN},
    }
    return ToolFactory(**(defaults | fields))


def html(response: Any) -> str:
    return response.content.decode()


def assert_no_secrets(response: Any) -> None:
    assert HEADER_SECRET not in html(response)
    assert TOKEN not in html(response)


def field_errors(response: Any, field: str) -> str:
    """The error list rendered with one field (up to the next field), or "" when it has none."""
    page = html(response)
    start = page.index(f'id="field-{field}"')
    end = page.find('id="field-', start + 1)
    found = re.search(r'<ul class="errorlist.*?</ul>', page[start : end if end > 0 else None], re.S)
    return found.group(0) if found else ""


# The list.


def test_the_list_shows_each_tool_with_its_method_host_flags_timeout_and_age(cast: Cast) -> None:
    ToolFactory(
        team=cast.team,
        name="lookup_order",
        method="GET",
        server_url="https://crm.internal:8443/orders?x=1",
        is_async=True,
        strict_params=True,
        timeout_seconds=45,
    )
    page = html(signed_in(cast.viewer).get("/tools/"))
    assert "lookup_order" in page
    assert "GET" in page
    assert "crm.internal:8443" in page
    assert "/orders" not in page  # the host, not the whole URL
    assert ">async<" in page
    assert ">strict<" in page
    assert "45 s" in page
    assert "ago</time>" in page


def test_the_list_shows_only_the_current_teams_tools(cast: Cast) -> None:
    ToolFactory(team=cast.team, name="ours")
    ToolFactory(team=cast.other_team, name="theirs")
    page = html(signed_in(cast.member).get("/tools/"))
    assert "ours" in page
    assert "theirs" not in page


def test_writers_get_a_new_tool_button_and_viewers_do_not(cast: Cast) -> None:
    ToolFactory(team=cast.team)
    for writer in (cast.owner, cast.member):
        assert 'href="/tools/new/"' in html(signed_in(writer).get("/tools/"))
    assert 'href="/tools/new/"' not in html(signed_in(cast.viewer).get("/tools/"))


def test_the_empty_list_says_what_to_do_next(cast: Cast) -> None:
    writer_page = html(signed_in(cast.member).get("/tools/"))
    assert "No tools yet" in writer_page
    assert "Create your first tool" in writer_page
    viewer_page = html(signed_in(cast.viewer).get("/tools/"))
    assert "No tools yet" in viewer_page
    assert "ask an owner, admin or member" in viewer_page
    assert 'href="/tools/new/"' not in viewer_page


def test_the_list_never_decrypts_or_shows_secrets(cast: Cast) -> None:
    stored_tool(cast)
    assert_no_secrets(signed_in(cast.owner).get("/tools/"))


def test_the_list_costs_the_same_queries_for_many_tools(
    cast: Cast, django_assert_num_queries: Any
) -> None:
    client = signed_in(cast.member)
    ToolFactory.create_batch(2, team=cast.team)
    # The session, the user, their membership (with its team), the tools, and the team
    # switcher's memberships.
    with django_assert_num_queries(5):
        assert client.get("/tools/").status_code == 200
    ToolFactory.create_batch(20, team=cast.team)
    with django_assert_num_queries(5):
        assert html(client.get("/tools/")).count("/edit/") == 0  # rows link to the detail page


def test_the_list_asks_a_signed_out_visitor_to_sign_in(client: Client) -> None:
    response = client.get("/tools/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_list_refuses_post(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/tools/").status_code == 405


# Creating a tool.


def test_the_new_tool_form_starts_with_an_empty_object_schema_and_its_sample(cast: Cast) -> None:
    response = signed_in(cast.member).get("/tools/new/")
    assert response.status_code == 200
    page = html(response)
    assert "&quot;type&quot;: &quot;object&quot;" in page  # the schema textarea's starting text
    assert 'hx-post="/tools/check-schema/"' in page
    assert 'hx-trigger="keyup changed delay:400ms' in page
    assert "Valid schema" in page
    assert 'id="schema-check"' in page


def test_a_member_creates_a_tool_with_secrets_stored_encrypted(cast: Cast) -> None:
    response = signed_in(cast.member).post("/tools/new/", form_data())
    tool = Tool.objects.get(team=cast.team, name="get_weather")
    assert response.status_code == 302
    assert response["Location"] == f"/tools/{tool.id}/"
    assert tool.headers == {"X-Api-Key": HEADER_SECRET, "Accept": "application/json"}
    assert tool.auth_config == {"type": "bearer", "token": TOKEN}
    assert tool.parameters_schema == SCHEMA
    assert (tool.timeout_seconds, tool.is_async, tool.strict_params) == (30, True, False)
    assert tool.tags == ["weather", "public"]
    assert tool.created_by == cast.member
    assert ActivityEntry.objects.filter(target_id=str(tool.id), action="created").exists()


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"auth_type": "none"}, {"type": "none"}),
        (
            {"auth_type": "basic", "auth_username": "bot", "auth_password": "pw-1"},
            {"type": "basic", "username": "bot", "password": "pw-1"},
        ),
        (
            {"auth_type": "header", "auth_header_name": "X-Sig", "auth_header_value": "v-1"},
            {"type": "header", "header_name": "X-Sig", "header_value": "v-1"},
        ),
        (
            {
                "auth_type": "hmac",
                "auth_secret": "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            },
            {"type": "hmac", "secret": "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
        ),
    ],
)
def test_each_auth_type_keeps_only_the_fields_it_needs(
    cast: Cast, auth: dict[str, str], expected: dict[str, str]
) -> None:
    # The bearer token typed earlier stays in the form but belongs to another type.
    response = signed_in(cast.owner).post("/tools/new/", form_data(**auth))
    assert response.status_code == 302
    assert Tool.objects.get(name="get_weather").auth_config == expected


def test_a_viewer_cannot_open_the_form_or_create(cast: Cast) -> None:
    client = signed_in(cast.viewer)
    assert client.get("/tools/new/").status_code == 403
    assert client.post("/tools/new/", form_data()).status_code == 403
    assert not Tool.objects.exists()


def test_the_form_refuses_other_methods(cast: Cast) -> None:
    assert signed_in(cast.owner).put("/tools/new/").status_code == 405


def test_an_invalid_form_comes_back_with_errors_and_what_was_typed(cast: Cast) -> None:
    data = form_data(
        name="get weather", parameters_schema='{"type": "object", "properties": {"city": }'
    )
    response = signed_in(cast.member).post("/tools/new/", data)
    assert response.status_code == 200
    assert not Tool.objects.exists()
    page = html(response)
    assert "The tool was not saved" in page
    assert "no spaces" in field_errors(response, "name")
    assert "not valid JSON" in field_errors(response, "parameters_schema")
    assert page.count("not valid JSON") == 1  # under the field, not again beside it
    assert "The sample call appears here once the schema is valid." in page
    assert 'value="get weather"' in page
    assert "Looks up the weather for a city." in page
    assert "&quot;city&quot;: }" in page  # the broken schema, as typed
    assert 'value="https://hooks.example.com/weather"' in page
    assert 'value="weather, public"' in page
    assert 'value="X-Api-Key"' in page
    assert '<option value="bearer" selected>' in page
    assert_no_secrets(response)  # never echoed back, even when just typed


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "required"),
        ({"name": "9lives"}, "name", "Start with a letter or _"),
        ({"name": "a" * 65}, "name", "at most 64 characters"),
        ({"description": ""}, "description", "required"),
        ({"server_url": "not a url"}, "server_url", "valid URL"),
        ({"method": "TRACE"}, "method", "valid choice"),
        ({"timeout_seconds": "0"}, "timeout_seconds", "greater than or equal to 1"),
        ({"timeout_seconds": "301"}, "timeout_seconds", "less than or equal to 300"),
        ({"timeout_seconds": "soon"}, "timeout_seconds", "whole number"),
        ({"parameters_schema": "[1, 2]"}, "parameters_schema", "must be a JSON object"),
        ({"parameters_schema": '{"type": "string"}'}, "parameters_schema", "describe an object"),
        (
            {"parameters_schema": '{"type": "object", "properties": {"a": {"type": "strin"}}}'},
            "parameters_schema",
            "is not a valid JSON Schema",
        ),
        ({"headers_name": ["Host"], "headers_value": ["x"]}, "headers", "set by Parley itself"),
        ({"headers_name": ["Bad Name"], "headers_value": ["x"]}, "headers", "Bad Name: a header"),
        ({"headers_name": ["", "X-A"], "headers_value": ["v", "w"]}, "headers", "no name"),
        ({"headers_name": ["X-A", "x-a"], "headers_value": ["1", "2"]}, "headers", "twice"),
        ({"headers_name": ["X-New"], "headers_value": [""]}, "headers", "enter a value"),
        ({"auth_token": ""}, "auth_token", "Token is needed"),
        ({"auth_token": "two\nlines"}, "auth_token", "line break"),
        (
            {"auth_type": "header", "auth_header_name": "Host", "auth_header_value": "v"},
            "auth_header_name",
            "set by Parley itself",
        ),
        ({"auth_type": "rot13"}, "auth_type", "valid choice"),
        ({"tags": "x" * 51}, "tags", "at most 50 characters"),
    ],
)
def test_bad_input_is_shown_on_its_field(
    cast: Cast, changes: dict[str, Any], field: str, message: str
) -> None:
    response = signed_in(cast.member).post("/tools/new/", form_data(**changes))
    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert not Tool.objects.exists()
    assert_no_secrets(response)


def test_a_duplicate_name_is_shown_on_the_name_field(cast: Cast) -> None:
    ToolFactory(team=cast.team, name="get_weather")
    response = signed_in(cast.member).post("/tools/new/", form_data())
    assert response.status_code == 200
    assert "already exists" in field_errors(response, "name")
    assert Tool.objects.count() == 1


def test_the_same_name_in_another_team_is_fine(cast: Cast) -> None:
    ToolFactory(team=cast.other_team, name="get_weather")
    assert signed_in(cast.member).post("/tools/new/", form_data()).status_code == 302


# One tool's page.


def test_the_detail_page_shows_the_tool_with_secrets_masked(cast: Cast) -> None:
    tool = stored_tool(cast, parameters_schema=SCHEMA, tags=["weather"])
    response = signed_in(cast.viewer).get(f"/tools/{tool.id}/")
    assert response.status_code == 200
    page = html(response)
    assert "Looks something up." in page
    assert "Accept: application/json" in page
    assert "X-Api-Key: <span" in page  # its value is dots
    assert "Bearer ••••••" in page
    assert f"&quot;tool_id&quot;: &quot;{tool.id}&quot;" in page  # the sample call
    assert "&quot;city&quot;: &quot;example&quot;" in page
    assert_no_secrets(response)


def test_the_detail_page_holds_a_place_for_the_test_tool_panel(cast: Cast) -> None:
    tool = stored_tool(cast)
    page = html(signed_in(cast.viewer).get(f"/tools/{tool.id}/"))
    assert 'id="test-tool"' in page
    assert "Coming soon" in page


def test_writers_see_edit_and_delete_and_viewers_do_not(cast: Cast) -> None:
    tool = stored_tool(cast)
    writer_page = html(signed_in(cast.member).get(f"/tools/{tool.id}/"))
    assert f'href="/tools/{tool.id}/edit/"' in writer_page
    assert f'action="/tools/{tool.id}/delete/"' in writer_page
    viewer_page = html(signed_in(cast.viewer).get(f"/tools/{tool.id}/"))
    assert "/edit/" not in viewer_page
    assert "/delete/" not in viewer_page


@pytest.mark.parametrize("suffix", ["", "edit/"])
def test_another_teams_tool_is_not_found(cast: Cast, suffix: str) -> None:
    tool = stored_tool(cast)
    client = signed_in(cast.outsider)
    assert client.get(f"/tools/{tool.id}/{suffix}").status_code == 404
    assert client.get(f"/tools/{uuid.uuid4()}/{suffix}").status_code == 404


def test_the_detail_page_refuses_post(cast: Cast) -> None:
    tool = stored_tool(cast)
    assert signed_in(cast.owner).post(f"/tools/{tool.id}/").status_code == 405


# Editing a tool.


def test_the_edit_form_is_filled_in_with_secrets_left_out(cast: Cast) -> None:
    tool = stored_tool(cast, parameters_schema=SCHEMA, tags=["a", "b"], timeout_seconds=45)
    response = signed_in(cast.member).get(f"/tools/{tool.id}/edit/")
    assert response.status_code == 200
    page = html(response)
    assert 'value="get_weather"' in page
    assert 'value="X-Api-Key"' in page
    assert 'value="application/json"' in page  # not a secret, so shown
    assert page.count("stored — leave blank to keep") == 2  # the header and the token
    assert 'value="a, b"' in page
    assert 'value="45"' in page
    assert f'hx-post="/tools/{tool.id}/check-schema/"' in page
    assert_no_secrets(response)


def test_blank_secrets_keep_the_stored_ones(cast: Cast) -> None:
    tool = stored_tool(cast)
    data = form_data(
        description="Now with forecasts.",
        headers_value=["", "text/plain", ""],
        auth_token="",
    )
    response = signed_in(cast.member).post(f"/tools/{tool.id}/edit/", data)
    assert response.status_code == 302
    tool.refresh_from_db()
    assert tool.description == "Now with forecasts."
    assert tool.headers == {"X-Api-Key": HEADER_SECRET, "Accept": "text/plain"}
    assert tool.auth_config == {"type": "bearer", "token": TOKEN}


def test_typed_secrets_replace_the_stored_ones(cast: Cast) -> None:
    tool = stored_tool(cast)
    data = form_data(headers_value=["new-header", "", ""], auth_token="new-token")
    data["headers_name"] = ["X-Api-Key", "", ""]  # and the Accept header is removed
    assert signed_in(cast.owner).post(f"/tools/{tool.id}/edit/", data).status_code == 302
    tool.refresh_from_db()
    assert tool.headers == {"X-Api-Key": "new-header"}
    assert tool.auth_config == {"type": "bearer", "token": "new-token"}


def test_a_blank_secret_for_a_new_auth_type_is_refused(cast: Cast) -> None:
    tool = stored_tool(cast)
    data = form_data(auth_type="hmac", auth_secret="", auth_token="")
    response = signed_in(cast.member).post(f"/tools/{tool.id}/edit/", data)
    assert response.status_code == 200
    assert "Signing secret is needed" in field_errors(response, "auth_secret")
    tool.refresh_from_db()
    assert tool.auth_config == {"type": "bearer", "token": TOKEN}


def test_an_invalid_edit_keeps_what_was_typed_and_shows_no_secret(cast: Cast) -> None:
    tool = stored_tool(cast)
    data = form_data(description="", headers_value=["", "text/plain", ""], auth_token="")
    response = signed_in(cast.member).post(f"/tools/{tool.id}/edit/", data)
    assert response.status_code == 200
    assert "required" in field_errors(response, "description")
    assert 'value="text/plain"' in html(response)
    assert html(response).count("stored — leave blank to keep") == 2
    assert_no_secrets(response)
    tool.refresh_from_db()
    assert tool.description == "Looks something up."


def test_renaming_onto_another_tool_is_shown_on_the_name_field(cast: Cast) -> None:
    ToolFactory(team=cast.team, name="taken")
    tool = stored_tool(cast)
    data = form_data(name="taken", headers_value=["", "application/json", ""], auth_token="")
    response = signed_in(cast.member).post(f"/tools/{tool.id}/edit/", data)
    assert response.status_code == 200
    assert "already exists" in field_errors(response, "name")
    assert Tool.objects.get(pk=tool.pk).name == "get_weather"


def test_a_viewer_cannot_edit_even_with_a_forged_post(cast: Cast) -> None:
    tool = stored_tool(cast)
    client = signed_in(cast.viewer)
    assert client.get(f"/tools/{tool.id}/edit/").status_code == 403
    assert client.post(f"/tools/{tool.id}/edit/", form_data(name="renamed")).status_code == 403
    assert Tool.objects.get(pk=tool.pk).name == "get_weather"


def test_an_outsider_cannot_edit(cast: Cast) -> None:
    tool = stored_tool(cast)
    response = signed_in(cast.outsider).post(f"/tools/{tool.id}/edit/", form_data(name="x"))
    assert response.status_code == 404
    assert Tool.objects.get(pk=tool.pk).name == "get_weather"


def test_the_edit_page_refuses_other_methods(cast: Cast) -> None:
    tool = stored_tool(cast)
    assert signed_in(cast.owner).delete(f"/tools/{tool.id}/edit/").status_code == 405


# Deleting a tool.


def test_a_member_deletes_a_tool_and_returns_to_the_list(cast: Cast) -> None:
    tool = stored_tool(cast)
    client = signed_in(cast.member)
    response = client.post(f"/tools/{tool.id}/delete/", follow=True)
    assert response.redirect_chain == [("/tools/", 302)]
    assert "Deleted the tool get_weather." in html(response)
    assert not Tool.objects.exists()


def test_delete_is_post_only(cast: Cast) -> None:
    tool = stored_tool(cast)
    assert signed_in(cast.owner).get(f"/tools/{tool.id}/delete/").status_code == 405
    assert Tool.objects.exists()


def test_a_viewer_cannot_delete_and_an_outsider_finds_nothing(cast: Cast) -> None:
    tool = stored_tool(cast)
    assert signed_in(cast.viewer).post(f"/tools/{tool.id}/delete/").status_code == 403
    assert signed_in(cast.outsider).post(f"/tools/{tool.id}/delete/").status_code == 404
    assert Tool.objects.filter(pk=tool.pk).exists()


# The schema editor's live check.


def check(client: Client, url: str = "/tools/check-schema/", **data: Any) -> Any:
    return client.post(url, {"method": "POST", "name": "get_weather"} | data, **HTMX)


def test_a_valid_schema_gets_the_sample_call_as_a_partial(cast: Cast) -> None:
    response = check(signed_in(cast.member), parameters_schema=json.dumps(SCHEMA))
    assert response.status_code == 200
    page = html(response)
    assert "<html" not in page
    assert page.lstrip().startswith('<div id="schema-check"')
    assert "Valid schema" in page
    body = json.loads(re.search(r"\n\n(\{.*\})</pre>", page, re.S).group(1).replace("&quot;", '"'))
    assert body == {
        "tool_id": "(assigned when you save)",
        "tool_name": "get_weather",
        "parameters": {"city": "example", "days": 0},
        "session": None,
    }


def test_without_htmx_the_check_is_a_whole_page(cast: Cast) -> None:
    response = signed_in(cast.member).post(
        "/tools/check-schema/", {"parameters_schema": json.dumps(SCHEMA)}
    )
    assert response.status_code == 200
    assert "<html" in html(response)
    assert "Valid schema" in html(response)
    assert "Back button" in html(response)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ('{"type": "object",', "This is not valid JSON: Expecting property name"),
        ('"object"', "must be a JSON object"),
        ('{"type": "array"}', "must describe an object"),
        ('{"type": "object", "properties": {"a": {"type": 5}}}', "is not a valid JSON Schema"),
        ('{"type": "object", "required": "city"}', "at required"),
    ],
)
def test_an_invalid_schema_gets_its_error(cast: Cast, schema: str, message: str) -> None:
    response = check(signed_in(cast.member), parameters_schema=schema)
    assert response.status_code == 200
    assert message in html(response)
    assert "Valid schema" not in html(response)
    assert "Sample call" not in html(response)


def test_the_check_uses_the_method_and_url_typed_so_far(cast: Cast) -> None:
    response = check(
        signed_in(cast.member),
        parameters_schema=json.dumps(SCHEMA),
        method="GET",
        server_url="https://hooks.example.com/w?v=2",
    )
    assert "https://hooks.example.com/w?v=2&amp;city=example&amp;days=0" in html(response)
    assert "Content-Type" not in html(response)


def test_a_method_that_is_not_ours_falls_back_to_post(cast: Cast) -> None:
    response = check(signed_in(cast.member), parameters_schema="", method="TRACE")
    assert response.status_code == 200
    assert "POST" in html(response)


def test_an_existing_tools_check_shows_its_id(cast: Cast) -> None:
    tool = stored_tool(cast)
    response = check(signed_in(cast.member), f"/tools/{tool.id}/check-schema/")
    assert f"&quot;tool_id&quot;: &quot;{tool.id}&quot;" in html(response)
    assert_no_secrets(response)


def test_viewers_may_check_a_schema_since_it_changes_nothing(cast: Cast) -> None:
    tool = stored_tool(cast)
    client = signed_in(cast.viewer)
    assert check(client, parameters_schema=json.dumps(SCHEMA)).status_code == 200
    assert check(client, f"/tools/{tool.id}/check-schema/").status_code == 200


def test_the_check_of_another_teams_tool_is_not_found(cast: Cast) -> None:
    tool = stored_tool(cast)
    assert check(signed_in(cast.outsider), f"/tools/{tool.id}/check-schema/").status_code == 404


def test_the_check_is_post_only_and_needs_a_sign_in(cast: Cast, client: Client) -> None:
    assert signed_in(cast.member).get("/tools/check-schema/").status_code == 405
    assert check(client).status_code == 302


# The sample call: example values from the schema.


def sample(schema: dict[str, Any], method: str = "POST", url: str = "https://h.example/t") -> Any:
    return tool_sample_call(
        tool_id="t-1", name="lookup", method=method, server_url=url, parameters_schema=schema
    )


def parameters(properties: dict[str, Any], **schema: Any) -> Any:
    call = sample({"type": "object", "properties": properties} | schema)
    return call.body["parameters"]


def test_a_post_sample_is_the_json_body_parley_sends() -> None:
    call = sample({"type": "object", "properties": {"q": {"type": "string"}}})
    assert (call.method, call.url) == ("POST", "https://h.example/t")
    assert call.body == {
        "tool_id": "t-1",
        "tool_name": "lookup",
        "parameters": {"q": "example"},
        "session": None,
    }


def test_each_type_gets_its_plain_example() -> None:
    assert parameters(
        {
            "s": {"type": "string"},
            "n": {"type": "number"},
            "i": {"type": "integer"},
            "b": {"type": "boolean"},
            "z": {"type": "null"},
            "untyped": {},
        }
    ) == {"s": "example", "n": 0, "i": 0, "b": True, "z": None, "untyped": "example"}


def test_given_examples_defaults_consts_and_enums_win() -> None:
    assert parameters(
        {
            "city": {"type": "string", "examples": ["Paris", "Oslo"], "default": "Rome"},
            "units": {"type": "string", "enum": ["metric", "imperial"], "default": "imperial"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "version": {"const": 2},
        }
    ) == {"city": "Paris", "units": "imperial", "kind": "a", "version": 2}


def test_objects_and_arrays_are_filled_in_recursively() -> None:
    assert parameters(
        {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "geo": {"properties": {}}},
            },
            "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {}}}},
            "anything": {"type": "array"},
        }
    ) == {
        "address": {"street": "example", "geo": {}},
        "items": [{"sku": "example"}],
        "anything": [],
    }


def test_refs_nullable_types_unions_and_bounds_are_followed() -> None:
    assert parameters(
        {
            "home": {"$ref": "#/$defs/place"},
            "note": {"type": ["null", "string"]},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "count": {"type": "integer", "minimum": 1},
            "below": {"type": "number", "maximum": -5},
            "lost": {"$ref": "https://elsewhere.example/schema"},
        },
        **{"$defs": {"place": {"type": "object", "properties": {"zip": {"type": "string"}}}}},
    ) == {
        "home": {"zip": "example"},
        "note": "example",
        "either": 0,
        "count": 1,
        "below": -5,
        "lost": "example",
    }


def test_a_schema_that_refers_to_itself_ends() -> None:
    node = {"type": "object", "properties": {"child": {"$ref": "#"}}}
    depth, nested = 0, sample(node).body["parameters"]
    while isinstance(nested, dict):
        nested, depth = nested["child"], depth + 1
    assert nested is None
    assert depth < 20


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_samples_put_the_parameters_in_the_query(method: str) -> None:
    call = sample(
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "exact": {"type": "boolean"},
                "filter": {"type": "object", "properties": {"tag": {"type": "string"}}},
            },
        },
        method=method,
    )
    assert call.body is None
    assert call.url == (
        "https://h.example/t?city=example&days=0&exact=true&filter=%7B%22tag%22%3A%22example%22%7D"
    )


def test_a_query_is_added_to_one_the_url_already_has() -> None:
    assert sample({"type": "object"}, "GET", "https://h.example/t?v=1").url == (
        "https://h.example/t?v=1"
    )
    call = sample({"type": "object", "properties": {"a": {}}}, "GET", "https://h.example/t?v=1")
    assert call.url == "https://h.example/t?v=1&a=example"
