"""A session's post-call analysis as a team member finds it: through the sessions list's filter
on a failed criterion, then on the session's page."""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from analysis.models import SessionAnalysis
from sessions.models import EventKind, SessionStatus
from sessions.services import session_event_append
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, SessionFactory

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def member_email() -> str:
    """A member of a team with two ended chats, both analysed; one failed "polite"."""
    membership = MembershipFactory(role=Role.MEMBER, team__name="Acme")
    agent = AgentFactory(team=membership.team, name="Order desk")
    for order, polite in (("A-17", "fail"), ("B-22", "pass")):
        ended = timezone.now()
        session = SessionFactory(
            agent=agent, status=SessionStatus.STOPPED, ended_at=ended, end_reason="user ended"
        )
        for role, content in (("user", f"Where is order {order}?"), ("assistant", "Tomorrow.")):
            data = {"role": role, "content": content}
            session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
        SessionAnalysis.objects.create(
            session=session,
            team=session.team,
            status="done",
            summary=f"The caller asked where order {order} is; it ships tomorrow.",
            data={"order_id": order, "refund": False},
            criteria=[
                {"name": "resolved", "result": "pass", "reason": "The date was given."},
                {"name": "polite", "result": polite, "reason": "The tone of the replies."},
            ],
            results={"resolved": "pass", "polite": polite},
            llm="local/local",
            requested_at=ended,
            finished_at=ended,
        )
    return membership.user.email


def test_a_failed_criterion_is_found_and_read(page: Page, member_email: str) -> None:
    sign_in(page, member_email)
    page.goto("/sessions/")
    page.get_by_label("Failed criterion").fill("polite")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**failed=polite*")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").click()
    analysis = page.get_by_role("region", name="Analysis")
    expect(analysis).to_contain_text("The caller asked where order A-17 is")
    expect(analysis.locator('[data-criterion="polite"]')).to_contain_text("fail")
    expect(analysis).to_contain_text('"order_id": "A-17"')
    expect(analysis.get_by_role("button", name="Analyse again")).to_be_visible()
    screenshot(page, "session-analysis")
