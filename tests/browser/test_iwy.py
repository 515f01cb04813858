"""The agent page's preview through iwy's own widget: offline (the script blocked), it says so
plainly instead of showing an empty frame."""

import pytest
from playwright.sync_api import Page, Route, expect

from iwy.models import AgentLink, IwyAccount
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

REMOTE_ID = "550e8400-e29b-41d4-a716-446655440099"


def test_the_iwy_preview_says_plainly_when_iwys_widget_cannot_load(
    page: Page, settings: object
) -> None:
    membership = MembershipFactory(role=Role.MEMBER, team__name="Acme")
    IwyAccount.objects.create(team=membership.team, credentials={"api_key": "iwy_sk_test"})
    agent = AgentFactory(team=membership.team, name="Front desk")
    AgentLink.objects.create(team=membership.team, agent=agent, remote_id=REMOTE_ID)
    blocked: list[str] = []

    def offline(route: Route) -> None:
        blocked.append(route.request.url)
        route.abort("internetdisconnected")

    page.context.route("https://unpkg.com/**", offline)
    sign_in(page, membership.user.email)
    page.goto(f"/agents/{agent.id}/")
    panel = page.locator("#iwy")
    expect(panel).to_contain_text(REMOTE_ID)
    panel.get_by_text("Preview with iwy's widget").click()
    frame = page.frame_locator('iframe[title="iwy\'s widget"]')
    status = frame.get_by_role("status")
    expect(status).to_contain_text("iwy's widget could not be loaded")
    expect(status).to_contain_text("needs an internet connection")
    expect(frame.locator(f'live-avatar[agentid="{REMOTE_ID}"]')).to_be_attached()
    assert blocked == ["https://unpkg.com/@iwy/live-widgets@latest/dist/live-avatar.min.js"]
    screenshot(page, "iwy-preview-offline")
