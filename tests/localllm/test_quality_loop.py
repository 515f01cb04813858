"""The quality loop with no account anywhere: a session's post-call analysis and an eval run,
both judged by the packaged model. It is too small to judge well (docs/local-llm.md), so what
is checked is that each runs end to end and records what happened, a failure as a failure."""

from typing import Any

import pytest

from activity.services import SYSTEM
from agents.configuration import AgentConfiguration
from agents.models import Agent
from agents.services import agent_update
from analysis.models import AnalysisStatus
from evals.models import ResultStatus
from evals.services import eval_run_play, eval_run_start, scenario_create, scenario_spec
from sessions.models import EventKind, SessionType
from sessions.services import session_create, session_end, session_event_append

from .conftest import BRIEF

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def analysed_agent(local_agent: Agent) -> Agent:
    """The local agent, asked for a summary and one success criterion, at version 1."""
    document = AgentConfiguration.model_validate(local_agent.configuration).as_document()
    document["analysis"] = {
        "summary_prompt": "One short sentence.",
        "success_criteria": [{"name": "answered", "rule": "The user's question was answered."}],
    }
    llm = document["llm"] | {"system_prompt": BRIEF}
    local_agent.configuration = AgentConfiguration.model_validate(
        document | {"llm": llm}
    ).as_document()
    local_agent.save()
    agent_update(agent=local_agent, actor=SYSTEM, changes={})
    return local_agent


def test_a_session_is_analysed_by_the_local_model(
    analysed_agent: Agent, django_capture_on_commit_callbacks: Any
) -> None:
    session = session_create(agent=analysed_agent, type=SessionType.CHAT)
    for role, content in [("user", "What is the capital of France?"), ("assistant", "Paris.")]:
        session_event_append(
            session=session, kind=EventKind.MESSAGE, data={"role": role, "content": content}
        )
    with django_capture_on_commit_callbacks(execute=True):
        session_end(session=session, reason="done")
    analysis = session.analysis
    analysis.refresh_from_db()
    assert analysis.llm.startswith("local/")
    assert analysis.finished_at is not None
    if analysis.status == AnalysisStatus.DONE:
        assert analysis.summary
        assert [c["name"] for c in analysis.criteria] == ["answered"]
    else:  # what the small model answered was not what was asked: said, not passed
        assert analysis.status in (AnalysisStatus.FAILED, AnalysisStatus.PENDING)
        assert analysis.error


def test_an_eval_run_plays_against_the_local_model(analysed_agent: Agent) -> None:
    spec = scenario_spec(
        {
            "script": ["What is the capital of France?"],
            "max_turns": 2,
            "checks": [{"type": "ended_within", "turns": 1}],
        }
    )
    scenario_create(agent=analysed_agent, actor=SYSTEM, name="capital", spec=spec)
    run = eval_run_play(run=eval_run_start(agent=analysed_agent, actor=SYSTEM, dispatch=False))
    (result,) = run.results.all()
    assert result.status == ResultStatus.PASSED, result.error
    played = result.session
    assert played is not None
    said = [e.data for e in played.events.filter(kind=EventKind.MESSAGE).order_by("seq")]
    assert [m["role"] for m in said] == ["user", "assistant"]
    assert said[1]["content"].strip()  # the local model's own answer
    assert played.simulated
