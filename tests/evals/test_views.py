"""The evals pages: the suite, the scenario form, running, the run page and its polling,
and the comparison; members run and edit, viewers read, other teams find nothing."""

from typing import Any

import pytest

from activity.services import Actor
from agents.models import Agent
from evals.models import EvalRun, EvalScenario
from evals.services import eval_run_start
from tests.conftest import Cast, signed_in
from tests.llm_server import ScriptedLLM, says

from .conftest import played, scenario

pytestmark = pytest.mark.django_db

FORM = {
    "name": "order status",
    "script": "Where is order A-17?\n\nThanks!\n",
    "persona": "",
    "goal": "",
    "max_turns": "4",
    "checks": '[{"type": "reply_contains", "text": "tomorrow"}]',
    "criteria": "[]",
    "tool_replies": '{"lookup_order": "Shipped."}',
}


def test_a_member_adds_a_scenario_from_the_form(cast: Cast, agent: Agent) -> None:
    client = signed_in(cast.member)
    r = client.post(f"/evals/agents/{agent.id}/new/", FORM)
    assert r.status_code == 302
    assert r["Location"] == f"/evals/agents/{agent.id}/"
    made = EvalScenario.objects.get()
    assert made.spec["script"] == ["Where is order A-17?", "Thanks!"]
    assert made.spec["tool_replies"] == {"lookup_order": "Shipped."}
    page = client.get(r["Location"]).content.decode()
    assert "order status" in page
    assert "Run the suite" in page


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"checks": "[{"}, "This is not valid JSON"),
        ({"checks": '[{"type": "tool_called", "tool": "x y"}]'}, "checks.0.tool_called.tool"),
        ({"persona": "A pirate", "goal": "Gold"}, "not both"),
        ({"script": "", "goal": ""}, "give the simulated user a goal"),
        ({"max_turns": "0"}, "greater than or equal to 1"),
    ],
)
def test_a_bad_scenario_is_shown_again_with_its_errors(
    cast: Cast, agent: Agent, change: dict[str, str], said: str
) -> None:
    r = signed_in(cast.member).post(f"/evals/agents/{agent.id}/new/", FORM | change)
    assert r.status_code == 200
    assert said in r.content.decode()
    assert EvalScenario.objects.count() == 0


def test_a_scenario_is_edited_and_deleted(cast: Cast, agent: Agent) -> None:
    made = scenario(agent)
    client = signed_in(cast.member)
    page = client.get(f"/evals/scenarios/{made.id}/").content.decode()
    assert "Where is order A-17?" in page
    r = client.post(f"/evals/scenarios/{made.id}/", FORM | {"name": "renamed"})
    assert r.status_code == 302
    made.refresh_from_db()
    assert (made.name, made.spec["max_turns"]) == ("renamed", 4)
    assert client.post(f"/evals/scenarios/{made.id}/delete/").status_code == 302
    assert EvalScenario.objects.count() == 0


def test_running_the_suite_leads_to_the_run_page_which_polls_until_done(
    cast: Cast, agent: Agent, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    scenario(agent, checks=[{"type": "reply_contains", "text": "tomorrow"}])
    client = signed_in(cast.member)
    r = client.post(f"/evals/agents/{agent.id}/run/", {"version": "", "trials": "1"})
    assert r.status_code == 302
    run = EvalRun.objects.get()
    assert r["Location"] == f"/evals/runs/{run.id}/"
    page = client.get(r["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in page  # running: its worker has not played it yet
    assert "0 of 1 played" in page
    llm.will(says("It ships tomorrow."))
    from evals.services import eval_run_play

    eval_run_play(run=run)
    fragment = client.get(r["Location"], headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="run-progress"')
    assert "every 2s" not in fragment  # done: the polling stops
    assert "1 of 1 played: 1 passed" in fragment
    session_id = run.results.get().session_id
    assert f'href="/sessions/{session_id}/"' in fragment
    assert "a reply contains &#x27;tomorrow&#x27;" in fragment


def test_two_runs_are_compared_on_their_page(cast: Cast, agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, checks=[{"type": "reply_contains", "text": "tomorrow"}])
    llm.will(says("Later."))
    before = played(agent)
    llm.will(says("Tomorrow."))
    after = played(agent)
    client = signed_in(cast.viewer)
    page = client.get(f"/evals/runs/{after.id}/compare/?base={before.id}").content.decode()
    assert 'data-change="better"' in page
    assert "100%" in page
    damaged = client.get(f"/evals/runs/{after.id}/compare/?base=nonsense")
    assert damaged.status_code == 200


def test_viewers_read_but_neither_edit_nor_run(cast: Cast, agent: Agent) -> None:
    made = scenario(agent)
    run = eval_run_start(agent=agent, actor=Actor(), dispatch=False)
    viewer = signed_in(cast.viewer)
    page = viewer.get(f"/evals/agents/{agent.id}/").content.decode()
    assert made.name in page
    assert "Run the suite" not in page
    assert viewer.get(f"/evals/runs/{run.id}/").status_code == 200
    assert viewer.post(f"/evals/agents/{agent.id}/run/", {"trials": "1"}).status_code == 403
    assert viewer.post(f"/evals/agents/{agent.id}/new/", FORM).status_code == 403
    assert viewer.post(f"/evals/scenarios/{made.id}/", FORM).status_code == 403
    assert viewer.post(f"/evals/scenarios/{made.id}/delete/").status_code == 403
    assert EvalRun.objects.count() == 1
    assert EvalScenario.objects.get().name == made.name


def test_another_team_finds_nothing(cast: Cast, agent: Agent) -> None:
    made = scenario(agent)
    run = eval_run_start(agent=agent, actor=Actor(), dispatch=False)
    outsider = signed_in(cast.outsider)
    for url in (
        f"/evals/agents/{agent.id}/",
        f"/evals/agents/{agent.id}/new/",
        f"/evals/scenarios/{made.id}/",
        f"/evals/runs/{run.id}/",
        f"/evals/runs/{run.id}/compare/",
    ):
        assert outsider.get(url).status_code == 404
    assert outsider.post(f"/evals/agents/{agent.id}/run/", {"trials": "1"}).status_code == 404
    assert outsider.post(f"/evals/scenarios/{made.id}/delete/").status_code == 404


def test_a_run_of_an_empty_suite_says_why(cast: Cast, agent: Agent) -> None:
    client = signed_in(cast.member)
    r = client.post(f"/evals/agents/{agent.id}/run/", {"trials": "1"}, follow=True)
    assert "has no scenarios" in r.content.decode()
    assert EvalRun.objects.count() == 0


def test_the_agent_page_links_to_its_evals(cast: Cast, agent: Agent) -> None:
    page = signed_in(cast.viewer).get(f"/agents/{agent.id}/").content.decode()
    assert f'href="/evals/agents/{agent.id}/"' in page


def test_the_suite_and_run_pages_read_a_fixed_number_of_rows(
    cast: Cast, agent: Agent, django_assert_num_queries: Any
) -> None:
    for name in ("one", "two", "three"):
        scenario(agent, name=name)
    runs = [eval_run_start(agent=agent, actor=Actor(), dispatch=False, trials=2) for _ in "ab"]
    client = signed_in(cast.member)
    client.get(f"/evals/agents/{agent.id}/")  # the session and membership, cached after
    # The session, the user, the membership and team, the agent, its versions' numbers, the
    # scenarios, the runs with their authors.
    with django_assert_num_queries(8):
        assert client.get(f"/evals/agents/{agent.id}/").status_code == 200
    # The session, the user, the membership and team, the run with its agent and author, its
    # results, the team menu's memberships, the other runs.
    with django_assert_num_queries(7):
        assert client.get(f"/evals/runs/{runs[0].id}/").status_code == 200
