"""The analytics page in Chromium: a week of a team's sessions, rolled up as the hourly task does,
drawn as charts (uPlot, from static/build/) beside their tables, under the Content-Security-Policy,
filtered with HTMX, and on a phone without sideways scrolling."""

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect

from agents.models import Agent, AgentVersion
from analytics.services import analytics_rollup_compute
from sessions.models import Channel, EventKind, SessionStatus, SessionType
from sessions.services import session_event_append
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, SessionFactory

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CHART_LIBRARY = Path(settings.BASE_DIR) / "static" / "build" / "uplot" / "uPlot.iife.min.js"
CHANNELS = [Channel.WIDGET, Channel.WIDGET, Channel.HOSTED, Channel.API, Channel.REMOTE]
REASONS = ["conversation finished", "caller hung up", "idle timeout", "max duration reached"]
WATCH = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`), true);
"""


def _version(agent: Agent, number: int) -> AgentVersion:
    return AgentVersion.objects.create(
        agent=agent, number=number, name=agent.name, source="publish"
    )


def _seed_session(
    agent: Agent, version: AgentVersion, started: datetime, draw: random.Random
) -> None:
    """One session with a few turns: its weather tool fails more often in version 6 than in 7."""
    kind = draw.choice([SessionType.CHAT, SessionType.CHAT, SessionType.VOICE, SessionType.VIDEO])
    session = SessionFactory(
        agent=agent,
        agent_version=version,
        type=kind,
        channel=draw.choice(CHANNELS),
        started_at=started,
        ended_at=started + timedelta(seconds=draw.choice([8, 40, 95, 240, 700, 2000])),
        status=SessionStatus.STOPPED,
        end_reason=draw.choice(REASONS),
    )
    failing = 0.4 if version.number == 6 else 0.15
    for _ in range(draw.randint(1, 4)):
        session_event_append(session=session, kind=EventKind.MESSAGE, data={"role": "user"})
        tool = draw.choice(["get_weather", "book_table"])
        outcome = "http_error" if draw.random() < failing else "success"
        data = {"tool_name": tool, "outcome": outcome}
        session_event_append(session=session, kind=EventKind.TOOL_CALL, data=data)
        reply = {"role": "assistant", "ttft_ms": draw.randint(250, 900)}
        if kind != SessionType.CHAT:
            stages = {"turn_detection_ms": 200, "stt_ms": 150, "llm_ms": 400, "tts_ms": 180}
            reply |= {k: v + draw.randint(0, 100) for k, v in stages.items()}
            reply["latency_ms"] = sum(reply[k] for k in stages)
        session_event_append(session=session, kind=EventKind.MESSAGE, data=reply)
    if draw.random() < 0.2:
        code = draw.choice(["llm_timeout", "tts_failed"])
        session_event_append(session=session, kind=EventKind.ERROR, data={"code": code})


@pytest.fixture
def viewer_email() -> str:
    """A viewer of a team with a week of sessions on three agents, rolled up hour by hour."""
    if not CHART_LIBRARY.exists():
        pytest.fail(f"{CHART_LIBRARY} is missing: `make charts` fetches the chart library")
    membership = MembershipFactory(role=Role.VIEWER, team__name="Acme")
    draw = random.Random(7)
    now = timezone.now()
    agents = [AgentFactory(team=membership.team, name=n) for n in ("Support desk", "Concierge")]
    versions = {agents[0]: [_version(agents[0], 6), _version(agents[0], 7)]}
    versions[agents[1]] = [_version(agents[1], 1)]
    hours = set()
    for index in range(60):
        agent = agents[1] if index % 3 == 2 else agents[0]
        # Support desk moved from version 6 to 7 halfway through the week.
        version = versions[agent][-1 if index >= 30 else 0]
        started = now - timedelta(hours=(60 - index) * 2.7)
        _seed_session(agent, version, started, draw)
        hours.add(started.replace(minute=0, second=0, microsecond=0))
    for hour in sorted(hours):
        analytics_rollup_compute(hour=hour)
    return membership.user.email


def _watch(page: Page) -> list[str]:
    violations: list[str] = []
    page.add_init_script(WATCH)

    def heard(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            violations.append(message.text)

    page.on("console", heard)
    page.on("pageerror", lambda error: violations.append(str(error)))
    return violations


def test_the_analytics_page(page: Page, viewer_email: str) -> None:
    problems = _watch(page)
    sign_in(page, viewer_email)
    page.get_by_role("link", name="Analytics", exact=True).click()
    page.wait_for_url("**/analytics/")
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    charts = page.locator("[data-chart]")
    assert charts.count() == 7  # the versions' chart is on an agent's page
    for index in range(charts.count()):
        chart = charts.nth(index)
        expect(chart.locator("canvas")).to_have_count(1)  # drawn by uPlot
        assert chart.get_attribute("role") == "img"
        assert chart.get_attribute("aria-label")
    screenshot(page, "analytics")
    # Each chart's table holds its values: 60 sessions in all, by channel.
    channel_table = page.locator("figure", has=page.locator('[data-chart="by_channel"]'))
    channel_table.get_by_text("Table of the figures").click()
    totals = channel_table.locator("[data-chart-table] tbody td").all_inner_texts()
    assert sum(int(v.replace(",", "")) for v in totals) == 60
    expect(page.locator("[data-headline]")).to_contain_text("60")
    tools = page.locator("[data-tools]")
    expect(tools).to_contain_text("get_weather")
    expect(tools).to_contain_text("book_table")
    expect(page.get_by_text("Choose an agent above to compare its versions.")).to_be_visible()
    assert problems == []


def test_filters_redraw_the_charts(page: Page, viewer_email: str) -> None:
    problems = _watch(page)
    sign_in(page, viewer_email)
    page.goto("/analytics/")
    page.get_by_label("Agent", exact=True).select_option(label="Support desk")
    page.wait_for_url("**/analytics/?*agent=*")
    expect(page.get_by_label("Version", exact=True)).to_be_enabled()
    versions = page.locator("[data-versions]")
    expect(versions.locator("tbody tr")).to_have_count(2)
    expect(versions).to_contain_text("v6")
    expect(page.locator('[data-chart="version_failures"] canvas')).to_have_count(1)
    page.get_by_label("Version", exact=True).select_option(label="v7")
    page.wait_for_url("**version=7*")
    expect(versions.locator("tbody tr")).to_have_count(1)
    expect(versions).to_contain_text("v7")
    expect(page.locator('[data-chart="by_channel"] canvas')).to_have_count(1)
    csv = page.get_by_role("link", name="Download CSV")
    assert "version=7" in (csv.get_attribute("href") or "")
    assert problems == [], "\n".join(problems)
    page.go_back()  # the agent's page, its versions side by side
    expect(page.locator('[data-chart="version_failures"] canvas')).to_have_count(1)
    screenshot(page, "analytics-agent")


def test_the_analytics_page_fits_a_phone(page: Page, viewer_email: str) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, viewer_email)
    page.goto("/analytics/")
    expect(page.locator('[data-chart="by_type"] canvas')).to_have_count(1)
    assert not has_horizontal_scroll(page)
    width = page.locator('[data-chart="durations"] canvas').bounding_box()
    assert width
    assert width["width"] <= 375
    screenshot(page, "analytics-phone")
