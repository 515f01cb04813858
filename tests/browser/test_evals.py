"""A member watches an eval run's page update itself while the scenarios are played, then
reads each check with its reason, the flaky scenario marked."""

import threading

import pytest
from django.db import connection
from playwright.sync_api import Page, expect
from pytest_httpserver import HTTPServer

from activity.services import SYSTEM, Actor
from agents.configuration import AgentConfiguration
from agents.services import agent_update
from evals.models import EvalRun
from evals.services import eval_run_play, eval_run_start, scenario_create, scenario_spec
from teams.models import Role
from tests.evals.conftest import judged
from tests.factories import AgentFactory, MembershipFactory
from tests.llm_server import ScriptedLLM, says

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _play(run: EvalRun) -> None:
    """A worker's part, in a thread of its own: Playwright's loop holds the test's."""
    try:
        eval_run_play(run=run)
    finally:
        connection.close()


def test_the_run_page_follows_the_run_and_shows_each_check(
    page: Page, receiver: HTTPServer
) -> None:
    llm = ScriptedLLM(receiver)
    member = MembershipFactory(role=Role.MEMBER)
    config = {"llm": {"custom_url": llm.base_url, "model": "m", "first_message": "Hi there!"}}
    agent = AgentFactory(
        team=member.team,
        name="Support",
        configuration=AgentConfiguration.model_validate(config).as_document(),
    )
    agent_update(agent=agent, actor=SYSTEM, changes={})
    for name, spec in [
        ("greeting", {"script": ["Hello"], "criteria": [{"name": "polite", "rule": "Polite."}]}),
        (
            "order status",
            {
                "script": ["Where is order A-17?"],
                "max_turns": 2,
                "checks": [{"type": "reply_contains", "text": "tomorrow"}],
            },
        ),
    ]:
        scenario_create(agent=agent, actor=SYSTEM, name=name, spec=scenario_spec(spec))
    run = eval_run_start(agent=agent, actor=Actor(user=member.user), trials=2, dispatch=False)

    sign_in(page, member.user.email)
    page.goto(f"/evals/agents/{agent.id}/")
    page.get_by_role("link", name=run.created_at.strftime("%b %-d, %Y %H:%M")).click()
    progress = page.locator("#run-progress")
    expect(progress).to_have_attribute("data-run-status", "running")
    expect(page.locator("[data-counts]")).to_contain_text("0 of 4 played")

    # Played meanwhile, as a worker would: the page, polling, follows.
    llm.will(
        says("Hello! How can I help?"),
        judged(polite="pass"),
        says("Hello! How can I help?"),
        judged(polite="pass"),
        says("It ships tomorrow."),
        says("It ships later this week."),
    )
    worker = threading.Thread(target=_play, args=(run,))
    worker.start()
    worker.join(timeout=60)
    expect(progress).to_have_attribute("data-run-status", "failed")
    expect(page.locator("[data-counts]")).to_contain_text("4 of 4 played: 3 passed, 1 failed")
    expect(page.get_by_role("cell", name="Flaky")).to_be_visible()
    expect(page.get_by_text("None of the agent's 2 replies contains it.")).to_be_visible()
    screenshot(page, "eval-run")
    page.get_by_role("link", name="Transcript").first.click()
    expect(page.get_by_text("Hello! How can I help?").first).to_be_visible()
    page.go_back()
    page.set_viewport_size({"width": 375, "height": 740})
    assert not has_horizontal_scroll(page)
