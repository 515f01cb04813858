"""Playing scenarios through the conversation engine, on the scripted LLM over loopback HTTP,
with a real webhook tool or canned replies; every failure is recorded as one, never a pass."""

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from activity.services import SYSTEM, Actor
from agents.models import Agent, PublishMode
from agents.services import agent_update
from evals.models import EvalResult, EvalRun, ResultStatus, RunStatus
from evals.selectors import run_rates, runs_compare
from evals.services import eval_result_play, eval_run_start, evals_reconcile
from parley.errors import Conflict, InvalidInput
from sessions.models import EventKind, Session
from tests.conftest import Cast
from tests.llm_server import ScriptedLLM, calls, says
from tools.models import ExecutionOutcome, ToolExecution

from .conftest import FIRST, ORDER_SCHEMA, judged, played, scenario

pytestmark = pytest.mark.django_db

TOOL_CHECK = {
    "type": "tool_called",
    "tool": "lookup_order",
    "arguments_schema": ORDER_SCHEMA,
    "arguments": {"order_id": "A-17"},
}


def only(run: EvalRun) -> EvalResult:
    return run.results.get()


def outcomes(result: EvalResult) -> dict[str, str]:
    return result.check_outcomes()


def reasons(result: EvalResult) -> dict[str, str]:
    return {c["name"]: c["reason"] for c in result.checks}


def test_a_scripted_scenario_calls_the_real_tool_and_passes_every_check(
    agent: Agent, llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    receiver.expect_request("/orders", method="POST").respond_with_json({"ships": "tomorrow"})
    scenario(
        agent,
        script=["Where is order A-17?", "Thanks!"],
        checks=[
            TOOL_CHECK,
            {"type": "reply_contains", "text": "TOMORROW"},
            {"type": "reply_excludes", "text": "refund"},
            {"type": "ended_within", "turns": 2},
        ],
        criteria=[{"name": "resolved", "rule": "The user learnt when the order ships."}],
    )
    llm.will(
        calls(("lookup_order", {"order_id": "A-17"})),
        says("It ships ", "tomorrow."),
        says("You're welcome!"),
        judged(resolved="pass"),
    )
    run = played(agent)
    result = only(run)
    assert result.status == ResultStatus.PASSED, result.checks
    assert outcomes(result) == {
        "called lookup_order": "passed",
        "a reply contains 'TOMORROW'": "passed",
        "no reply contains 'refund'": "passed",
        "ended within 2 turns": "passed",
        "ended within 3 turns": "passed",
        "resolved": "passed",
    }
    assert reasons(result)["resolved"] == "resolved was pass."
    assert (run.status, run.passed, run.failed, run.errors, run.total) == ("passed", 1, 0, 0, 1)
    assert run.finished_at is not None
    # The webhook was really called, and its reply reached the agent's LLM.
    hooks = [request for request, _ in receiver.log if request.path == "/orders"]
    sent = json.loads(hooks[0].data)
    assert sent["parameters"] == {"order_id": "A-17"}
    assert llm.requests[1]["messages"][-1]["content"] == '{"ships":"tomorrow"}'
    # The session: simulated, pinned to the version played, the user's turns on its timeline.
    session = Session.objects.get(pk=result.session_id)
    assert session.simulated
    assert session.is_over
    assert session.agent_version_id == agent.published_version_id == run.agent_version_id
    said = [
        (e.data["role"], e.data["content"])
        for e in session.events.filter(kind=EventKind.MESSAGE).order_by("seq")
    ]
    assert said == [
        ("assistant", FIRST),
        ("user", "Where is order A-17?"),
        ("assistant", "It ships tomorrow."),
        ("user", "Thanks!"),
        ("assistant", "You're welcome!"),
    ]
    # The judge read that transcript.
    assert "User: Thanks!" in llm.requests[-1]["messages"][1]["content"]


def test_canned_replies_stand_in_for_the_webhook(
    agent: Agent, llm: ScriptedLLM, receiver: HTTPServer
) -> None:
    scenario(agent, script=["Where is A-17?"], tool_replies={"lookup_order": "Lost in transit."})
    llm.will(calls(("lookup_order", {"order_id": "A-17"})), says("Sorry, it was lost."))
    result = only(played(agent))
    assert result.status == ResultStatus.PASSED
    assert [r.path for r, _ in receiver.log if r.path == "/orders"] == []  # nothing was sent
    tool_message = llm.requests[1]["messages"][-1]
    assert tool_message == {"role": "tool", "tool_call_id": "call_0", "content": "Lost in transit."}
    execution = ToolExecution.objects.get(session_id=result.session_id)
    assert execution.outcome == ExecutionOutcome.SUCCESS
    assert execution.request == {"mocked": True}
    event = Session.objects.get(pk=result.session_id).events.get(kind=EventKind.TOOL_CALL)
    assert event.data["mocked"] is True
    assert event.data["result"] == "Lost in transit."


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"order_id": "B-2"}, "does not match '^A-[0-9]+$'"),
        ({"order_id": "A-18"}, 'order_id was "A-18", not "A-17"'),
    ],
)
def test_a_tool_called_with_other_arguments_fails_its_check_with_the_reason(
    agent: Agent, llm: ScriptedLLM, arguments: dict[str, Any], reason: str
) -> None:
    scenario(agent, checks=[TOOL_CHECK], tool_replies={"lookup_order": "ok"})
    llm.will(calls(("lookup_order", arguments)), says("Done."))
    result = only(played(agent))
    assert result.status == ResultStatus.FAILED
    assert outcomes(result)["called lookup_order"] == "failed"
    assert reason in reasons(result)["called lookup_order"]


def test_a_tool_never_called_and_a_forbidden_text_fail(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(
        agent,
        checks=[TOOL_CHECK, {"type": "reply_excludes", "text": "refund"}],
    )
    llm.will(says("I can offer a Refund."))
    result = only(played(agent))
    assert result.status == ResultStatus.FAILED
    assert reasons(result)["called lookup_order"] == "The agent never called lookup_order."
    assert reasons(result)["no reply contains 'refund'"] == "Reply 2: 'I can offer a Refund.'"


def test_a_persona_plays_the_user_until_it_says_it_is_done(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, script=[], persona="A busy parent.", goal="Learn when order A-17 ships.")
    llm.will(says("When does A-17 ship?"), says("Tomorrow."), says("Great, thanks. END"))
    result = only(played(agent))
    assert result.status == ResultStatus.PASSED, result.checks
    assert (result.turns, result.ended) == (1, True)
    first_ask = llm.requests[0]["messages"]
    assert "A busy parent." in first_ask[0]["content"]
    # To the user's LLM the agent is the other side: its greeting comes as the "user".
    assert first_ask[1] == {"role": "user", "content": FIRST}
    last_ask = llm.requests[2]["messages"]
    assert last_ask[-2:] == [
        {"role": "assistant", "content": "When does A-17 ship?"},
        {"role": "user", "content": "Tomorrow."},
    ]


def test_a_scenario_that_never_ends_fails_its_ended_check(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, script=[], goal="Keep talking forever.", max_turns=2)
    llm.will(says("Hi"), says("Hello"), says("More?"), says("Sure"), says("And more?"))
    result = only(played(agent))
    assert result.status == ResultStatus.FAILED
    assert (result.turns, result.ended) == (2, False)
    assert outcomes(result) == {"ended within 2 turns": "failed"}
    assert reasons(result)["ended within 2 turns"] == (
        "The conversation was still going after 2 turns."
    )


def test_a_script_longer_than_the_turns_allowed_never_ends(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, script=["one", "two", "three"], max_turns=2)
    result = only(played(agent))
    assert (result.status, result.turns, result.ended) == ("failed", 2, False)
    assert len(llm.requests) == 2  # the third turn was never sent


def test_the_judges_llm_down_is_an_error_not_a_pass(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, criteria=[{"name": "polite", "rule": "The agent was polite."}])
    llm.will(says("Sure."), says(status=503, error="overloaded"))
    run = played(agent)
    result = only(run)
    assert result.status == ResultStatus.ERROR
    assert outcomes(result) == {"ended within 3 turns": "passed", "polite": "error"}
    assert reasons(result)["polite"].startswith("Not checked: The judge's LLM failed")
    assert (run.status, run.errors) == (RunStatus.FAILED, 1)


def test_a_judge_answer_that_is_not_json_is_an_error(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, criteria=[{"name": "polite", "rule": "The agent was polite."}])
    llm.will(says("Sure."), says("It was polite, I think."))
    result = only(played(agent))
    assert result.status == ResultStatus.ERROR
    assert "did not answer with JSON" in reasons(result)["polite"]


def test_an_unknown_verdict_fails_the_criterion(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, criteria=[{"name": "polite", "rule": "The agent was polite."}])
    llm.will(says("Sure."), judged(polite="unknown"))
    result = only(played(agent))
    assert (result.status, outcomes(result)["polite"]) == ("failed", "failed")
    assert reasons(result)["polite"] == "The judge could not tell: polite was unknown."


def test_the_simulated_users_llm_down_is_an_error(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, script=[], goal="Ask about A-17.")
    llm.will(says(status=500, error="down"))
    result = only(played(agent))
    assert result.status == ResultStatus.ERROR
    assert result.error.startswith("The simulated user's LLM failed")
    assert set(outcomes(result).values()) == {"error"}
    assert Session.objects.get(pk=result.session_id).is_over


def test_the_agents_llm_failing_is_an_error(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, checks=[{"type": "reply_excludes", "text": "refund"}])
    llm.will(says(status=500, error="down"))
    result = only(played(agent))
    assert result.status == ResultStatus.ERROR
    assert result.error.startswith("The agent's LLM failed")
    assert outcomes(result) == {
        "no reply contains 'refund'": "error",
        "ended within 3 turns": "error",
    }


def test_an_engine_error_is_recorded_on_the_result(
    agent: Agent, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the engine broke")

    monkeypatch.setattr("evals.simulation.session_message", broken)
    scenario(agent)
    run = played(agent)
    result = only(run)
    assert result.status == ResultStatus.ERROR
    assert result.error == "The conversation engine failed: RuntimeError: the engine broke"
    assert run.status == RunStatus.FAILED


def test_the_draft_is_played_by_default_and_any_version_on_request(
    cast: Cast, agent: Agent, llm: ScriptedLLM
) -> None:
    agent_update(agent=agent, actor=SYSTEM, changes={"publish_mode": PublishMode.REVIEW})
    change = {"configuration": {"llm": {"system_prompt": "The draft's prompt."}}}
    agent = agent_update(agent=agent, actor=SYSTEM, changes=change)
    assert agent.draft_version is not None
    scenario(agent)
    run = played(agent)
    assert run.version_number == agent.draft_version.number
    assert llm.requests[-1]["messages"][0]["content"] == "The draft's prompt."
    run = played(agent, version=1)
    assert run.version_number == 1
    assert llm.requests[-1]["messages"][0]["content"] != "The draft's prompt."


def test_trials_show_flakiness_and_two_runs_compare(agent: Agent, llm: ScriptedLLM) -> None:
    scenario(agent, checks=[{"type": "reply_contains", "text": "tomorrow"}])
    scenario(agent, name="greeting", checks=[{"type": "reply_contains", "text": "help"}])
    # Trials in order of the scenarios' names: greeting twice, then order status twice.
    llm.will(says("Hi."), says("Hi."), says("Ships tomorrow."), says("Ships later."))
    before = played(agent, trials=2)
    rates = {r.name: r for r in run_rates(run=before)}
    assert (rates["order status"].rate, rates["order status"].flaky) == (0.5, True)
    assert (rates["greeting"].rate, rates["greeting"].flaky) == (1.0, False)
    assert (before.total, before.passed, before.failed) == (4, 3, 1)
    llm.will(says("Hi."), says("Hi."), says("Ships tomorrow."), says("Ships tomorrow."))
    after = played(agent, trials=2)
    changes = {c.name: c for c in runs_compare(before=before, after=after)}
    assert (changes["order status"].before, changes["order status"].after) == (0.5, 1.0)
    assert changes["order status"].change == "better"
    assert changes["greeting"].change == "same"
    check = changes["order status"].checks[0]
    assert (check.name, check.change) == ("a reply contains 'tomorrow'", "better")
    assert runs_compare(before=after, after=before)[1].change == "worse"


def test_runs_of_two_agents_do_not_compare(cast: Cast, agent: Agent, llm: ScriptedLLM) -> None:
    from .conftest import eval_agent

    other = eval_agent(cast, llm)
    scenario(agent)
    scenario(other)
    with pytest.raises(InvalidInput):
        runs_compare(before=played(agent), after=played(other))


def test_a_run_needs_scenarios_and_sensible_trials(agent: Agent) -> None:
    with pytest.raises(Conflict, match="no scenarios"):
        eval_run_start(agent=agent, actor=Actor())
    scenario(agent)
    with pytest.raises(InvalidInput, match="trials"):
        eval_run_start(agent=agent, actor=Actor(), trials=11)


def test_a_suite_holds_a_bounded_number_of_scenarios(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("evals.services.MAX_SCENARIOS", 2)
    scenario(agent, name="one")
    scenario(agent, name="two")
    with pytest.raises(Conflict, match="the most it may hold"):
        scenario(agent, name="three")


def test_a_result_is_played_once_however_often_its_task_comes(
    agent: Agent, llm: ScriptedLLM
) -> None:
    scenario(agent)
    run = eval_run_start(agent=agent, actor=Actor(), dispatch=False)
    result_id = only(run).id
    assert eval_result_play(result_id=result_id) is not None
    assert eval_result_play(result_id=result_id) is None
    run.refresh_from_db()
    assert (run.passed, run.total, Session.objects.filter(simulated=True).count()) == (1, 1, 1)


def test_the_reconciler_settles_a_result_whose_worker_died(agent: Agent) -> None:
    from datetime import timedelta

    from django.utils import timezone

    scenario(agent)
    run = eval_run_start(agent=agent, actor=Actor(), dispatch=False)
    long_ago = timezone.now() - timedelta(hours=1)
    EvalResult.objects.filter(run=run).update(status="running", started_at=long_ago)
    evals_reconcile()
    run.refresh_from_db()
    assert only(run).status == ResultStatus.ERROR
    assert (run.status, run.errors) == (RunStatus.FAILED, 1)


def test_a_simulated_session_sends_no_callback_and_gets_no_analysis(
    cast: Cast, llm: ScriptedLLM, receiver: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    from .conftest import eval_agent

    agent = eval_agent(cast, llm)
    settings = {
        "end_of_conversation": {"callback_url": receiver.url_for("/ended")},
        "analysis": {"summary_prompt": "Two sentences."},
    }
    agent = agent_update(agent=agent, actor=SYSTEM, changes={"configuration": settings})
    scenario(agent)
    with django_capture_on_commit_callbacks(execute=True):
        result = only(played(agent))
    assert result.status == ResultStatus.PASSED
    assert [r.path for r, _ in receiver.log if r.path == "/ended"] == []
    assert not hasattr(Session.objects.get(pk=result.session_id), "analysis")
