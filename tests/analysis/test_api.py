"""/v1: the analysis in the sessions' output, and analysing again; isolation and roles."""

from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from analysis.models import AnalysisStatus, SessionAnalysis
from sessions.models import SessionType
from sessions.services import session_create
from tests.conftest import Cast
from tests.http import patch, post
from tests.llm_server import ScriptedLLM

from .conftest import GOOD, answers

pytestmark = pytest.mark.django_db


def test_the_session_detail_and_list_carry_the_analysis(api: Client, ended: Any) -> None:
    session = ended(None, answers(GOOD))

    detail = api.get(f"/v1/sessions/{session.id}").json()["analysis"]
    assert detail["status"] == "done"
    assert detail["summary"] == GOOD["summary"]
    assert detail["data"] == GOOD["data"]
    assert [c["result"] for c in detail["criteria"]] == ["pass", "fail"]
    assert detail["agent_version"] == 1
    assert detail["llm"] == "custom/m"
    listed = api.get("/v1/sessions").json()["items"]
    assert listed[0]["analysis"]["criteria"] == detail["criteria"]


def test_a_session_not_analysed_has_none(api: Client, agent: Agent) -> None:
    session = session_create(agent=agent, type=SessionType.CHAT)
    assert api.get(f"/v1/sessions/{session.id}").json()["analysis"] is None


def test_a_session_is_analysed_again_on_request(
    api: Client, ended: Any, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    session = ended(None, answers("not json"))
    assert SessionAnalysis.objects.get().status == AnalysisStatus.FAILED

    llm.will(answers(GOOD))
    with django_capture_on_commit_callbacks(execute=True):
        r = post(api, f"/v1/sessions/{session.id}/analysis", None)
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "pending"
    assert SessionAnalysis.objects.get().status == AnalysisStatus.DONE


def test_a_running_session_cannot_be_analysed_yet(api: Client, agent: Agent) -> None:
    session = session_create(agent=agent, type=SessionType.CHAT)
    r = post(api, f"/v1/sessions/{session.id}/analysis", None)
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"


def test_an_agents_sessions_in_a_range_are_analysed_again(
    api: Client, ended: Any, agent: Agent, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = ended(None, answers(GOOD)), ended(None, answers(GOOD))
    session_create(agent=agent, type=SessionType.CHAT)  # not ended: left out
    day = first.started_at.date().isoformat()

    llm.will(answers(GOOD), answers(GOOD))
    with django_capture_on_commit_callbacks(execute=True):
        r = post(api, f"/v1/agents/{agent.id}/analysis", {"from": day, "to": day})
    assert r.status_code == 202, r.content
    assert r.json() == {"queued": 2}
    runs = dict(SessionAnalysis.objects.values_list("session_id", "run"))
    assert runs == {first.id: 2, second.id: 2}


def test_a_range_backwards_is_refused(api: Client, agent: Agent) -> None:
    r = post(api, f"/v1/agents/{agent.id}/analysis", {"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "to"


def test_another_team_finds_nothing(outsider_api: Client, ended: Any, agent: Agent) -> None:
    session = ended(None, answers(GOOD))
    assert outsider_api.get(f"/v1/sessions/{session.id}").status_code == 404
    assert post(outsider_api, f"/v1/sessions/{session.id}/analysis", None).status_code == 404
    body = {"from": "2026-01-01", "to": "2026-01-02"}
    assert post(outsider_api, f"/v1/agents/{agent.id}/analysis", body).status_code == 404
    assert SessionAnalysis.objects.get().run == 1


def test_a_read_only_key_cannot_analyse_again(read_only_api: Client, ended: Any) -> None:
    session = ended(None, answers(GOOD))
    assert post(read_only_api, f"/v1/sessions/{session.id}/analysis", None).status_code == 403
    assert SessionAnalysis.objects.get().run == 1


def test_wrong_methods_are_refused(api: Client, ended: Any) -> None:
    session = ended(None, answers(GOOD))
    assert api.get(f"/v1/sessions/{session.id}/analysis").status_code == 405


# The settings, through the agents API.


def test_the_analysis_settings_round_trip_through_the_agents_api(api: Client) -> None:
    settings = {
        "summary_prompt": "One line.",
        "data_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        "success_criteria": [{"name": "booked", "rule": "A table was booked."}],
        "llm": {"provider": "local", "model": ""},
        "include_in_callback": True,
    }
    r = post(api, "/v1/agents", {"name": "Bookings", "configuration": {"analysis": settings}})
    assert r.status_code == 201, r.content
    stored = r.json()["configuration"]["analysis"]
    assert stored == settings | {"llm": {"provider": "local", "model": "", "custom_url": None}}
    agent_id = r.json()["id"]
    r = patch(
        api, f"/v1/agents/{agent_id}", {"configuration": {"analysis": {"summary_prompt": ""}}}
    )
    assert r.json()["configuration"]["analysis"]["summary_prompt"] == ""
    assert r.json()["configuration"]["analysis"]["success_criteria"] == settings["success_criteria"]


def test_a_new_agent_analyses_nothing(api: Client) -> None:
    r = post(api, "/v1/agents", {"name": "Plain"})
    analysis = r.json()["configuration"]["analysis"]
    assert (analysis["summary_prompt"], analysis["data_schema"], analysis["success_criteria"]) == (
        "",
        None,
        [],
    )


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        ({"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x"}}}, "local"),
        ({"type": "object", "$id": "http://evil.test/s"}, "base URI"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(a)\\1"}}}, "RE2"),
        (
            {
                "type": "object",
                "$defs": {"x": {"allOf": [{"$ref": "#/$defs/x"}]}},
                "$ref": "#/$defs/x",
            },
            "recursion",
        ),
        ({"type": "string"}, "must describe an object"),
        ({"type": "object", "properties": 5}, "not a valid JSON Schema"),
    ],
)
def test_a_hostile_data_schema_is_refused(
    api: Client, cast: Cast, schema: dict[str, Any], said: str
) -> None:
    body = {"name": "Hostile", "configuration": {"analysis": {"data_schema": schema}}}
    r = post(api, "/v1/agents", body)
    assert r.status_code == 400, r.content
    error = r.json()["details"]["errors"][0]
    assert error["field"] == "configuration.analysis.data_schema"
    assert said in error["message"]
    assert not Agent.objects.filter(name="Hostile").exists()


def test_an_analysis_provider_needs_a_model(api: Client) -> None:
    body = {"name": "X", "configuration": {"analysis": {"llm": {"provider": "groq"}}}}
    r = post(api, "/v1/agents", body)
    assert r.status_code == 400
    assert r.json()["details"]["errors"][0]["field"] == "configuration.analysis.llm.model"
