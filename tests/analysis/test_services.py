"""analysis.services: an ended session is analysed by the scripted LLM; every way the analysis
can go wrong is recorded as a failure with its reason, never as a pass."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer

from agents.models import Agent
from analysis.models import AnalysisStatus, SessionAnalysis
from analysis.services import analyses_reconcile, analysis_request
from analysis.tasks import analyse_session
from config.celery import app
from parley.errors import Conflict
from sessions.models import CallbackDelivery, Session, SessionType
from sessions.services import session_create, session_end
from tests.conftest import Cast
from tests.llm_server import Script, ScriptedLLM

from .conftest import GOOD, analysis_agent, answers, talked

pytestmark = pytest.mark.django_db


@pytest.fixture
def retried() -> Iterator[None]:
    """Eager tasks make their retries at once (as in tests/sessions/test_tasks.py)."""
    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = propagates


def test_an_ended_session_is_summarised_extracted_and_judged(
    ended: Any, agent: Agent, llm: ScriptedLLM
) -> None:
    session = ended(None, answers(GOOD))

    analysis = SessionAnalysis.objects.get(session=session)
    assert analysis.status == AnalysisStatus.DONE
    assert analysis.summary == GOOD["summary"]
    assert analysis.data == {"order_id": "A-17", "refund": False}
    assert analysis.criteria == [
        {"name": "resolved", "result": "pass", "reason": "The agent gave the shipping date."},
        {"name": "polite", "result": "fail", "reason": "The agent was curt."},
    ]
    assert analysis.results == {"resolved": "pass", "polite": "fail"}
    assert analysis.agent_version == agent.published_version
    assert analysis.llm == "custom/m"
    assert (analysis.attempts, analysis.error) == (1, "")
    assert analysis.duration_ms is not None
    assert analysis.finished_at is not None
    # What the LLM was asked: JSON, the schema and the rules, and the whole conversation.
    request = llm.requests[-1]
    assert request["response_format"] == {"type": "json_object"}
    assert request["temperature"] == 0
    system, user = request["messages"]
    assert '"order_id"' in system["content"]
    assert "resolved: The caller's question" in system["content"]
    assert "User: Where is order A-17?\nAssistant: It ships tomorrow." in user["content"]


def test_an_agent_with_nothing_to_analyse_is_left_alone(
    cast: Cast, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    agent = analysis_agent(cast, llm, summary_prompt="", data_schema=None, success_criteria=[])
    session = talked(agent)
    with django_capture_on_commit_callbacks(execute=True):
        session_end(session=session, reason="done")
    assert not SessionAnalysis.objects.exists()
    assert llm.requests == []
    with pytest.raises(Conflict, match="nothing to analyse"):
        analysis_request(session=session)


def test_a_failed_session_is_analysed_too(ended: Any, agent: Agent) -> None:
    from sessions.services import session_status_set

    session = talked(agent)
    session_status_set(session=session, status="failed", reason="the voice worker stopped")
    assert SessionAnalysis.objects.get(session=session).status == AnalysisStatus.PENDING


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        ("Sure! The caller wanted a refund.", "did not answer with JSON"),
        ("[1, 2]", "not an object"),
        (GOOD | {"data": {"refund": "yes"}}, "does not match the data schema"),
        (GOOD | {"data": {"order_id": "A-17", "extra": 1}}, "does not match the data schema"),
        (GOOD | {"criteria": {"resolved": {"result": "pass", "reason": "ok"}}}, "'polite'"),
        (GOOD | {"criteria": {"resolved": {"result": "maybe"}, "polite": {}}}, "'resolved'"),
        (GOOD | {"criteria": "all good"}, '"criteria"'),
        (GOOD | {"summary": ["a", "b"]}, "summary is not a string"),
    ],
)
def test_an_answer_that_is_not_what_was_asked_is_a_failure(
    ended: Any, reply: Any, said: str
) -> None:
    session = ended(None, answers(reply))

    analysis = SessionAnalysis.objects.get(session=session)
    assert analysis.status == AnalysisStatus.FAILED
    assert said in analysis.error
    assert (analysis.summary, analysis.data, analysis.criteria) == ("", None, [])
    assert analysis.next_attempt_at is None  # the same question would get the same answer


def test_a_json_answer_in_a_code_fence_is_read(ended: Any) -> None:
    import json

    session = ended(None, answers("```json\n" + json.dumps(GOOD) + "\n```"))
    assert SessionAnalysis.objects.get(session=session).status == AnalysisStatus.DONE


def test_the_judges_llm_down_is_retried_then_failed_never_passed(
    ended: Any, llm: ScriptedLLM, retried: None, settings: Any
) -> None:
    settings.ANALYSIS_MAX_ATTEMPTS = 3
    down = Script(status=503, error="overloaded")
    session = ended(None, down, down, down)

    analysis = SessionAnalysis.objects.get(session=session)
    assert len(llm.requests) == 3
    assert (analysis.status, analysis.attempts) == (AnalysisStatus.FAILED, 3)
    assert analysis.error.startswith("The analysis LLM failed")
    assert "503" in analysis.error
    assert analysis.next_attempt_at is None
    assert analysis.criteria == []
    assert analysis.results == {}


def test_a_passing_failure_then_an_answer_is_done(
    ended: Any, llm: ScriptedLLM, retried: None
) -> None:
    session = ended(None, Script(status=502), answers(GOOD))

    analysis = SessionAnalysis.objects.get(session=session)
    assert (analysis.status, analysis.attempts, analysis.error) == (AnalysisStatus.DONE, 2, "")


def test_an_unreachable_llm_is_a_failure_with_the_reason(
    cast: Cast, ended: Any, retried: None, settings: Any
) -> None:
    settings.ANALYSIS_MAX_ATTEMPTS = 1
    agent = Agent.objects.get(team=cast.team)
    agent.configuration["analysis"]["llm"] = {"custom_url": "http://127.0.0.1:9/v1", "model": "m"}
    agent.save()
    session = ended(talked(agent))

    analysis = SessionAnalysis.objects.get(session=session)
    assert analysis.status == AnalysisStatus.FAILED
    assert "could not connect" in analysis.error.lower() or "refused" in analysis.error.lower()


def test_an_analysis_provider_without_credentials_fails_saying_what_to_set(
    cast: Cast, ended: Any, settings: Any
) -> None:
    settings.LLM_API_KEYS = {}
    agent = Agent.objects.get(team=cast.team)
    agent.configuration["analysis"]["llm"] = {"provider": "groq", "model": "llama"}
    agent.save()
    session = ended(talked(agent))

    analysis = SessionAnalysis.objects.get(session=session)
    assert analysis.status == AnalysisStatus.FAILED
    assert "Groq" in analysis.error
    assert analysis.llm == ""


def test_running_it_again_replaces_the_analysis_and_an_old_task_does_nothing(
    ended: Any, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    session = ended(None, answers(GOOD))
    first = SessionAnalysis.objects.get(session=session)

    better = GOOD | {"summary": "Order A-17 ships tomorrow."}
    llm.will(answers(better))
    with django_capture_on_commit_callbacks(execute=True):
        analysis_request(session=session)

    again = SessionAnalysis.objects.get(session=session)  # still one per session
    assert (again.pk, again.run, again.summary) == (first.pk, 2, "Order A-17 ships tomorrow.")
    asked = len(llm.requests)
    assert analyse_session.delay(str(again.pk), 1).get() is None  # the first run's message
    assert analyse_session.delay(str(again.pk), 2).get() is None  # done: not made twice
    assert len(llm.requests) == asked


def test_a_session_still_running_is_not_analysed(agent: Agent) -> None:
    session = session_create(agent=agent, type=SessionType.CHAT)
    with pytest.raises(Conflict, match="has not ended"):
        analysis_request(session=session)


# The end-of-conversation callback.


def test_the_callback_waits_for_the_analysis_and_carries_it(
    cast: Cast, llm: ScriptedLLM, receiver: HTTPServer, ended: Any
) -> None:
    receiver.expect_request("/ended", method="POST").respond_with_json({})
    agent = Agent.objects.get(team=cast.team)
    agent.configuration["analysis"]["include_in_callback"] = True
    agent.configuration["end_of_conversation"]["callback_url"] = receiver.url_for("/ended")
    agent.save()
    session = ended(talked(agent), answers(GOOD))

    posted = [r.get_json() for r, _ in receiver.log if r.path == "/ended"]
    assert len(posted) == 1
    assert posted[0]["session"]["id"] == str(session.id)
    assert posted[0]["analysis"]["status"] == "done"
    assert posted[0]["analysis"]["data"] == GOOD["data"]
    assert CallbackDelivery.objects.get(session=session).attempt == 1


def test_without_include_in_callback_the_callback_goes_at_once_without_it(
    cast: Cast, receiver: HTTPServer, ended: Any
) -> None:
    receiver.expect_request("/ended", method="POST").respond_with_json({})
    agent = Agent.objects.get(team=cast.team)
    agent.configuration["end_of_conversation"]["callback_url"] = receiver.url_for("/ended")
    agent.save()
    ended(talked(agent), answers(GOOD))

    posted = [r.get_json() for r, _ in receiver.log if r.path == "/ended"]
    assert len(posted) == 1
    assert "analysis" not in posted[0]


# The reconciler.


def _ago(seconds: int) -> Any:
    return timezone.now() - timedelta(seconds=seconds)


def test_the_reconciler_analyses_an_ended_session_whose_job_was_lost(
    cast: Cast, agent: Agent, llm: ScriptedLLM, django_capture_on_commit_callbacks: Any
) -> None:
    lost = talked(agent)
    session_end(session=lost, reason="done")  # its on-commit job is never run here
    SessionAnalysis.objects.all().delete()  # as if the end's message never reached the broker
    Session.objects.filter(pk=lost.pk).update(ended_at=_ago(120))
    Agent.objects.filter(pk=agent.pk).update(updated_at=_ago(600))
    plain = analysis_agent(cast, llm, summary_prompt="", data_schema=None, success_criteria=[])
    other = talked(plain)
    session_end(session=other, reason="done")
    Session.objects.filter(pk=other.pk).update(ended_at=_ago(120))
    Agent.objects.filter(pk=plain.pk).update(updated_at=_ago(600))

    llm.will(answers(GOOD))
    with django_capture_on_commit_callbacks(execute=True):
        assert analyses_reconcile() == 1
    assert SessionAnalysis.objects.get().session_id == lost.id
    assert SessionAnalysis.objects.get().status == AnalysisStatus.DONE


def test_the_reconciler_takes_up_a_lost_message_and_a_dead_worker(
    agent: Agent, llm: ScriptedLLM, settings: Any
) -> None:
    pending, stuck, dead = (talked(agent) for _ in range(3))
    for session in (pending, stuck, dead):
        session_end(session=session, reason="done")  # queued on commit, which never comes
    SessionAnalysis.objects.filter(session=pending).update(requested_at=_ago(120))
    SessionAnalysis.objects.filter(session__in=[stuck, dead]).update(
        status=AnalysisStatus.RUNNING, requested_at=_ago(900), started_at=_ago(800), attempts=1
    )
    SessionAnalysis.objects.filter(session=dead).update(attempts=settings.ANALYSIS_MAX_ATTEMPTS)

    llm.will(answers(GOOD), answers(GOOD))
    assert analyses_reconcile() == 2
    statuses = dict(SessionAnalysis.objects.values_list("session_id", "status"))
    assert statuses == {pending.id: "done", stuck.id: "done", dead.id: "failed"}
    assert "worker stopped" in SessionAnalysis.objects.get(session=dead).error


def test_a_lost_callback_of_an_agent_stored_before_analysis_is_sent_within_minutes(
    cast: Cast, receiver: HTTPServer
) -> None:
    from sessions.tasks import reconcile_queued_jobs

    receiver.expect_request("/ended").respond_with_data("")
    document = {"end_of_conversation": {"callback_url": receiver.url_for("/ended")}}
    agent = Agent.objects.create(team=cast.team, name="Old", configuration=document)
    session = session_create(agent=agent, type=SessionType.CHAT)
    session_end(session=session, reason="done")  # its on-commit job is never run here
    Session.objects.filter(pk=session.pk).update(ended_at=_ago(120))
    Agent.objects.filter(pk=agent.pk).update(updated_at=_ago(600))

    assert reconcile_queued_jobs.delay().get() == 1
