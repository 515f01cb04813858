"""The remote-engine pages in Chromium: an agent's LLM keys minted and revoked on its page, the
Agora credentials saved and a running Agora agent told to speak from the session page, and an
agent drifted on iwy resolved from its panel. Each leaves a picture in docs/screenshots/."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Page, expect

from agents.models import Agent
from agora.models import AgoraAccount
from iwy import services as iwy
from iwy.models import AgentLink, IwyAccount
from sessions.models import Session
from tests.agora.agora_standin import AgoraStandIn
from tests.agora.conftest import account, agent, standin  # noqa: F401 (fixtures)
from tests.conftest import Cast
from tests.factories import AgentFactory
from tests.iwy.iwy_standin import IwyStandIn

from .conftest import SCREENSHOTS, sign_in

pytestmark = pytest.mark.django_db(transaction=True)
T = TypeVar("T")


def off_the_pages_loop(work: Callable[[], T]) -> T:
    """Run Parley's own code (which calls out through async_to_sync) on a thread of its own:
    Playwright's event loop runs on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def picture(page: Page, selector: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(selector).screenshot(path=SCREENSHOTS / f"{name}.png")


def test_a_member_mints_a_key_an_engine_uses_then_revokes_it(
    page: Page, live_server: Any, cast: Cast
) -> None:
    desk = AgentFactory(team=cast.team, name="Front desk")
    sign_in(page, cast.member.email)
    page.goto(f"/agents/{desk.id}/")
    section = page.locator("#llm-keys")
    section.get_by_label("Name").fill("Agora production")
    section.get_by_role("button", name="Create key").click()
    secret = section.get_by_label("New agent key").input_value()
    assert secret.startswith("ak_")
    url = section.get_by_label("Chat-completions URL").input_value()
    ask = {"model": "m", "messages": [{"role": "user", "content": "Hello?"}]}
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.post(url, json=ask, headers=headers, timeout=10).status_code == 200
    picture(page, "#llm-keys", "agent-llm-keys")

    section.locator("summary", has_text="Revoke").click()
    section.get_by_role("button", name="Revoke the key").click()
    expect(section.get_by_text("Revoked")).to_be_visible()
    assert httpx.post(url, json=ask, headers=headers, timeout=10).status_code == 401


def test_an_owner_saves_agora_credentials_and_makes_the_agent_speak(
    page: Page,
    live_server: Any,
    cast: Cast,
    standin: AgoraStandIn,  # noqa: F811
    agent: Agent,  # noqa: F811
) -> None:
    sign_in(page, cast.owner.email)
    page.goto("/agora/")
    page.get_by_label("App ID").fill(standin.app_id)
    page.get_by_label("Customer ID").fill(standin.customer_id)
    page.get_by_label("Customer secret").fill(standin.customer_secret)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved the Agora credentials.")).to_be_visible()
    assert standin.customer_secret not in page.content()
    picture(page, "main", "agora-settings")

    # The page's event loop is this thread's: the call goes to the live server, as a client's.
    body = {"agentId": str(agent.id), "mode": "voice"}
    begun = httpx.post(f"{live_server.url}/v1/start-agent-session", json=body, timeout=10)
    assert begun.status_code == 200, begun.text
    session = Session.objects.get(id=begun.json()["sessionId"])
    assert AgoraAccount.objects.filter(team=cast.team).exists()
    page.goto(f"/sessions/{session.id}/")
    controls = page.locator("#agora-controls")
    controls.get_by_label("Say").fill("One moment, please.")
    controls.get_by_role("button", name="Speak").click()
    expect(controls.get_by_role("status")).to_be_visible()
    (spoken,) = [r for r in standin.seen("POST") if r.path.endswith("/speak")]
    assert spoken.body["text"] == "One moment, please."
    picture(page, "#agora-controls", "agora-session-controls")
    assert Session.objects.get(pk=session.pk).remote["agent_id"]


def test_a_drifted_agent_is_resolved_from_its_iwy_panel(
    page: Page, cast: Cast, settings: Any
) -> None:
    server = IwyStandIn().start()
    try:
        settings.IWY_API_URL = server.url
        IwyAccount.objects.create(team=cast.team, credentials={"api_key": server.key})
        agent = AgentFactory(team=cast.team, name="Front desk")
        link = off_the_pages_loop(lambda: iwy.agent_publish(agent=agent))
        server.edit("agent", link.remote_id, name="Front desk (iwy)")
        off_the_pages_loop(lambda: iwy.link_pull(model=AgentLink, link_id=link.pk))

        sign_in(page, cast.member.email)
        page.goto(f"/agents/{agent.id}/")
        panel = page.locator("#iwy")
        expect(panel).to_contain_text("Front desk (iwy)")
        picture(page, "#iwy", "iwy-drift")
        panel.get_by_role("button", name="Keep Parley's").click()
        expect(page.locator("#iwy")).to_contain_text("In sync")
        assert server.agents[link.remote_id]["name"] == "Front desk"
    finally:
        server.stop()
