"""A tool's JSON Schema reaches nothing and pins no CPU: a `$ref` that is not local is refused
when the tool is saved (API create and patch, the dashboard form) and, for a schema stored
before, when the tool is tested or called, with nothing fetched; patterns run with RE2."""

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from parley.schemas import MAX_EXPANDED_SUBSCHEMAS, MAX_SCHEMA_OBJECTS, SchemaRefused, schema_check
from sessions.engine import session_turn
from sessions.models import SessionType
from sessions.services import session_create
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory
from tests.http import patch, post
from tests.llm_server import ScriptedLLM, calls, says
from tools.execution import tool_execute
from tools.models import ExecutionOutcome, Tool, ToolExecution

pytestmark = pytest.mark.django_db

PASSWD_LINE = "root:"  # the start of /etc/passwd, which must never appear in an answer


@pytest.fixture(scope="module")
def sentinel() -> Iterator[HTTPServer]:
    """A server of its own on loopback that every refused reference points at: whatever
    Parley did, it must never receive a request."""
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sentinel_log(sentinel: HTTPServer) -> Iterator[list[Any]]:
    sentinel.clear()
    sentinel.expect_request("/redirect").respond_with_data(
        "", status=302, headers={"Location": sentinel.url_for("/x")}
    )
    sentinel.expect_request("/x").respond_with_json({"enum": ["fetched"]})
    yield sentinel.log
    sentinel.clear()


def _hosts_name() -> str:
    """A name /etc/hosts gives a loopback address, other than localhost if there is one."""
    try:
        with open("/etc/hosts") as hosts:
            lines = [line.split("#")[0].split() for line in hosts]
    except OSError:
        return "localhost"
    names = [
        name
        for fields in lines
        if fields and fields[0] in ("127.0.0.1", "127.0.1.1", "::1")
        for name in fields[1:]
        if name != "localhost"
    ]
    return names[0] if names else "localhost"


def with_ref(ref: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"x": {"$ref": ref}}}


# (id, the schema given the sentinel's port, where the refusal points)
REFUSED: list[tuple[str, Callable[[int], dict[str, Any]], str]] = [
    ("loopback", lambda port: with_ref(f"http://127.0.0.1:{port}/x"), "properties.x.$ref"),
    ("ipv6-loopback", lambda port: with_ref(f"http://[::1]:{port}/x"), "properties.x.$ref"),
    ("localhost", lambda port: with_ref(f"http://localhost:{port}/x"), "properties.x.$ref"),
    ("hosts-name", lambda port: with_ref(f"http://{_hosts_name()}:{port}/x"), "properties.x.$ref"),
    (
        "redirect-to-loopback",
        lambda port: with_ref(f"http://127.0.0.1:{port}/redirect"),
        "properties.x.$ref",
    ),
    ("file", lambda port: with_ref("file:///etc/passwd"), "properties.x.$ref"),
    ("relative-document", lambda port: with_ref("other.json#/x"), "properties.x.$ref"),
    (
        "id-changes-the-base",
        lambda port: {
            "$id": f"http://127.0.0.1:{port}/",
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/x"}},
            "$defs": {"x": {"type": "string"}},
        },
        "$id",
    ),
    (
        "nested-id",
        lambda port: {
            "type": "object",
            "properties": {"x": {"$id": f"http://127.0.0.1:{port}/", "type": "string"}},
        },
        "properties.x.$id",
    ),
    (
        "dynamic-ref",
        lambda port: {
            "type": "object",
            "properties": {"x": {"$dynamicRef": f"http://127.0.0.1:{port}/x"}},
        },
        "properties.x.$dynamicRef",
    ),
    (
        "remote-metaschema",
        lambda port: {"$schema": f"http://127.0.0.1:{port}/x", "type": "object"},
        "$schema",
    ),
]
CASES = [pytest.param(make, where, id=name) for name, make, where in REFUSED]


def assert_nothing_reached(response_text: str, log: list[Any]) -> None:
    assert log == []
    assert "fetched" not in response_text
    assert PASSWD_LINE not in response_text


def new_tool(**fields: Any) -> dict[str, Any]:
    return {
        "name": "lookup",
        "description": "Looks something up.",
        "server_url": "https://hooks.example.com/lookup",
    } | fields


# Refused when saved.


@pytest.mark.parametrize(("make", "where"), CASES)
def test_the_api_refuses_to_create_a_tool_whose_schema_reaches_out(
    api: Client, sentinel: HTTPServer, sentinel_log: list[Any], make: Any, where: str
) -> None:
    r = post(api, "/v1/tools", new_tool(parameters_schema=make(sentinel.port)))
    assert r.status_code == 400
    problem = r.json()["details"]["errors"][0]
    assert problem["field"] == "parameters_schema"
    assert problem["message"].startswith(f"{where}: ")
    assert not Tool.objects.exists()
    assert_nothing_reached(r.content.decode(), sentinel_log)


def test_a_refused_reference_is_named_with_what_was_given(api: Client) -> None:
    r = post(api, "/v1/tools", new_tool(parameters_schema=with_ref("http://127.0.0.1:9/x")))
    assert r.json()["error"] == (
        "parameters_schema: properties.x.$ref: only local references (#/...) are allowed; "
        "got 'http://127.0.0.1:9/x'"
    )


@pytest.mark.parametrize(("make", "where"), CASES)
def test_the_api_refuses_to_patch_in_a_schema_that_reaches_out(
    api: Client, cast: Cast, sentinel: HTTPServer, sentinel_log: list[Any], make: Any, where: str
) -> None:
    tool = ToolFactory(team=cast.team)
    r = patch(api, f"/v1/tools/{tool.id}", {"parameters_schema": make(sentinel.port)})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["message"].startswith(f"{where}: ")
    tool.refresh_from_db()
    assert tool.parameters_schema == ToolFactory.parameters_schema.function()  # type: ignore[attr-defined]
    assert_nothing_reached(r.content.decode(), sentinel_log)


@pytest.mark.parametrize(("make", "where"), CASES)
def test_the_dashboard_form_shows_the_refusal_on_the_schema_field(
    cast: Cast, sentinel: HTTPServer, sentinel_log: list[Any], make: Any, where: str
) -> None:
    data = new_tool(
        method="POST",
        parameters_schema=json.dumps(make(sentinel.port)),
        auth_type="none",
        timeout_seconds="20",
    )
    r = signed_in(cast.member).post(reverse("tools:create"), data)
    assert r.status_code == 200
    errors = r.context["form"].errors["parameters_schema"]
    assert errors[0].startswith(f"The schema's {where}: ")
    assert not Tool.objects.exists()
    assert_nothing_reached(r.content.decode(), sentinel_log)


# Stored before these rules: refused when tested or called, never fetched.


def stored(cast: Cast, schema: dict[str, Any], **fields: Any) -> Tool:
    """Written straight to the table, as a tool saved before the rules would be."""
    return ToolFactory(team=cast.team, name="lookup", parameters_schema=schema, **fields)


@pytest.mark.parametrize(("make", "where"), CASES)
def test_a_stored_schema_that_reaches_out_fails_the_test_without_fetching(
    api: Client, cast: Cast, sentinel: HTTPServer, sentinel_log: list[Any], make: Any, where: str
) -> None:
    tool = stored(cast, make(sentinel.port))
    r = post(api, f"/v1/tools/{tool.id}/test", {"parameters": {"x": "a"}, "validate_only": True})
    assert r.status_code == 200
    report = r.json()
    assert report["success"] is False
    assert report["validation"] == "invalid"
    problem = report["validation_errors"][0]
    assert problem["field"] == ".".join(filter(None, ["parameters_schema", where]))
    assert "the tool's schema must be changed" in problem["message"]
    assert_nothing_reached(r.content.decode(), sentinel_log)


@pytest.mark.parametrize(("make", "where"), CASES)
def test_a_stored_schema_that_reaches_out_is_never_called_nor_fetched(
    cast: Cast,
    receiver: HTTPServer,
    sentinel: HTTPServer,
    sentinel_log: list[Any],
    make: Any,
    where: str,
) -> None:
    tool = stored(cast, make(sentinel.port), server_url=receiver.url_for("/hook"))
    run = async_to_sync(tool_execute)(tool=tool, arguments={"x": "a"})
    assert run.execution.outcome == ExecutionOutcome.INVALID_ARGUMENTS
    assert run.result.startswith("Error: the arguments for lookup are not valid: parameters_sch")
    assert receiver.log == []
    assert_nothing_reached(run.result, sentinel_log)


def test_a_stored_schema_that_reaches_out_is_refused_in_a_chat_turn(
    receiver: HTTPServer, sentinel: HTTPServer, sentinel_log: list[Any]
) -> None:
    llm = ScriptedLLM(receiver)
    tool = ToolFactory(
        name="lookup",
        server_url=receiver.url_for("/hook"),
        parameters_schema=with_ref(sentinel.url_for("/x")),
    )
    config = AgentConfiguration.model_validate(
        {
            "llm": {"custom_url": llm.base_url, "model": "scripted-model"},
            "tool_calling": {"selected_tool_ids": [str(tool.id)]},
        }
    )
    agent = AgentFactory(team=tool.team, configuration=config.as_document())
    session = session_create(agent=agent, type=SessionType.CHAT)
    llm.will(calls(("lookup", {"x": "a"})), says("I could not look it up."))
    result = async_to_sync(session_turn)(session=session, content="Look it up")
    assert result.reply == "I could not look it up."
    told = llm.requests[1]["messages"][-1]["content"]
    assert "only local references (#/...) are allowed" in told
    assert not any(r.path == "/hook" for r, _ in receiver.log)
    execution = ToolExecution.objects.get()
    assert execution.outcome == ExecutionOutcome.INVALID_ARGUMENTS
    assert_nothing_reached(told, sentinel_log)


# What still works.


def test_a_local_reference_to_defs_is_followed(api: Client) -> None:
    schema = {
        "type": "object",
        "$defs": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
        "properties": {"city": {"$ref": "#/$defs/city"}},
    }
    created = post(api, "/v1/tools", new_tool(parameters_schema=schema, strict_params=True))
    assert created.status_code == 201, created.json()
    url = f"/v1/tools/{created.json()['id']}/test"
    good = post(api, url, {"parameters": {"city": "Oslo"}, "validate_only": True}).json()
    assert good["validation"] == "valid"
    bad = post(api, url, {"parameters": {"city": "Lyon"}, "validate_only": True}).json()
    assert bad["validation_errors"] == [
        {"field": "parameters.city", "message": "'Lyon' is not one of ['Paris', 'Oslo']"}
    ]


def test_a_local_reference_that_points_nowhere_is_refused(api: Client) -> None:
    r = post(api, "/v1/tools", new_tool(parameters_schema=with_ref("#/$defs/missing")))
    assert r.status_code == 400
    assert "'#/$defs/missing' points nowhere in the schema" in r.json()["error"]


@pytest.mark.parametrize(
    ("target", "said"),
    [("hi", "points at a str, not a schema"), ({"type": 5}, "points at what is not a valid")],
)
def test_a_local_reference_must_land_on_a_schema(api: Client, target: Any, said: str) -> None:
    """Otherwise the validator would crash on it when the tool is called."""
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/properties/b/default"}, "b": {"default": target}},
    }
    r = post(api, "/v1/tools", new_tool(parameters_schema=schema))
    assert r.status_code == 400
    assert r.json()["error"].startswith("parameters_schema: properties.a.$ref: '#/properties/b")
    assert said in r.json()["error"]


# Patterns: RE2, linear in the text.

EVIL = [
    ("^(a+)+$", "a" * 30 + "!"),
    ("^(a|a)*$", "a" * 30 + "!"),
    ("^(a|aa)+$", "a" * 40 + "!"),
    ("^(\\w+\\s?)*$", "word " * 12 + "!"),
    ("(x+x+)+y", "x" * 40),
]


@pytest.mark.parametrize(("pattern", "text"), EVIL)
def test_a_catastrophic_pattern_answers_at_once(api: Client, pattern: str, text: str) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}}
    created = post(api, "/v1/tools", new_tool(parameters_schema=schema, strict_params=True))
    assert created.status_code == 201, created.json()
    started = time.monotonic()
    r = post(
        api,
        f"/v1/tools/{created.json()['id']}/test",
        {"parameters": {"code": text}, "validate_only": True},
    )
    elapsed = time.monotonic() - started
    assert r.json()["validation_errors"] == [
        {"field": "parameters.code", "message": f"{text!r} does not match {pattern!r}"}
    ]
    assert elapsed < 5  # Python's re takes minutes on these; RE2 microseconds


def test_property_name_patterns_run_with_re2_too(api: Client) -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^(a+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    created = post(api, "/v1/tools", new_tool(parameters_schema=schema, strict_params=True))
    started = time.monotonic()
    key = "a" * 30 + "!"
    r = post(
        api,
        f"/v1/tools/{created.json()['id']}/test",
        {"parameters": {key: 1, "aaa": "x"}, "validate_only": True},
    )
    assert time.monotonic() - started < 5
    assert {e["message"] for e in r.json()["validation_errors"]} == {
        "'x' is not of type 'integer'",
        "is not a parameter of this tool",
    }


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("^(?=.*\\d)\\w+$", "invalid perl operator: (?="),
        ("^(?!admin)\\w+$", "invalid perl operator: (?!"),
        ("(?<=@)\\w+", "invalid perl operator: (?<"),
        ("^(\\w)\\1$", "invalid escape sequence: \\1"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_saying_why(
    api: Client, cast: Cast, pattern: str, why: str
) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}}
    r = post(api, "/v1/tools", new_tool(parameters_schema=schema))
    assert r.status_code == 400
    message = r.json()["error"]
    assert message.startswith(f"parameters_schema: properties.code.pattern: {pattern!r} is not")
    assert why in message
    assert "no lookarounds or backreferences" in message
    form = signed_in(cast.member).post(
        reverse("tools:create"),
        new_tool(parameters_schema=json.dumps(schema), auth_type="none", timeout_seconds="20"),
    )
    assert (
        form.context["form"]
        .errors["parameters_schema"][0]
        .startswith("The schema's properties.code.pattern: ")
    )


def test_a_property_name_pattern_re2_cannot_run_is_refused(api: Client) -> None:
    schema = {"type": "object", "patternProperties": {"^(?!x)": {}}}
    r = post(api, "/v1/tools", new_tool(parameters_schema=schema))
    assert r.status_code == 400
    assert r.json()["error"].startswith("parameters_schema: patternProperties: '^(?!x)' is not")


# parley.schemas on its own.


def test_references_that_multiply_are_refused_before_they_can_pin_a_cpu() -> None:
    defs: dict[str, Any] = {"a0": {"type": "string"}}
    for n in range(1, 40):
        twice = [{"$ref": f"#/$defs/a{n - 1}"}, {"$ref": f"#/$defs/a{n - 1}"}]
        defs[f"a{n}"] = {"allOf": twice}
    schema = {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/a39"}}}
    with pytest.raises(SchemaRefused, match=f"more than {MAX_EXPANDED_SUBSCHEMAS} subschemas"):
        schema_check(schema)


def test_a_schema_too_large_to_check_quickly_is_refused(api: Client) -> None:
    properties = {f"p{n}": {"type": "string"} for n in range(MAX_SCHEMA_OBJECTS)}
    schema = {"type": "object", "properties": properties}
    r = post(api, "/v1/tools", new_tool(parameters_schema=schema))
    assert r.status_code == 400
    assert r.json()["error"] == (
        f"parameters_schema: has more than {MAX_SCHEMA_OBJECTS} objects, too many to check"
    )


def test_a_reference_loop_is_refused() -> None:
    schema = {"type": "object", "$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}}
    with pytest.raises(SchemaRefused, match="refers back to a schema that contains it") as refused:
        schema_check(schema)
    assert refused.value.where == "$defs.a.allOf.0.$ref"


def test_draft_4_ids_are_refused_too() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"x": {"id": "http://127.0.0.1:9/", "type": "string"}},
    }
    with pytest.raises(SchemaRefused, match="sets an id"):
        schema_check(schema)


def test_known_drafts_and_re2_only_syntax_are_accepted() -> None:
    schema_check({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})
    schema_check({"type": "object", "properties": {"x": {"type": "string", "pattern": "\\pL+"}}})


def test_a_deeply_nested_schema_is_refused_not_a_crash() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(5000):
        schema = {"type": "object", "properties": {"x": schema}}
    with pytest.raises(SchemaRefused, match="nested too deeply"):
        schema_check(schema)


def test_unevaluated_properties_with_property_patterns_are_refused() -> None:
    schema = {"type": "object", "patternProperties": {"a": {}}, "unevaluatedProperties": False}
    with pytest.raises(SchemaRefused, match="cannot be combined with patternProperties"):
        schema_check(schema)


def test_the_hosts_name_resolves_to_loopback() -> None:
    """The table's /etc/hosts entry is a loopback name, so its case means what it says."""
    address = str(socket.getaddrinfo(_hosts_name(), None)[0][4][0])
    assert address.startswith("127.") or address == "::1"
