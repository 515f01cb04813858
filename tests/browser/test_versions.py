"""A person edits an agent under review, compares the draft with what runs, and publishes it."""

import pytest
from playwright.sync_api import Page, expect

from activity.services import Actor
from agents.configuration import AgentConfiguration
from agents.services import agent_create
from teams.models import Role
from tests.factories import MembershipFactory

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_draft_is_compared_with_the_published_version_and_published(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    agent = agent_create(
        team=member.team,
        actor=Actor(user=member.user),
        name="Support",
        publish_mode="review",
        configuration=AgentConfiguration.model_validate(
            {"llm": {"provider": "openai", "system_prompt": "Answer in one sentence."}}
        ),
    )
    sign_in(page, member.user.email)
    page.goto(f"/agents/{agent.id}/edit/")
    page.get_by_label("System prompt").fill("Answer in one sentence.\nAlways name the order.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Draft version 2 unpublished")).to_be_visible()
    expect(page.locator("[data-test-version]")).to_contain_text("the draft")

    page.get_by_role("link", name="History").click()
    expect(page.locator("[data-diff-prompt]")).to_contain_text("+ Always name the order.")
    screenshot(page, "agent-history")
    page.get_by_role("button", name="Publish v2").click()
    expect(page.get_by_text("Published version 2 of Support.")).to_be_visible()
    expect(page.locator("#version-2")).to_contain_text("Published")
    page.set_viewport_size({"width": 375, "height": 740})
    assert not has_horizontal_scroll(page)
