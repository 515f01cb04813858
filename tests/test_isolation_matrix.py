"""Team isolation, for every route there is: generated from the URL configuration and the OpenAPI
documents, so that a new route is covered the day it is added.

For each route with an object id in its path, the object is made in the team (PATH_VALUES, keyed
by the path parameter's name), then:
- another team's key, and an outsider signed in, get 404 for every method (the owner gets it);
- the read-only key, and a viewer signed in, write nothing: every writing method is 403 or 404;
- and no row of the project's tables changed.
Routes meant to be open (the widget, the hosted page, the docs, signing in) are in ALLOWED, each
with its reason; a route that is neither covered nor allowed fails
`test_every_route_is_covered_or_allowed`."""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any
from uuid import uuid4

import pytest
from django.apps import apps
from django.core.cache import cache as django_cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from pytest_httpserver import HTTPServer

from activity.services import SYSTEM
from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from agents.services import agent_update
from completions.models import AgentLLMKey
from completions.services import llm_key_create
from config.api import agent_human_api, api
from evals.models import EvalRun, EvalScenario
from evals.services import eval_run_start, scenario_create, scenario_spec
from iwy.models import AgentLink, ToolLink
from sessions.models import Session, SessionType
from sessions.services import session_create
from teams.models import ApiKey, Invitation, Membership
from tools.models import ExecutionOutcome, ExecutionSource, Tool, ToolExecution

from .conftest import Cast, signed_in
from .factories import AgentFactory, ApiKeyFactory, ToolFactory
from .llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch", "delete")
OPENAPI = {"v1/": "/v1/openapi.json", "api/v1/": "/api/v1/openapi.json"}
_API = {"v1/": api, "api/v1/": agent_human_api}

# Routes left out of the matrix on purpose, with the reason: by prefix, then exactly.
ALLOWED_UNDER: dict[str, str] = {
    "admin/": "Django's admin: staff only, not a team's page",
    "accounts/": "signing in and out, password reset: before any team",
}
ALLOWED: dict[str, str] = {
    "": "redirects to the agent list",
    "signup/": "making an account: before any team",
    "favicon.ico": "a redirect to the static icon",
    "teams/new/": "a signed-in person of any role makes a team of their own",
    "teams/switch/": "switches among the person's own memberships only",
    "invitations/<str:token>/": "the invitation's secret token is the credential",
    "signup/<str:token>/": "the sign-up link's secret token is the credential",
    "widget/live-avatar.js": "the widget's public script",
    "widget/agents/<str:agent_id>": "the name the widget shows, read as the hosted page reads "
    "it; drafts 404 (tests/widget)",
    "meet/<str:agent_id>": "the hosted page for published agents; drafts 404 (tests/meet)",
    "v1/agents/<uuid:agent_id>/chat/completions": "takes the agent's ak_ key, never a team's "
    "credentials (tests/completions/test_views.py)",
    "v1/openapi.json": "the API's documentation",
    "v1/docs": "the API's documentation",
    "v1/": "the API's root",
    "^v1/(?P<rest>.*)$": "the API's 404 for unknown paths",
    "api/v1/openapi.json": "the API's documentation",
    "api/v1/docs": "the API's documentation",
    "api/v1/": "the API's root",
    "^api/v1/(?P<rest>.*)$": "the API's 404 for unknown paths",
}
# API routes outside the OpenAPI documents: plain Django views, with the methods they serve.
EXTRA_API: dict[str, tuple[str, ...]] = {
    "api/v1/sessions/<uuid:session_id>/messages": ("post",),
}
# API routes that take no sign-in, only a key or a session token: a signed-in outsider is 401.
KEY_ONLY = {"api/v1/sessions/<uuid:session_id>/messages"}
# Writes a viewer signed in may make, and why.
VIEWER_MAY: dict[str, str] = {
    "/v1/start-agent-session": "the dashboard's test call: every member runs it, viewers too",
    "agents/validate/": "checks a form's values; stores nothing",
    "tools/check-schema/": "checks a parameters schema; stores nothing",
    "tools/<uuid:tool_id>/check-schema/": "checks a parameters schema; stores nothing",
}
# Path parameters that are not an object's id: the value to put in.
NOT_IDS: dict[str, str] = {"kind": "groq"}
# A valid body for each API operation that takes one, so that a refusal is about who asks.
BODIES: dict[str, Callable[["World"], dict[str, Any]]] = {
    "agent_create": lambda w: {"name": "Made"},
    "agent_create_iwy": lambda w: {"name": "Made"},
    "agent_update": lambda w: {"name": "Renamed"},
    "agent_update_iwy": lambda w: {"name": "Renamed"},
    "ephemeral_agent_create": lambda w: {"configuration": {}},
    "tool_create": lambda w: {"name": "made", "description": "d", "server_url": "https://x.test"},
    "tool_create_iwy": lambda w: {
        "name": "made",
        "description": "d",
        "server_url": "https://x.test",
    },
    "tool_update": lambda w: {"description": "Changed"},
    "tool_update_iwy": lambda w: {"description": "Changed"},
    "tool_test": lambda w: {"parameters": {}, "validate_only": True},
    "tool_test_iwy": lambda w: {"parameters": {}, "validate_only": True},
    "session_start": lambda w: {"agentId": str(w.agent.id), "mode": "chat"},
    "call_offer": lambda w: {"sdp": "v=0\r\n", "type": "offer"},
    "agent_llm_key_create": lambda w: {"name": "Made"},
    "session_speak": lambda w: {"text": "Hello"},
    "iwy_agent_mint": lambda w: {"agent_id": str(w.agent.id)},
    "iwy_publish": lambda w: {},
    "iwy_resolve": lambda w: {"keep": "parley"},
    "agent_human_session_start": lambda w: {
        "agent_id": str(w.agent.id),
        "session_type": "agent_chat",
    },
    "agent_human_session_end": lambda w: {},
    "agent_human_session_end_post": lambda w: {},
    "agent_human_session_message": lambda w: {"content": "Hello"},
    "agent_sessions_analyse": lambda w: {"from": "2026-01-01", "to": "2026-01-31"},
    "eval_scenario_create": lambda w: {"name": "Made", "spec": {"script": ["Hi"]}},
    "eval_scenario_update": lambda w: {"name": "Renamed"},
    "eval_run_start": lambda w: {"trials": 1},
}
# What the matrix compares before and after: every row of the project's own tables.
SNAPSHOT_APPS = {
    "teams",
    "agents",
    "tools",
    "conversations",
    "completions",
    "iwy",
    "agora",
    "providers",
    "activity",
    "analytics",
    "voice",
    "analysis",
    "evals",
}
VOLATILE = {"last_used_at", "last_login"}  # reading with a key notes when it was last used


# The routes.


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


@cache
def routes() -> list[str]:
    return sorted(set(_walk(get_resolver())))


def allowed(route: str) -> bool:
    return route in ALLOWED or route.startswith(tuple(ALLOWED_UNDER))


def params(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


def is_api(route: str) -> bool:
    return route.startswith(tuple(OPENAPI))


def openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def has_id(route: str) -> bool:
    return any(name not in NOT_IDS for name in params(route))


CHECKED = [r for r in routes() if not allowed(r)]
WITH_IDS = [r for r in CHECKED if has_id(r)]


def _with_aliases(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The paths, and each operation again at the other paths it serves (`x-aliases`: iwy's
    singular paths, listed once in the documents)."""
    expanded = {path: dict(ops) for path, ops in paths.items()}
    for ops in paths.values():
        for method, op in ops.items():
            for alias in op.get("x-aliases", []):
                expanded.setdefault(alias, {})[method] = op
    return expanded


@cache
def _documents() -> dict[str, dict[str, Any]]:
    """The operations of both OpenAPI documents, by path, aliases included: what
    /v1/openapi.json and /api/v1/openapi.json serve (test_every_route_is_covered_or_allowed
    checks that they do)."""
    paths: dict[str, dict[str, Any]] = {}
    for prefix, document in ((p, _API[p].get_openapi_schema(path_prefix="/" + p)) for p in OPENAPI):
        paths |= {
            path: ops for path, ops in document["paths"].items() if path.startswith("/" + prefix)
        }
    return _with_aliases(paths)


def operations(route: str) -> dict[str, str]:
    """{method: operation id} for an API route; {get, post} for a dashboard page."""
    if not is_api(route):
        return {"get": "", "post": ""}
    documented = _documents().get(openapi_path(route), {})
    if not documented and route in EXTRA_API:
        return dict.fromkeys(EXTRA_API[route], "agent_human_session_message")
    return {method: op["operationId"] for method, op in documented.items()}


# The team's objects, one of each kind a path can name.


@dataclass
class World:
    cast: Cast
    agent: Agent
    tool: Tool
    session: Session
    execution: ToolExecution
    llm_key: AgentLLMKey
    membership: Membership
    invitation: Invitation
    api_key: ApiKey
    scenario: EvalScenario
    run: EvalRun


def _world(cast: Cast) -> World:
    agent = AgentFactory(team=cast.team, publish_status="private")
    agent_update(agent=agent, actor=SYSTEM, changes={})  # its version 1, as every agent has
    tool = ToolFactory(team=cast.team)
    AgentLink.objects.create(team=cast.team, agent=agent, remote_id="ag_remote")
    ToolLink.objects.create(team=cast.team, tool=tool, remote_id="tl_remote")
    session = session_create(agent=agent, type=SessionType.CHAT)
    execution = ToolExecution.objects.create(
        team=cast.team,
        tool=tool,
        tool_name=tool.name,
        source=ExecutionSource.TEST,
        outcome=ExecutionOutcome.SUCCESS,
    )
    invitation = Invitation.objects.create(
        team=cast.team, digest=uuid4().hex, expires_at=timezone.now() + timedelta(days=1)
    )
    scenario = scenario_create(
        agent=agent, actor=SYSTEM, name="greeting", spec=scenario_spec({"script": ["Hi"]})
    )
    return World(
        cast=cast,
        agent=agent,
        tool=tool,
        session=session,
        execution=execution,
        llm_key=llm_key_create(agent=agent, name="remote")[0],
        membership=Membership.objects.get(team=cast.team, user=cast.member),
        invitation=invitation,
        api_key=ApiKeyFactory(team=cast.team, name="spare"),
        scenario=scenario,
        run=eval_run_start(agent=agent, actor=SYSTEM, dispatch=False),
    )


# The id to put in the path, by the path parameter's name.
PATH_VALUES: dict[str, Callable[[World], object]] = {
    "agent_id": lambda w: w.agent.id,
    "tool_id": lambda w: w.tool.id,
    "session_id": lambda w: w.session.id,
    "execution_id": lambda w: w.execution.id,
    "key_id": lambda w: w.llm_key.pk,
    "membership_id": lambda w: w.membership.pk,
    "invitation_id": lambda w: w.invitation.pk,
    "api_key_id": lambda w: w.api_key.pk,
    "object_id": lambda w: w.agent.id,
    "number": lambda w: w.agent.published_version.number,  # an agent's version
    "scenario_id": lambda w: w.scenario.id,
    "run_id": lambda w: w.run.id,
}
# A path naming its object's kind (/v1/{kind}/{object_id}/iwy): each kind, with its object.
KINDS: list[Callable[[World], dict[str, object]]] = [
    lambda w: {"kind": "agents", "object_id": w.agent.id},
    lambda w: {"kind": "tools", "object_id": w.tool.id},
]


def urls(route: str, world: World) -> list[str]:
    names = params(route)
    values = {name: NOT_IDS.get(name) or PATH_VALUES[name](world) for name in names}
    fillings = [values]
    if "object_id" in names and "kind" in names:
        fillings = [values | kind(world) for kind in KINDS]
    return [_filled(route, filling) for filling in fillings]


def _filled(route: str, values: dict[str, object]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), route)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in SNAPSHOT_APPS:
            found = model._default_manager.order_by("pk").values()
            rows[model._meta.label] = [
                {k: v for k, v in row.items() if k not in VOLATILE} for row in found
            ]
    return rows


def call(client: Client, method: str, url: str, body: dict[str, Any] | None) -> Any:
    send = getattr(client, method)
    if body is None or method == "get":
        return send(url)
    return send(url, json.dumps(body), content_type="application/json")


def body_for(route: str, operation: str, world: World) -> dict[str, Any] | None:
    if not (is_api(route) or route in EXTRA_API):
        return None  # a dashboard form: the refusal comes before the form is read
    make = BODIES.get(operation)
    return make(world) if make else {}  # JSON still: the API refuses other content types


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    django_cache.clear()


@pytest.fixture
def world(cast: Cast) -> World:
    return _world(cast)


def _key_client(secret: str, *, bearer: bool = False) -> Client:
    if bearer:
        return Client(headers={"Authorization": f"Bearer {secret}"})
    return Client(headers={"x-api-key": secret})


# The route list itself.


def test_every_route_is_covered_or_allowed(db: None) -> None:
    documented = set(_documents())
    served = {
        path
        for url in OPENAPI.values()
        for path in _with_aliases(Client().get(url).json()["paths"])
    }
    assert served == documented
    lost = [
        r for r in CHECKED if is_api(r) and r not in EXTRA_API and openapi_path(r) not in documented
    ]
    assert lost == [], "API routes neither in the OpenAPI documents, EXTRA_API nor ALLOWED"
    routed = {openapi_path(r) for r in routes()}
    assert documented <= routed, "operations in the OpenAPI documents that no route serves"
    assert len(WITH_IDS) > 20  # the walk found the routes: it did not silently come back empty


def test_every_path_parameter_names_a_known_object() -> None:
    """A new kind of object in a path needs its maker in PATH_VALUES (or NOT_IDS)."""
    unknown = {
        (route, name)
        for route in CHECKED
        for name in params(route)
        if name not in PATH_VALUES and name not in NOT_IDS
    }
    assert unknown == set(), "add these path parameters to PATH_VALUES"


def test_every_api_body_has_a_valid_example(db: None) -> None:
    needed = {
        op["operationId"]
        for route in CHECKED
        if is_api(route)
        for op in _documents().get(openapi_path(route), {}).values()
        if "requestBody" in op
    }
    missing = needed - set(BODIES)
    assert missing == set(), f"add a valid body for these operations to BODIES: {missing}"


# The matrix.


@pytest.mark.parametrize("route", WITH_IDS)
def test_another_team_finds_nothing(route: str, world: World) -> None:
    cast = world.cast
    outsiders = {"outsider signed in": signed_in(cast.outsider)}
    if is_api(route):  # a key is no credential on the dashboard's pages
        outsiders["other team's key"] = _key_client(cast.outsider_key.secret)
    owner = _key_client(cast.key.secret) if is_api(route) else signed_in(cast.owner)
    before = snapshot()
    for url in urls(route, world):
        for method, operation in operations(route).items():
            body = body_for(route, operation, world)
            for who, client in outsiders.items():
                status = call(client, method, url, body).status_code
                expected = {401} if who == "outsider signed in" and route in KEY_ONLY else {404}
                if not is_api(route):
                    expected.add(405)  # the same for every id: the method is not served
                assert status in expected, f"{who} {method.upper()} {url}: {status}"
        if "get" in operations(route):
            # The object is there: the owner finds it, so the outsiders' 404 means something.
            status = owner.get(url).status_code
            assert status != 404, f"the owner GET {url}: 404, so the matrix proves nothing"
    assert snapshot() == before


@pytest.mark.parametrize("route", [r for r in CHECKED if set(WRITES) & set(operations(r))])
def test_read_only_callers_write_nothing(route: str, world: World) -> None:
    cast = world.cast
    readers = {"viewer signed in": signed_in(cast.viewer)}
    if is_api(route):
        readers["read-only key"] = _key_client(cast.read_only_key.secret, bearer=True)
    before = snapshot()
    for url in urls(route, world):
        for method, operation in operations(route).items():
            if method not in WRITES:
                continue
            body = body_for(route, operation, world)
            for who, client in readers.items():
                if who == "viewer signed in" and (url in VIEWER_MAY or route in VIEWER_MAY):
                    continue
                status = call(client, method, url, body).status_code
                assert status in {401, 403, 404, 405}, f"{who} {method.upper()} {url}: {status}"
    assert snapshot() == before


@pytest.mark.parametrize(
    "route", [r for r in CHECKED if is_api(r) and r not in EXTRA_API and r in routes()]
)
def test_a_null_body_is_refused_where_a_body_is_needed(route: str, world: World) -> None:
    documented = _documents().get(openapi_path(route), {})
    team = _key_client(world.cast.key.secret)
    before = snapshot()
    for url in urls(route, world):
        for method, op in documented.items():
            if "requestBody" not in op:
                continue
            for sent in ("null", "[]", "1", '"text"'):
                r = getattr(team, method)(url, sent, content_type="application/json")
                assert r.status_code == 400, f"{method.upper()} {url} with {sent}: {r.status_code}"
                assert r.json()["details"]["errors"][0]["field"] == "body"
    assert snapshot() == before


# The three findings, one by one.


def _agent(cast: Cast, llm: ScriptedLLM, team: Any = None, **fields: Any) -> Agent:
    llm_config = {"custom_url": llm.base_url, "model": "m", "first_message": "Hi!"}
    document = AgentConfiguration.model_validate({"llm": llm_config}).as_document()
    defaults = {"team": team or cast.team, "publish_status": "public", "configuration": document}
    return AgentFactory(**(defaults | fields))


def _start(client: Client, agent_id: object) -> Any:
    body = {"agentId": str(agent_id), "mode": "chat"}
    return client.post("/v1/start-agent-session", body, content_type="application/json")


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def test_a_read_only_key_starts_no_conversation(cast: Cast, llm: ScriptedLLM) -> None:
    agent = _agent(cast, llm)
    for bearer in (False, True):
        refused = _start(_key_client(cast.read_only_key.secret, bearer=bearer), agent.id)
        assert refused.status_code == 403
        assert "read-only" in refused.json()["error"]
    human = _key_client(cast.read_only_key.secret).post(
        "/api/v1/sessions",
        {"agent_id": str(agent.id), "session_type": "agent_chat"},
        content_type="application/json",
    )
    assert human.status_code == 403
    assert not Session.objects.exists()
    # A visitor without a key still starts the public agent (the widget), and the team's
    # read-write key starts it too; the read-only key cannot talk in either session.
    visitor = _start(Client(), agent.id)
    assert visitor.status_code == 200
    assert _start(_key_client(cast.key.secret), agent.id).status_code == 200
    said = _key_client(cast.read_only_key.secret).post(
        f"/api/v1/sessions/{visitor.json()['sessionId']}/messages",
        {"content": "Hello"},
        content_type="application/json",
    )
    assert said.status_code == 403
    # Nor does it pass for the agent's LLM key, which is what the completions endpoint takes.
    completion = _key_client(cast.read_only_key.secret, bearer=True).post(
        f"/v1/agents/{agent.id}/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "Hello"}]},
        content_type="application/json",
    )
    assert completion.status_code == 401


def test_another_teams_agent_is_an_unknown_id_in_every_state(cast: Cast, llm: ScriptedLLM) -> None:
    theirs = {
        "draft": _agent(cast, llm, team=cast.other_team, publish_status="draft"),
        "private": _agent(cast, llm, team=cast.other_team, publish_status="private"),
        "public": _agent(cast, llm, team=cast.other_team),
        "expired single-use": _agent(
            cast,
            llm,
            team=cast.other_team,
            kind=AgentKind.SINGLE_USE,
            expires_at=timezone.now() - timedelta(minutes=1),
        ),
    }
    unknown = _start(_key_client(cast.key.secret), uuid4())
    assert unknown.status_code == 404
    for state, agent in theirs.items():
        known = _start(_key_client(cast.key.secret), agent.id)
        assert (known.status_code, known.json()) == (404, unknown.json()), state
    # Without a key, a draft is as unknown as a random id: no 403 that says it exists.
    draft = _start(Client(), theirs["draft"].id)
    assert (draft.status_code, draft.json()) == (404, _start(Client(), uuid4()).json())
    assert _start(signed_in(cast.owner), theirs["draft"].id).status_code == 404
    assert not Session.objects.exists()
    # What the audience of a link is meant to read is unchanged: public agents start, an
    # expired single-use link says so.
    assert _start(Client(), theirs["public"].id).status_code == 200
    assert _start(Client(), theirs["expired single-use"].id).status_code == 410


def test_a_null_body_mints_no_llm_key(cast: Cast, api: Client) -> None:
    agent = AgentFactory(team=cast.team)
    for sent in ("null", "[]", "0", ""):
        r = api.post(f"/v1/agents/{agent.id}/llm-keys", sent, content_type="application/json")
        assert r.status_code == 400
        assert r.json()["details"]["errors"][0]["field"] == "body"
    assert not AgentLLMKey.objects.exists()
    made = api.post(f"/v1/agents/{agent.id}/llm-keys", {}, content_type="application/json")
    assert made.status_code == 201


def test_a_read_only_key_can_still_read(cast: Cast, world: World) -> None:
    reader = _key_client(cast.read_only_key.secret, bearer=True)
    assert reader.get(f"/v1/agents/{world.agent.id}").status_code == 200
    assert reader.get(f"/v1/sessions/{world.session.id}").status_code == 200
