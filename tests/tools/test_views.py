"""The dashboard's tool pages: list, new, detail (its test panel and recent calls), one recorded
call, edit, delete, and the schema editor's check."""

import json
import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from pytest_httpserver import HTTPServer

from activity.models import ActivityEntry
from tests.conftest import Cast, signed_in
from tests.factories import SessionFactory, ToolFactory
from tools.models import Tool, ToolExecution
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
    assert "<time datetime=" in page


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


def test_writers_get_the_test_form_filled_with_the_sample_parameters(cast: Cast) -> None:
    tool = stored_tool(cast, parameters_schema=SCHEMA)
    response = signed_in(cast.member).get(f"/tools/{tool.id}/")
    page = html(response)
    assert f'hx-post="/tools/{tool.id}/test/"' in page
    assert f'action="/tools/{tool.id}/test/#test-tool"' in page  # without JavaScript too
    textarea = re.search(r'<textarea name="parameters"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea is not None
    assert json.loads(textarea.group(1).replace("&quot;", '"')) == {"city": "example", "days": 0}
    assert '<label for="id_parameters">Parameters</label>' in page
    assert "Validate only" in page
    assert "Send test" in page
    assert_no_secrets(response)


def test_viewers_see_a_note_instead_of_the_test_form(cast: Cast) -> None:
    tool = stored_tool(cast)
    page = html(signed_in(cast.viewer).get(f"/tools/{tool.id}/"))
    assert 'id="test-tool"' in page
    assert "Your role is viewer" in page
    assert "/test/" not in page
    assert "Send test" not in page


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


# The test panel: a real call to a webhook on this machine (tests/conftest.py's `receiver`).


def tool_at(cast: Cast, receiver: HTTPServer, **fields: Any) -> Tool:
    """A tool whose webhook is a path of its own on the shared receiver, where a slow reply to
    an earlier test may still land."""
    server_url = receiver.url_for(f"/weather/{uuid.uuid4().hex}")
    return stored_tool(cast, **({"server_url": server_url, "parameters_schema": SCHEMA} | fields))


def webhook(receiver: HTTPServer, tool: Tool) -> Any:
    """The receiver's handler for the tool's webhook, to say how it answers."""
    return receiver.expect_request(urlsplit(tool.server_url).path)


def received(receiver: HTTPServer, tool: Tool) -> list[Any]:
    """The requests the tool's webhook got."""
    path = urlsplit(tool.server_url).path
    return [request for request, _ in receiver.log if request.path == path]


def send(client: Client, tool: Tool, *, htmx: bool = True, **data: Any) -> Any:
    return client.post(f"/tools/{tool.id}/test/", data, **(HTMX if htmx else {}))


def test_a_writer_sends_a_test_and_sees_the_webhooks_reply(
    cast: Cast, receiver: HTTPServer
) -> None:
    tool = tool_at(cast, receiver)
    webhook(receiver, tool).respond_with_json(
        {"temperature": 21, "sky": "clear"}, headers={"X-Trace": "t-1"}
    )
    response = send(signed_in(cast.member), tool, parameters='{"city": "Paris", "days": 2}')
    assert response.status_code == 200
    page = html(response)
    assert page.lstrip().startswith('<section id="test-tool"')  # the panel, not the page
    assert ">Success<" in page
    assert "The webhook answered 200 OK" in page
    assert "200 OK</span>" in page
    assert "x-trace: t-1" in page.lower()
    assert "&quot;temperature&quot;: 21," in page  # the reply, pretty-printed
    assert "Result given to the agent" in page
    assert "{&quot;temperature&quot;:21,&quot;sky&quot;:&quot;clear&quot;}" in page  # as given
    assert f"<code>{tool.server_url}</code>" in page
    assert "&quot;city&quot;: &quot;Paris&quot;" in page  # the payload sent
    assert "Content-Type: application/json" in page
    assert "&quot;days&quot;: 2}</textarea>" in page  # what was typed stays in the form
    (request,) = received(receiver, tool)
    sent = json.loads(request.get_data())
    assert sent["parameters"] == {"city": "Paris", "days": 2}
    execution = ToolExecution.objects.get(tool=tool)
    assert (execution.source, execution.outcome, execution.status_code) == ("test", "success", 200)
    # The recent calls come along out of band, with the new call in them.
    assert '<section id="recent-calls"' in page
    assert 'hx-swap-oob="true"' in page
    assert page.count(f"/tools/{tool.id}/calls/{execution.id}/") == 2  # its row and a link


def test_a_failing_webhook_is_shown_as_a_failure_with_its_reply(
    cast: Cast, receiver: HTTPServer
) -> None:
    tool = tool_at(cast, receiver)
    webhook(receiver, tool).respond_with_data("upstream is down", status=502)
    page = html(send(signed_in(cast.member), tool, parameters='{"city": "Paris"}'))
    assert ">Failed<" in page
    assert "HTTP error" in page
    assert "The call failed" in page
    assert "502 bad gateway</span>" in page.lower()
    assert "upstream is down" in page
    assert ToolExecution.objects.get().outcome == "http_error"


def test_a_test_never_shows_the_tools_secrets(cast: Cast, receiver: HTTPServer) -> None:
    # A careless webhook echoes the credentials it got back in its reply.
    tool = tool_at(cast, receiver)
    webhook(receiver, tool).respond_with_json({"got": [TOKEN, HEADER_SECRET]})
    client = signed_in(cast.member)
    response = send(client, tool, parameters='{"city": "Paris"}')
    assert_no_secrets(response)
    assert "Authorization: [REDACTED]" in html(response)
    assert "X-Api-Key: [REDACTED]" in html(response)
    delivered = received(receiver, tool)[0].headers
    assert delivered["Authorization"] == f"Bearer {TOKEN}"  # sent, only never shown
    assert delivered["X-Api-Key"] == HEADER_SECRET
    execution = ToolExecution.objects.get()
    assert_no_secrets(client.get(f"/tools/{tool.id}/calls/{execution.id}/"))
    assert_no_secrets(client.get(f"/tools/{tool.id}/"))


def test_without_javascript_the_result_comes_back_in_the_whole_page(
    cast: Cast, receiver: HTTPServer
) -> None:
    tool = tool_at(cast, receiver)
    webhook(receiver, tool).respond_with_data("sunny", content_type="text/plain")
    response = send(signed_in(cast.member), tool, htmx=False, parameters='{"city": "Oslo"}')
    assert response.status_code == 200
    page = html(response)
    assert "<html" in page
    assert "Sample call" in page
    assert ">Success<" in page
    assert "sunny" in page
    assert "&quot;city&quot;: &quot;Oslo&quot;}</textarea>" in page
    assert "hx-swap-oob" not in page
    execution = ToolExecution.objects.get()
    assert f"/tools/{tool.id}/calls/{execution.id}/" in page  # in the recent calls already


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ('{"city": }', "This is not valid JSON: Expecting value (line 1, column 10)."),
        ("[1, 2]", "This must be a JSON object"),
        ('"Paris"', "This must be a JSON object"),
        ('{"days": NaN}', "NaN is not a JSON value"),
    ],
)
def test_parameters_that_are_not_a_json_object_are_refused_under_the_field(
    cast: Cast, receiver: HTTPServer, typed: str, message: str
) -> None:
    tool = tool_at(cast, receiver)
    response = send(signed_in(cast.member), tool, parameters=typed)
    assert response.status_code == 200
    assert message in field_errors(response, "parameters")
    assert f"{escape(typed)}</textarea>" in html(response)  # kept as typed, to fix
    assert 'id="test-result"' not in html(response)
    assert received(receiver, tool) == []
    assert not ToolExecution.objects.exists()


def test_validate_only_checks_the_parameters_without_calling_the_webhook(
    cast: Cast, receiver: HTTPServer
) -> None:
    tool = tool_at(cast, receiver)
    response = send(
        signed_in(cast.member), tool, parameters='{"city": "Paris"}', validate_only="on"
    )
    page = html(response)
    assert ">Success<" in page
    assert "The parameters are valid. The webhook was not called (validate_only)." in page
    assert "The webhook was not called" in page
    assert 'name="validate_only" id="id_validate_only" checked' in page
    assert "hx-swap-oob" not in page  # nothing new to list
    assert received(receiver, tool) == []
    assert not ToolExecution.objects.exists()


def test_strict_parameters_that_break_the_schema_are_listed_and_never_sent(
    cast: Cast, receiver: HTTPServer
) -> None:
    tool = tool_at(cast, receiver, strict_params=True)
    response = send(signed_in(cast.member), tool, parameters='{"days": "two", "colour": "red"}')
    page = html(response)
    assert ">Failed<" in page
    assert "The parameters are not valid" in page
    problems = re.search(r"<ul [^>]*data-validation-errors>(.*?)</ul>", page, re.S)
    assert problems is not None
    listed = problems.group(1)
    assert "<code>parameters.city</code> is required" in listed
    assert "<code>parameters.colour</code> is not a parameter of this tool" in listed
    assert "<code>parameters.days</code> &#x27;two&#x27; is not of type" in listed
    assert "The webhook was not called" in page
    assert received(receiver, tool) == []
    assert ToolExecution.objects.get().outcome == "invalid_arguments"


def test_without_strict_parameters_the_problems_are_warnings_and_the_call_is_made(
    cast: Cast, receiver: HTTPServer
) -> None:
    tool = tool_at(cast, receiver)
    webhook(receiver, tool).respond_with_json({"ok": True})
    page = html(send(signed_in(cast.member), tool, parameters='{"days": 3}'))
    assert "The parameters do not match the schema" in page
    assert "<code>parameters.city</code> is required" in page
    assert ">Success<" in page
    assert len(received(receiver, tool)) == 1


def test_a_viewer_cannot_send_a_test(cast: Cast, receiver: HTTPServer) -> None:
    tool = tool_at(cast, receiver)
    assert send(signed_in(cast.viewer), tool, parameters='{"city": "Paris"}').status_code == 403
    assert received(receiver, tool) == []
    assert not ToolExecution.objects.exists()


def test_an_outsider_cannot_test_another_teams_tool(cast: Cast, receiver: HTTPServer) -> None:
    tool = tool_at(cast, receiver)
    client = signed_in(cast.outsider)
    assert send(client, tool, parameters='{"city": "Paris"}').status_code == 404
    assert client.post(f"/tools/{uuid.uuid4()}/test/", {"parameters": "{}"}).status_code == 404
    assert received(receiver, tool) == []


def test_the_test_is_post_only(cast: Cast) -> None:
    tool = stored_tool(cast)
    assert signed_in(cast.owner).get(f"/tools/{tool.id}/test/").status_code == 405


# Recent calls and their figures.


def call(tool: Tool, ago: timedelta = timedelta(minutes=5), **fields: Any) -> ToolExecution:
    """A recorded call of the tool, started `ago`."""
    defaults = {
        "team": tool.team,
        "tool": tool,
        "tool_name": tool.name,
        "source": "agent",
        "started_at": timezone.now() - ago,
        "outcome": "success",
        "status_code": 200,
        "duration_ms": 100,
    }
    return ToolExecution.objects.create(**(defaults | fields))


def stat(page: str, name: str) -> str:
    found = re.search(rf'data-stat="{name}">(.*?)</dd>', page)
    assert found is not None
    return found.group(1)


def test_recent_calls_list_each_call_and_the_weeks_figures(cast: Cast) -> None:
    tool = stored_tool(cast)
    for minutes, duration in enumerate([100, 200, 300], start=1):
        call(tool, timedelta(minutes=minutes), duration_ms=duration)
    call(tool, timedelta(minutes=4), duration_ms=400, source="test")
    failed = call(
        tool,
        timedelta(minutes=5),
        outcome="http_error",
        status_code=500,
        duration_ms=1000,
        error="the webhook answered 500 Internal Server Error " + "and a long story " * 10,
    )
    call(tool, timedelta(minutes=6), outcome="pending", status_code=None, duration_ms=None)
    call(tool, timedelta(days=8), duration_ms=5)  # listed, but older than the figures' week
    call(ToolFactory(team=cast.team), duration_ms=99_999)  # another tool's
    page = html(signed_in(cast.viewer).get(f"/tools/{tool.id}/"))
    assert stat(page, "calls") == "6"
    assert stat(page, "success-rate") == "80%"  # 4 of the 5 finished
    assert stat(page, "p50") == "300 ms"
    assert stat(page, "p95") == "880 ms"  # between 400 and 1000, inclusive method
    assert page.count(f"/tools/{tool.id}/calls/") == 7
    assert f'href="/tools/{tool.id}/calls/{failed.id}/"' in page
    assert '<span class="badge badge-red">HTTP error</span>' in page
    assert '<span class="badge badge-amber">Pending</span>' in page
    assert page.count('<span class="badge badge-green">Success</span>') == 5
    assert '<span class="badge badge-blue">Test</span>' in page
    assert "the webhook answered 500 Internal Server Error and a long" in page
    assert "…" in page  # the long error, shortened
    assert ">1000 ms<" in page
    assert ">500<" in page


def test_recent_calls_show_the_newest_twenty_at_a_fixed_query_count(
    cast: Cast, django_assert_num_queries: Any
) -> None:
    tool = stored_tool(cast)
    client = signed_in(cast.member)
    call(tool)
    # The session, the user, their membership (with its team), the tool, its recent calls, the
    # week's counts, the week's durations, the team switcher's memberships, and the iwy panel's
    # link and account.
    with django_assert_num_queries(10):
        assert html(client.get(f"/tools/{tool.id}/")).count("/calls/") == 1
    newest = call(tool, timedelta(seconds=1))
    for minutes in range(24):
        call(tool, timedelta(minutes=10 + minutes))
    with django_assert_num_queries(10):
        page = html(client.get(f"/tools/{tool.id}/"))
    assert page.count(f"/tools/{tool.id}/calls/") == 20
    first = re.search(r"/calls/([0-9a-f-]+)/", page)
    assert first is not None
    assert first.group(1) == str(newest.id)
    assert stat(page, "calls") == "26"


def test_a_tool_without_calls_says_how_to_make_one(cast: Cast) -> None:
    tool = stored_tool(cast)
    page = html(signed_in(cast.member).get(f"/tools/{tool.id}/"))
    assert "No calls yet. Send a test above" in page
    assert stat(page, "calls") == "0"
    assert stat(page, "success-rate") == stat(page, "p50") == stat(page, "p95") == "—"
    viewer_page = html(signed_in(cast.viewer).get(f"/tools/{tool.id}/"))
    assert "No calls yet." in viewer_page
    assert "Send a test above" not in viewer_page


# One recorded call.


RECORDED_REQUEST = {
    "url": "https://hooks.example.com/tool",
    "method": "POST",
    "headers": {"Content-Type": "application/json", "Authorization": "[REDACTED]"},
    "payload": {"tool_name": "get_weather", "parameters": {"city": "Paris"}, "session": None},
}
RECORDED_RESPONSE = {
    "status": 502,
    "status_text": "Bad Gateway",
    "headers": {"content-type": "text/plain"},
    "body": "upstream is down",
    "content_type": "text/plain",
}


def test_a_calls_page_shows_its_arguments_request_response_error_and_session(
    cast: Cast,
) -> None:
    tool = stored_tool(cast)
    session = SessionFactory(agent__team=cast.team)
    execution = call(
        tool,
        session=session,
        outcome="http_error",
        status_code=502,
        duration_ms=320,
        error="the webhook answered 502 Bad Gateway",
        arguments={"city": "Paris"},
        request=RECORDED_REQUEST,
        response=RECORDED_RESPONSE,
    )
    response = signed_in(cast.viewer).get(f"/tools/{tool.id}/calls/{execution.id}/")
    assert response.status_code == 200
    page = html(response)
    assert 'Call of <span class="font-mono">get_weather</span>' in page
    assert '<span class="badge badge-red">HTTP error</span>' in page
    assert "{\n  &quot;city&quot;: &quot;Paris&quot;\n}" in page  # the arguments, indented
    assert "<code>https://hooks.example.com/tool</code>" in page
    assert "Authorization: [REDACTED]" in page
    assert "&quot;parameters&quot;: {" in page
    assert "502 Bad Gateway</span>" in page
    assert "upstream is down" in page
    assert "the webhook answered 502 Bad Gateway" in page
    assert "320 ms" in page
    assert f'href="/sessions/{session.id}/"' in page
    assert f'href="/tools/{tool.id}/#recent-calls"' in page


def test_a_call_refused_before_sending_says_the_webhook_was_not_called(cast: Cast) -> None:
    tool = stored_tool(cast)
    execution = call(
        tool,
        source="test",
        outcome="invalid_arguments",
        status_code=None,
        duration_ms=0,
        error="Error: the arguments for get_weather are not valid: parameters.city is required",
    )
    page = html(signed_in(cast.member).get(f"/tools/{tool.id}/calls/{execution.id}/"))
    assert "Invalid arguments" in page
    assert "parameters.city is required" in page
    assert "The webhook was not called" in page
    assert "None: a test from this page" in page


def test_a_call_is_found_only_under_its_own_tool_and_team(cast: Cast) -> None:
    tool = stored_tool(cast)
    execution = call(tool)
    elsewhere = call(ToolFactory(team=cast.team))
    theirs = ToolFactory(team=cast.other_team)
    client = signed_in(cast.member)
    assert client.get(f"/tools/{tool.id}/calls/{execution.id}/").status_code == 200
    assert client.get(f"/tools/{tool.id}/calls/{elsewhere.id}/").status_code == 404
    assert client.get(f"/tools/{tool.id}/calls/{uuid.uuid4()}/").status_code == 404
    outsider = signed_in(cast.outsider)
    assert outsider.get(f"/tools/{tool.id}/calls/{execution.id}/").status_code == 404
    assert outsider.get(f"/tools/{theirs.id}/calls/{execution.id}/").status_code == 404


def test_a_calls_page_refuses_post(cast: Cast) -> None:
    tool = stored_tool(cast)
    execution = call(tool)
    response = signed_in(cast.owner).post(f"/tools/{tool.id}/calls/{execution.id}/")
    assert response.status_code == 405
