"""The dashboard: the analysis on the session page, "analyse again" for members only, the
sessions list's filters on it, and the agent form's Analysis section."""

import json
from typing import Any

import pytest

from agents.models import Agent
from analysis.models import SessionAnalysis
from sessions.models import Session
from tests.agents.test_views import form_data
from tests.conftest import Cast, signed_in
from tests.llm_server import ScriptedLLM

from .conftest import GOOD, answers

pytestmark = pytest.mark.django_db


def test_the_session_page_shows_the_analysis(cast: Cast, ended: Any) -> None:
    session = ended(None, answers(GOOD))
    page = signed_in(cast.viewer).get(f"/sessions/{session.id}/").content.decode()
    assert GOOD["summary"] in page
    assert 'data-criterion="polite"' in page
    assert "The agent was curt." in page
    assert "A-17" in page  # the extracted data
    assert "Analyse again" not in page  # a viewer reads, and runs nothing


def test_a_failed_analysis_shows_why(cast: Cast, ended: Any) -> None:
    session = ended(None, answers("not json at all"))
    page = signed_in(cast.member).get(f"/sessions/{session.id}/").content.decode()
    assert 'data-analysis-status="failed"' in page
    assert "did not answer with JSON" in page
    assert "Analyse again" in page


def test_a_member_analyses_again_from_the_session_page(
    cast: Cast, ended: Any, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    session = ended(None, answers("nope"))
    llm.will(answers(GOOD))
    with django_capture_on_commit_callbacks(execute=True):
        r = signed_in(cast.member).post(f"/analysis/sessions/{session.id}/")
    assert r.status_code == 302
    assert r["Location"] == f"/sessions/{session.id}/"
    assert SessionAnalysis.objects.get().summary == GOOD["summary"]


def test_a_viewer_cannot_analyse_again_and_an_outsider_finds_nothing(
    cast: Cast, ended: Any, agent: Agent
) -> None:
    session = ended(None, answers(GOOD))
    viewer, outsider = signed_in(cast.viewer), signed_in(cast.outsider)
    assert viewer.post(f"/analysis/sessions/{session.id}/").status_code == 403
    assert viewer.post(f"/analysis/agents/{agent.id}/", {}).status_code == 403
    assert outsider.post(f"/analysis/sessions/{session.id}/").status_code == 404
    assert outsider.post(f"/analysis/agents/{agent.id}/", {}).status_code == 404
    assert signed_in(cast.member).get(f"/analysis/sessions/{session.id}/").status_code == 405
    assert SessionAnalysis.objects.get().run == 1


def test_a_member_analyses_a_range_again_from_the_agent_page(
    cast: Cast, ended: Any, agent: Agent, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    session = ended(None, answers(GOOD))
    day = session.started_at.date().isoformat()
    page = signed_in(cast.member).get(f"/agents/{agent.id}/").content.decode()
    assert f'action="/analysis/agents/{agent.id}/"' in page

    llm.will(answers(GOOD))
    with django_capture_on_commit_callbacks(execute=True):
        r = signed_in(cast.member).post(
            f"/analysis/agents/{agent.id}/", {"date_from": day, "date_to": day}, follow=True
        )
    assert "1 ended session(s) queued for analysis." in r.content.decode()
    assert SessionAnalysis.objects.get().run == 2


# The sessions list's filters.


def _listed(cast: Cast, query: str) -> set[str]:
    page = signed_in(cast.viewer).get(f"/sessions/?{query}").content.decode()
    return {str(s.id) for s in Session.objects.all() if f"/sessions/{s.id}/" in page}


def test_the_list_filters_on_a_failed_criterion_and_an_extracted_field(
    cast: Cast, ended: Any
) -> None:
    polite_fail = ended(None, answers(GOOD))
    other = GOOD | {
        "data": {"order_id": "B-2", "refund": True},
        "criteria": {
            "resolved": {"result": "fail", "reason": "No."},
            "polite": {"result": "pass", "reason": "Yes."},
        },
    }
    resolved_fail = ended(None, answers(other))
    unanalysed = ended(None, answers("nope"))

    assert _listed(cast, "failed=polite") == {str(polite_fail.id)}
    assert _listed(cast, "failed=resolved") == {str(resolved_fail.id)}
    assert _listed(cast, "failed=nonexistent") == set()
    assert _listed(cast, "field=order_id&value=B-2") == {str(resolved_fail.id)}
    assert _listed(cast, "field=refund&value=true") == {str(resolved_fail.id)}
    assert _listed(cast, "field=refund&value=false") == {str(polite_fail.id)}
    assert _listed(cast, "") == {str(s.id) for s in (polite_fail, resolved_fail, unanalysed)}
    # A field named like a lookup is a field, not a lookup.
    assert _listed(cast, "field=contains&value=x") == set()


def test_a_value_without_a_field_is_an_error(cast: Cast) -> None:
    r = signed_in(cast.viewer).get("/sessions/?value=x")
    assert "Name the extracted field" in r.content.decode()


# The agent form.


def test_the_agent_form_sets_and_replaces_the_analysis_settings(cast: Cast) -> None:
    member = signed_in(cast.member)
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}
    analysis = {
        "analysis_summary_prompt": "One line.",
        "analysis_data_schema": json.dumps(schema),
        "analysis_success_criteria": "resolved: It was resolved.\n\npolite: They were polite.",
        "analysis_llm_provider": "local",
        "analysis_llm_model": "",
        "analysis_include_in_callback": "on",
    }
    r = member.post("/agents/new/", form_data(**analysis))
    assert r.status_code == 302, r.content.decode()[:2000]
    agent = Agent.objects.get(team=cast.team)
    stored = agent.configuration["analysis"]
    assert stored["data_schema"] == schema
    assert [c["name"] for c in stored["success_criteria"]] == ["resolved", "polite"]
    assert stored["llm"]["provider"] == "local"
    assert stored["include_in_callback"] is True

    page = member.get(f"/agents/{agent.id}/edit/").content.decode()
    assert "resolved: It was resolved." in page
    fewer = {"type": "object", "properties": {"a": {"type": "string"}}}
    changed = analysis | {"analysis_data_schema": json.dumps(fewer), "analysis_llm_provider": ""}
    r = member.post(f"/agents/{agent.id}/edit/", form_data(**changed))
    assert r.status_code == 302
    agent.refresh_from_db()
    assert agent.configuration["analysis"]["data_schema"] == fewer  # replaced, not merged
    assert agent.configuration["analysis"]["llm"]["provider"] is None


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("analysis_data_schema", "{not json", "This is not JSON"),
        ("analysis_data_schema", '{"type": "object", "$ref": "https://x.test/s"}', "local"),
        ("analysis_success_criteria", "a rule with no name", "name: rule"),
    ],
)
def test_the_agent_form_shows_analysis_errors_beside_the_field(
    cast: Cast, field: str, value: str, said: str
) -> None:
    r = signed_in(cast.member).post("/agents/new/", form_data(**{field: value}))
    assert r.status_code == 200
    assert said in r.content.decode()
    assert not Agent.objects.exists()
