"""`manage.py evals run`: played here with no worker, a result per line, JUnit XML, and an
exit code a CI job can act on."""

from io import StringIO
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent
from evals.models import EvalRun
from tests.llm_server import ScriptedLLM, says

from .conftest import scenario

pytestmark = pytest.mark.django_db


def evals(*args: str) -> str:
    out = StringIO()
    call_command("evals", "run", *args, stdout=out)
    return out.getvalue()


def test_a_passing_suite_prints_its_results_and_writes_junit(
    agent: Agent, llm: ScriptedLLM, tmp_path: Path
) -> None:
    scenario(agent, checks=[{"type": "reply_contains", "text": "tomorrow"}])
    llm.will(says("Tomorrow."), says("Tomorrow."))
    report = tmp_path / "evals.xml"
    said = evals(str(agent.id), "--trials", "2", "--junit", str(report))
    assert "PASS order status #1" in said
    assert "PASS order status #2" in said
    assert "2 passed, 0 failed, 0 error(s)" in said
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 (the command's own file)
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
    assert [case.get("name") for case in suite] == ["order status #1", "order status #2"]
    assert EvalRun.objects.get().created_by is None


def test_a_failure_exits_non_zero_and_is_in_the_junit(
    agent: Agent, llm: ScriptedLLM, tmp_path: Path
) -> None:
    scenario(agent, checks=[{"type": "reply_contains", "text": "tomorrow"}])
    scenario(agent, name="judged", criteria=[{"name": "polite", "rule": "Polite."}])
    # "judged" plays first (by name): its reply, then the judge's LLM is down.
    llm.will(says("Hello."), says(status=503), says("Later."))
    report = tmp_path / "evals.xml"
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("evals", "run", agent.name, "--junit", str(report), stdout=out)
    assert failed.value.returncode == 1
    assert "0 passed, 1 failed, 1 error(s)" in str(failed.value)
    said = out.getvalue()
    assert "FAIL order status #1" in said
    assert "failed: a reply contains 'tomorrow': None of the agent's 2 replies contains it." in said
    assert "ERROR judged #1" in said
    cases = {case.get("name"): case for case in ET.parse(report).getroot().iter("testcase")}  # noqa: S314
    failure = cases["order status #1"].find("failure")
    assert failure is not None
    assert "a reply contains 'tomorrow'" in (failure.text or "")
    error = cases["judged #1"].find("error")
    assert error is not None
    assert "The judge's LLM failed" in (error.text or "")


def test_an_agent_that_cannot_run_exits_2(agent: Agent) -> None:
    with pytest.raises(CommandError, match="no scenarios") as failed:
        evals(str(agent.id))
    assert failed.value.returncode == 2
    with pytest.raises(CommandError, match="No agent has the id or name") as failed:
        evals("nobody")
    assert failed.value.returncode == 2
    scenario(agent)
    with pytest.raises(CommandError, match="has no version 9") as failed:
        evals(str(agent.id), "--version", "9")
    assert failed.value.returncode == 2
