import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from agents.configuration import AgentConfiguration
from agents.models import Agent
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, ToolFactory

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_PAGE = re.compile(r".*/agents/[0-9a-f-]{36}/$")


def a_few_agents(team: object) -> list[Agent]:
    now = timezone.now()
    rows = [
        ("Front desk — a rather long agent name that has to wrap on phones", "public", "groq"),
        ("Support", "private", "openai"),
        ("Sales qualifier", "draft", "ollama"),
    ]
    agents = []
    for n, (name, status, provider) in enumerate(rows):
        document = AgentConfiguration().as_document()
        document["llm"]["provider"] = provider
        agents.append(
            AgentFactory(
                team=team,
                name=name,
                publish_status=status,
                configuration=document,
                created_at=now - timedelta(hours=n),
            )
        )
    return agents


def test_a_writer_fixes_a_mistake_shown_while_typing_and_saves(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    ToolFactory(team=member.team, name="get_weather")
    sign_in(page, member.user.email)
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Name", exact=True).fill("Boat seller")
    page.get_by_label("System prompt").fill("You sell boats. Keep it short.")
    temperature = page.get_by_label("Temperature")
    temperature.fill("")
    temperature.press_sequentially("5")
    # Shown while typing, without a submit, and without touching the input being typed in.
    expect(page.locator("#errors-llm_temperature")).to_contain_text("less than or equal to 2")
    expect(temperature).to_be_focused()

    page.get_by_role("button", name="Create agent").click()
    expect(page.locator("#errors-llm_temperature")).to_contain_text("less than or equal to 2")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Boat seller")
    expect(page.get_by_label("System prompt")).to_have_value("You sell boats. Keep it short.")
    assert not Agent.objects.exists()

    page.get_by_label("Temperature").fill("0.9")
    page.get_by_label("Temperature").press("Tab")
    expect(page.locator("#errors-llm_temperature")).to_be_empty()
    page.get_by_label("get_weather").check()
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(AGENT_PAGE)
    expect(page.get_by_role("heading", name="Boat seller", level=1)).to_be_visible()
    agent = Agent.objects.get()
    assert agent.configuration["llm"]["temperature"] == 0.9
    assert agent.configuration["llm"]["system_prompt"] == "You sell boats. Keep it short."
    assert len(agent.configuration["tool_calling"]["selected_tool_ids"]) == 1


def test_the_agent_form_in_full(page: Page) -> None:
    member = MembershipFactory(role=Role.OWNER)
    for name in ("get_weather", "book_viewing", "crm_lookup"):
        ToolFactory(team=member.team, name=name)
    agent = a_few_agents(member.team)[1]
    sign_in(page, member.user.email)
    page.goto(f"/agents/{agent.id}/edit/")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Support")
    page.get_by_label("Voice threshold").fill("3")
    page.get_by_label("Voice threshold").press("Tab")
    expect(page.locator("#errors-turn_threshold")).to_contain_text("less than or equal to 1")
    screenshot(page, "agent-edit")


def test_searching_updates_the_table_and_the_address(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    a_few_agents(member.team)
    sign_in(page, member.user.email)
    page.get_by_label("Search by name").fill("sales")
    page.wait_for_url(re.compile(r"/agents/\?q=sales"))
    rows = page.locator("#agent-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Sales qualifier")
    page.get_by_label("Search by name").fill("")
    page.get_by_label("Publish status").select_option("public")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Front desk")


def test_the_agents_list_with_a_few_agents(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    a_few_agents(member.team)
    sign_in(page, member.user.email)
    expect(page.locator("#agent-table tbody tr")).to_have_count(3)
    screenshot(page, "agents-list")


def test_the_agents_list_and_an_agent_fit_a_phone(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    agent = a_few_agents(member.team)[0]
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, member.user.email)
    expect(page.locator("#agent-table tbody tr")).to_have_count(3)
    assert not has_horizontal_scroll(page)
    page.goto(f"/agents/{agent.id}/")
    assert not has_horizontal_scroll(page)


def test_a_viewer_sees_no_controls_that_change_an_agent(page: Page) -> None:
    viewer = MembershipFactory(role=Role.VIEWER)
    agent = a_few_agents(viewer.team)[0]
    sign_in(page, viewer.user.email)
    expect(page.get_by_role("link", name="New agent")).to_have_count(0)
    page.get_by_role("link", name=agent.name).click()
    page.wait_for_url(AGENT_PAGE)
    expect(page.locator("#test-call")).to_be_visible()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.get_by_text("Delete this agent")).to_have_count(0)
    for name in ("Duplicate", "Make private", "Make draft"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)


def test_the_embed_snippet_is_copied_with_one_click(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    agent = a_few_agents(member.team)[1]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, member.user.email)
    page.goto(f"/agents/{agent.id}/")
    page.locator('[data-copy="embed-snippet"]').click()
    expect(page.locator("#toasts")).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f'<live-avatar agentid="{agent.id}"></live-avatar>\n<script src="')


def test_publishing_and_deleting_from_the_agent_page(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    agent = a_few_agents(member.team)[2]
    sign_in(page, member.user.email)
    page.goto(f"/agents/{agent.id}/")
    page.get_by_role("button", name="Make public").click()
    expect(page.locator("#publish-status")).to_contain_text("This agent is Public")
    expect(page.locator("#toasts")).to_contain_text("Sales qualifier is now public.")
    expect(page.get_by_role("button", name="Delete Sales qualifier")).to_be_hidden()
    page.get_by_text("Delete this agent…").click()
    page.get_by_role("button", name="Delete Sales qualifier").click()
    page.wait_for_url("**/agents/")
    expect(page.locator("#agent-table tbody tr")).to_have_count(2)
    assert not Agent.objects.filter(id=agent.id).exists()
