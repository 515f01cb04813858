import base64
import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_httpserver import HTTPServer

from teams.models import Role
from tests.factories import MembershipFactory, ToolFactory
from tools.models import Tool, ToolExecution

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name, such as Paris"},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
    },
    "required": ["city"],
}


def type_over(page: Page, label: str, text: str) -> None:
    """Replace a field's text key by key, as a person types (fill() sends no keyup)."""
    field = page.get_by_label(label)
    field.fill("")
    field.press_sequentially(text)


def test_a_member_writes_a_schema_sees_it_checked_as_typed_and_saves_the_tool(
    page: Page,
) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    sign_in(page, member.user.email)
    page.get_by_role("link", name="Tools").click()
    page.get_by_role("link", name="Create your first tool").click()
    page.get_by_label("Name", exact=True).fill("get_weather")
    page.get_by_label("Description").fill("Looks up the weather for a city.")
    page.get_by_label("Server URL").fill("https://hooks.example.com/weather")

    check = page.locator("#schema-check")
    type_over(
        page,
        "Parameters (JSON Schema)",
        '{"type": "object", "properties": {"city": {"type": "strin"}}}',
    )
    expect(check).to_contain_text("is not a valid JSON Schema")
    expect(check).to_contain_text("properties/city/type")
    assert page.url.endswith("/tools/new/")  # checked without submitting
    assert not Tool.objects.exists()

    type_over(
        page,
        "Parameters (JSON Schema)",
        '{"type": "object", "properties": {"city": {"type": "string"}}}',
    )
    expect(check).to_contain_text("Valid schema")
    expect(check.locator("[data-sample-call]")).to_contain_text('"city": "example"')
    expect(check.locator("[data-sample-call]")).to_contain_text('"tool_name": "get_weather"')
    expect(check.locator("[data-sample-call]")).to_contain_text(
        "POST https://hooks.example.com/weather"
    )

    page.get_by_label("Method").select_option("GET")  # the sample follows the method
    expect(check.locator("[data-sample-call]")).to_contain_text(
        "GET https://hooks.example.com/weather?city=example"
    )
    page.get_by_label("Method").select_option("POST")

    page.locator("[name=headers_name]").first.fill("X-Api-Key")
    page.locator("[name=headers_value]").first.fill("hdr-secret")
    page.get_by_label("Type").select_option("bearer")
    page.get_by_label("Token").fill("tok-secret")
    page.get_by_role("button", name="Create tool").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("get_weather")
    expect(page.locator("#toasts")).to_contain_text("Created the tool get_weather.")
    tool = Tool.objects.get(name="get_weather")
    assert page.url.endswith(f"/tools/{tool.id}/")
    assert tool.parameters_schema == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
    }
    assert tool.headers == {"X-Api-Key": "hdr-secret"}
    assert tool.auth_config == {"type": "bearer", "token": "tok-secret"}
    assert "hdr-secret" not in page.content()
    assert "tok-secret" not in page.content()


def test_the_auth_type_shows_only_the_fields_it_needs(page: Page) -> None:
    member = MembershipFactory(role=Role.OWNER)
    sign_in(page, member.user.email)
    page.goto("/tools/new/")
    expect(page.get_by_label("Token")).to_be_hidden()
    page.get_by_label("Type").select_option("basic")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_label("Token")).to_be_hidden()
    page.get_by_label("Type").select_option("hmac")
    expect(page.get_by_label("Signing secret")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_hidden()


def test_header_rows_are_added_and_removed(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(team=member.team, headers={"X-One": "1", "X-Two": "2"})
    sign_in(page, member.user.email)
    page.goto(f"/tools/{tool.id}/edit/")
    names = page.locator("[name=headers_name]")
    expect(names).to_have_count(3)  # two stored, one blank
    page.get_by_role("button", name="Add header").click()
    expect(names).to_have_count(4)
    page.get_by_role("button", name="Remove").first.click()
    expect(names).to_have_count(3)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts")).to_contain_text("Saved the tool")
    tool.refresh_from_db()
    assert tool.headers == {"X-Two": "2"}  # the stored secret was kept, unseen


def test_a_viewer_sees_no_edit_controls(page: Page) -> None:
    viewer = MembershipFactory(role=Role.VIEWER)
    tool = ToolFactory(team=viewer.team, name="lookup_order")
    sign_in(page, viewer.user.email)
    page.goto("/tools/")
    expect(page.get_by_role("link", name="lookup_order")).to_be_visible()
    expect(page.get_by_role("link", name="New tool")).to_have_count(0)
    page.get_by_role("link", name="lookup_order").click()
    expect(page.locator("#test-tool")).to_contain_text("Test tool")
    expect(page.locator("#test-tool")).to_contain_text("Your role is viewer")
    expect(page.get_by_role("button", name="Send test")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit tool")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    expect(page.get_by_text("Delete this tool")).to_have_count(0)
    assert page.goto(f"/tools/{tool.id}/edit/").status == 403


def test_a_writer_deletes_a_tool_after_confirming(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(team=member.team, name="lookup_order")
    sign_in(page, member.user.email)
    page.goto(f"/tools/{tool.id}/")
    expect(page.get_by_role("button", name="Delete lookup_order")).to_be_hidden()
    page.get_by_text("Delete this tool…").click()
    page.get_by_role("button", name="Delete lookup_order").click()
    page.wait_for_url("**/tools/")
    expect(page.locator("#toasts")).to_contain_text("Deleted the tool lookup_order.")
    assert not Tool.objects.exists()


def test_the_tools_list_fits_a_phone(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    ToolFactory(
        team=member.team,
        name="look_up_the_customers_most_recent_order_and_its_delivery_status",
        server_url="https://a-rather-long-subdomain.integrations.example-company.com/hooks/orders",
        is_async=True,
        strict_params=True,
    )
    ToolFactory(team=member.team, name="get_weather", method="GET")
    sign_in(page, member.user.email)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/tools/")
    expect(page.get_by_role("link", name="get_weather")).to_be_visible()
    assert not has_horizontal_scroll(page)


def test_the_edit_page_fits_a_phone(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(
        team=member.team,
        headers={"X-Api-Key": "hdr-secret"},
        auth_config={"type": "bearer", "token": "tok-secret"},
    )
    sign_in(page, member.user.email)
    page.set_viewport_size({"width": 375, "height": 740})
    for path in (f"/tools/{tool.id}/edit/", f"/tools/{tool.id}/"):
        page.goto(path)
        assert not has_horizontal_scroll(page), path


def test_screenshot_of_a_tool_with_headers_and_bearer_auth(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(
        team=member.team,
        name="get_weather",
        description="Looks up the current weather and a short forecast for a city.",
        server_url="https://hooks.example.com/weather",
        parameters_schema=WEATHER_SCHEMA,
        headers={"X-Api-Key": "hdr-secret", "Accept": "application/json"},
        auth_config={"type": "bearer", "token": "tok-secret"},
        timeout_seconds=15,
        tags=["weather", "public"],
    )
    sign_in(page, member.user.email)
    page.goto(f"/tools/{tool.id}/edit/")
    expect(page.locator("#schema-check")).to_contain_text("Valid schema")
    expect(page.get_by_label("Token")).to_have_attribute("placeholder", re.compile("stored"))
    assert "hdr-secret" not in page.content()
    assert "tok-secret" not in page.content()
    screenshot(page, "tool-edit")


def test_a_generated_signing_secret_is_shown_once_and_saved(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(team=member.team, name="get_weather")
    sign_in(page, member.user.email)
    page.goto(f"/tools/{tool.id}/edit/")
    expect(page.get_by_role("button", name="Generate a secret")).to_be_hidden()
    page.get_by_label("Type").select_option("hmac")
    expect(
        page.get_by_text("whsec_ followed by the base64 of 24 to 64 random bytes")
    ).to_be_visible()
    page.get_by_role("button", name="Generate a secret").click()
    secret = page.get_by_label("Signing secret")
    expect(secret).to_be_focused()
    expect(secret).to_have_attribute("type", "text")  # to be copied now
    expect(page.get_by_text("Copy it into your server's configuration now")).to_be_visible()
    value = secret.input_value()
    assert value.startswith("whsec_")
    assert len(base64.b64decode(value.removeprefix("whsec_"), validate=True)) == 32
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts")).to_contain_text("Saved the tool")
    tool.refresh_from_db()
    assert tool.auth_config == {"type": "hmac", "secret": value}
    assert value not in page.content()


# The test panel, against a webhook on this machine (tests/conftest.py's `receiver`).


def payloads_for(receiver: HTTPServer, tool: Tool) -> list[dict[str, Any]]:
    """What the tool's webhook was sent. The receiver is shared, and a slow reply to an earlier
    test may still land in its log."""
    bodies = [json.loads(request.get_data()) for request, _ in receiver.log if request.is_json]
    return [body for body in bodies if body.get("tool_id") == str(tool.id)]


def test_a_member_edits_the_parameters_sends_a_test_and_sees_the_call(
    page: Page, receiver: HTTPServer
) -> None:
    receiver.expect_request("/weather", method="POST").respond_with_json(
        {"city": "Oslo", "temperature_c": -2, "sky": "light snow", "forecast_days": 2}
    )
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(
        team=member.team,
        name="get_weather",
        description="Looks up the current weather and a short forecast for a city.",
        server_url=receiver.url_for("/weather"),
        parameters_schema=WEATHER_SCHEMA,
        headers={"X-Api-Key": "hdr-secret", "Accept": "application/json"},
        auth_config={"type": "bearer", "token": "tok-secret"},
    )
    sign_in(page, member.user.email)
    page.goto(f"/tools/{tool.id}/")
    expect(page.locator("#recent-calls")).to_contain_text("No calls yet")
    parameters = page.get_by_role("textbox", name="Parameters", exact=True)
    expect(parameters).to_have_value(re.compile(r'"city": "example"'))
    parameters.fill('{\n  "city": "Oslo",\n  "days": 2,\n  "units": "metric"\n}')
    page.get_by_role("button", name="Send test").click()

    expect(page.locator("#test-result")).to_contain_text("Success")
    expect(page.locator("#test-result")).to_contain_text("The webhook answered 200 OK")
    expect(page.locator("[data-response-body]")).to_contain_text('"sky": "light snow"')
    expect(page.locator("[data-agent-result]")).to_contain_text('"temperature_c":-2')
    expect(page.locator("[data-request-sent]")).to_contain_text("Authorization: [REDACTED]")
    rows = page.locator("#recent-calls tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Success")
    expect(rows.first).to_contain_text("Test")
    expect(page.locator('[data-stat="calls"]')).to_have_text("1")
    expect(page.locator('[data-stat="success-rate"]')).to_have_text("100%")
    expect(parameters).to_have_value(re.compile(r'"city": "Oslo"'))  # kept for the next try
    (payload,) = payloads_for(receiver, tool)
    assert payload["parameters"] == {"city": "Oslo", "days": 2, "units": "metric"}
    assert ToolExecution.objects.get().source == "test"
    assert "hdr-secret" not in page.content()
    assert "tok-secret" not in page.content()
    screenshot(page, "tool-test")

    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Call of get_weather")
    expect(page.locator("[data-arguments]")).to_contain_text('"units": "metric"')
    expect(page.locator("[data-response-body]")).to_contain_text("light snow")


def test_the_tool_page_with_a_test_result_and_a_call_page_fit_a_phone(
    page: Page, receiver: HTTPServer
) -> None:
    long_word = "a-rather-long-value-without-any-spaces-" * 4
    receiver.expect_request("/weather").respond_with_json(
        {"summary": "light snow " * 40, "reference": long_word}
    )
    member = MembershipFactory(role=Role.MEMBER)
    tool = ToolFactory(
        team=member.team,
        name="look_up_the_customers_most_recent_order_and_its_delivery_status",
        server_url=receiver.url_for("/weather") + "?token-free-query=" + long_word,
        parameters_schema=WEATHER_SCHEMA,
    )
    sign_in(page, member.user.email)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"/tools/{tool.id}/")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("[data-response-body]")).to_contain_text(long_word)
    expect(page.locator("#recent-calls tbody tr")).to_have_count(1)
    assert not has_horizontal_scroll(page)
    calls = page.locator("#recent-calls .table-wrap")
    assert calls.evaluate("table => table.scrollWidth <= table.clientWidth")  # no inner scroll
    page.locator("#recent-calls").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Call of")
    assert not has_horizontal_scroll(page)
