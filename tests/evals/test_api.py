"""/v1 evals: the suite's scenarios, runs and their comparison; isolation and roles."""

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from evals.models import EvalRun, EvalScenario
from tests.conftest import Cast, signed_in
from tests.llm_server import ScriptedLLM, says

from .conftest import judged, played, scenario

pytestmark = pytest.mark.django_db

SPEC = {
    "script": ["Where is order A-17?"],
    "max_turns": 2,
    "checks": [{"type": "reply_contains", "text": "tomorrow"}],
    "criteria": [{"name": "polite", "rule": "The agent was polite."}],
    "tool_replies": {"lookup_order": "Shipped."},
}


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client: Client, url: str, body: Any) -> Any:
    return client.patch(url, json.dumps(body), content_type="application/json")


def test_scenarios_are_made_listed_changed_and_deleted(api: Client, agent: Agent) -> None:
    r = post(api, f"/v1/agents/{agent.id}/evals/scenarios", {"name": "order", "spec": SPEC})
    assert r.status_code == 201, r.json()
    made = r.json()
    assert made["spec"]["checks"] == SPEC["checks"]
    assert made["spec"]["persona"] == ""
    listed = api.get(f"/v1/agents/{agent.id}/evals/scenarios").json()
    assert [s["name"] for s in listed] == ["order"]
    r = patch(api, f"/v1/evals/scenarios/{made['id']}", {"name": "order status"})
    assert r.json()["name"] == "order status"
    assert r.json()["spec"] == made["spec"]
    assert api.get(f"/v1/evals/scenarios/{made['id']}").json()["name"] == "order status"
    assert api.delete(f"/v1/evals/scenarios/{made['id']}").status_code == 204
    assert api.get(f"/v1/evals/scenarios/{made['id']}").status_code == 404


def test_a_name_is_used_once_per_suite(api: Client, agent: Agent) -> None:
    url = f"/v1/agents/{agent.id}/evals/scenarios"
    assert post(api, url, {"name": "order", "spec": SPEC}).status_code == 201
    r = post(api, url, {"name": "order", "spec": SPEC})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "name"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"script": ["Hi"], "persona": "A pirate", "goal": "Gold"}, "spec"),
        ({}, "spec"),
        ({"script": ["Hi"], "sneaky": 1}, "spec.sneaky"),
        ({"script": [""]}, "spec.script.0"),
        ({"script": ["x" * 4001]}, "spec.script.0"),
        ({"script": ["Hi"] * 51}, "spec.script"),
        ({"script": ["Hi"], "max_turns": 0}, "spec.max_turns"),
        ({"script": ["Hi"], "max_turns": 10**12}, "spec.max_turns"),
        ({"script": ["Hi"], "checks": [{"type": "rm -rf"}]}, "spec.checks.0"),
        (
            {"script": ["Hi"], "checks": [{"type": "tool_called", "tool": "a b"}]},
            "spec.checks.0.tool_called.tool",
        ),
        (
            {
                "script": ["Hi"],
                "checks": [
                    {
                        "type": "tool_called",
                        "tool": "t",
                        "arguments_schema": {"$ref": "https://evil.example/schema.json"},
                    }
                ],
            },
            "spec.checks.0.tool_called.arguments_schema",
        ),
        (
            {
                "script": ["Hi"],
                "checks": [
                    {
                        "type": "tool_called",
                        "tool": "t",
                        "arguments_schema": {"type": "string", "pattern": "(a+)+\\1"},
                    }
                ],
            },
            "spec.checks.0.tool_called.arguments_schema",
        ),
        (
            {"script": ["Hi"], "checks": [{"type": "reply_contains", "text": "a"}] * 2},
            "spec.checks",
        ),
        (
            {
                "script": ["Hi"],
                "criteria": [{"name": "a", "rule": "r"}, {"name": "a", "rule": "s"}],
            },
            "spec.criteria",
        ),
        ({"script": ["Hi"], "tool_replies": {"../etc": "x"}}, "spec.tool_replies"),
        ({"script": ["Hi"], "tool_replies": {"t": "x" * 16_001}}, "spec.tool_replies.t"),
        ({"script": "Hi"}, "spec.script"),
    ],
)
def test_hostile_scenarios_are_refused_naming_the_field(
    api: Client, agent: Agent, spec: dict[str, Any], field: str
) -> None:
    r = post(api, f"/v1/agents/{agent.id}/evals/scenarios", {"name": "x", "spec": spec})
    assert r.status_code == 400, r.json()
    fields = [e["field"] for e in r.json()["details"]["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert EvalScenario.objects.count() == 0


@pytest.mark.parametrize("name", ["", " " * 3, "x" * 201])
def test_a_scenario_needs_a_name(api: Client, agent: Agent, name: str) -> None:
    r = post(api, f"/v1/agents/{agent.id}/evals/scenarios", {"name": name, "spec": SPEC})
    assert r.status_code == 400


def test_a_run_is_started_played_and_read(
    api: Client, agent: Agent, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    scenario(agent, **SPEC)
    llm.will(says("It ships tomorrow."), judged(polite="pass"))
    with django_capture_on_commit_callbacks(execute=True):
        r = post(api, f"/v1/agents/{agent.id}/evals/runs", {})
    assert r.status_code == 202, r.json()
    assert r.json()["status"] == "running"  # as started; the eager worker played it since
    run = api.get(f"/v1/evals/runs/{r.json()['id']}").json()
    assert (run["status"], run["passed"], run["total"], run["version"]) == ("passed", 1, 1, 1)
    result = run["results"][0]
    assert result["status"] == "passed"
    assert {c["name"]: c["outcome"] for c in result["checks"]} == {
        "a reply contains 'tomorrow'": "passed",
        "ended within 2 turns": "passed",
        "polite": "passed",
    }
    session = api.get(f"/v1/sessions/{result['session_id']}")
    assert session.status_code == 200
    assert run["scenarios"] == [
        {
            "scenario": "order status",
            "trials": 1,
            "passed": 1,
            "pass_rate": 1.0,
            "flaky": False,
            "checks": [
                {
                    "name": "a reply contains 'tomorrow'",
                    "kind": "reply_contains",
                    "passed": 1,
                    "pass_rate": 1.0,
                },
                {
                    "name": "ended within 2 turns",
                    "kind": "ended_within",
                    "passed": 1,
                    "pass_rate": 1.0,
                },
                {"name": "polite", "kind": "judged", "passed": 1, "pass_rate": 1.0},
            ],
        }
    ]
    listed = api.get(f"/v1/agents/{agent.id}/evals/runs").json()
    assert [item["id"] for item in listed["items"]] == [run["id"]]


def test_starting_a_run_is_refused_when_it_cannot_be(api: Client, agent: Agent) -> None:
    url = f"/v1/agents/{agent.id}/evals/runs"
    assert post(api, url, {}).status_code == 409  # no scenarios
    scenario(agent)
    assert post(api, url, {"version": 99}).status_code == 404
    assert post(api, url, {"trials": 0}).status_code == 400
    assert post(api, url, {"trials": 11}).status_code == 400
    assert post(api, url, None).status_code == 400
    assert EvalRun.objects.count() == 0


def test_two_runs_compare(api: Client, agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, checks=[{"type": "reply_contains", "text": "tomorrow"}])
    llm.will(says("Later."))
    before = played(agent)
    llm.will(says("Tomorrow."))
    after = played(agent)
    r = api.get(f"/v1/evals/runs/{after.id}/compare?base={before.id}")
    assert r.status_code == 200
    changed = r.json()["scenarios"][0]
    assert (changed["before"], changed["after"], changed["change"]) == (0.0, 1.0, "better")
    assert api.get(f"/v1/evals/runs/{after.id}/compare").status_code == 400


def test_another_teams_suite_and_runs_are_not_found(
    outsider_api: Client, api: Client, cast: Cast, agent: Agent, llm: ScriptedLLM
) -> None:
    made = scenario(agent)
    run = played(agent)
    for url in (
        f"/v1/agents/{agent.id}/evals/scenarios",
        f"/v1/evals/scenarios/{made.id}",
        f"/v1/evals/runs/{run.id}",
        f"/v1/agents/{agent.id}/evals/runs",
    ):
        assert outsider_api.get(url).status_code == 404
    assert post(outsider_api, f"/v1/agents/{agent.id}/evals/runs", {}).status_code == 404
    # Their own run cannot be compared with ours: ours is not found for them.
    from .conftest import eval_agent

    theirs = eval_agent(cast, llm)
    theirs.team = cast.other_team
    theirs.save()
    scenario(theirs)
    their_run = played(theirs)
    r = outsider_api.get(f"/v1/evals/runs/{their_run.id}/compare?base={run.id}")
    assert r.status_code == 404


def test_read_only_keys_and_viewers_read_but_do_not_write(
    read_only_api: Client, cast: Cast, agent: Agent
) -> None:
    made = scenario(agent)
    viewer = signed_in(cast.viewer)
    for client in (read_only_api, viewer):
        assert client.get(f"/v1/evals/scenarios/{made.id}").status_code == 200
        url = f"/v1/agents/{agent.id}/evals/scenarios"
        assert post(client, url, {"name": "n", "spec": SPEC}).status_code == 403
        assert post(client, f"/v1/agents/{agent.id}/evals/runs", {}).status_code == 403
        assert patch(client, f"/v1/evals/scenarios/{made.id}", {"name": "n"}).status_code == 403
        assert client.delete(f"/v1/evals/scenarios/{made.id}").status_code == 403
    assert EvalRun.objects.count() == 0
