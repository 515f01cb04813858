"""The sync tasks: in the test process (eager), and through a real Celery worker and Redis
against the stand-in of iwy's API (those need PostgreSQL and Redis, as in CI). A test against
iwy itself runs only when IWY_API_KEY is set."""

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from activity.services import Actor
from agents.services import agent_update
from iwy import services
from iwy.client import iwy_ephemeral_create
from iwy.models import AgentLink, IwyAccount, SyncState, ToolLink
from iwy.tasks import pull_links, push_agent
from tests.conftest import Cast
from tests.real_worker import celery_worker, through_a_real_worker, wait_for

from .conftest import a_tool, an_agent
from .iwy_standin import IwyStandIn

# In the test process.


@pytest.mark.django_db
def test_the_round_pulls_every_link_of_teams_with_an_account(
    cast: Cast, account: IwyAccount, standin: IwyStandIn
) -> None:
    tool_link = services.tool_publish(tool=a_tool(cast))
    agent_link = services.agent_publish(agent=an_agent(cast))
    standin.edit("agent", agent_link.remote_id, name="Renamed on iwy")
    assert pull_links() == {"tools": 1, "agents": 1}
    assert AgentLink.objects.get().state == SyncState.DRIFT
    assert ToolLink.objects.get(pk=tool_link.pk).pulled_at is not None


@pytest.mark.django_db
def test_the_round_leaves_teams_without_an_account_alone(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    services.agent_publish(agent=an_agent(cast))
    services.account_disconnect(team=cast.team, actor=owner)
    assert pull_links() == {"tools": 0, "agents": 0}
    assert len(standin.requests) == 1  # the publish


@pytest.mark.django_db
def test_an_eager_push_that_iwy_keeps_refusing_marks_the_link_failed(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    standin.fail("PATCH", "/agent/", 500, "iwy is down")
    assert push_agent.delay(str(link.pk)).get() == "error"
    link.refresh_from_db()
    assert link.state == SyncState.ERROR
    assert "iwy is down" in link.last_error


# Through a real Celery worker and broker.


@pytest.fixture
def celery_process(standin: IwyStandIn) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker on the test database, calling the iwy stand-in; tasks are queued."""
    with celery_worker(
        IWY_API_URL=standin.url, IWY_TIMEOUT_SECONDS="1", IWY_RETRY_BASE_SECONDS="0.2"
    ) as proc:
        yield proc


@through_a_real_worker
def test_a_real_worker_pushes_a_change_retrying_a_429(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    standin.fail("PATCH", "/agent/", 429, "Too many requests")
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})  # queued as it commits
    wait_for(lambda: standin.agents[link.remote_id]["name"] == "Ada II", "push the change")
    assert len(standin.seen("PATCH")) == 2
    in_sync = AgentLink.objects.filter(pk=link.pk, state=SyncState.IN_SYNC)
    wait_for(in_sync.exists, "record the push")


@through_a_real_worker
def test_a_real_worker_retries_a_push_iwy_was_too_slow_for(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    tool = a_tool(cast)
    link = services.tool_publish(tool=tool)
    standin.slow("GET", "/tool/", 3.0)  # past the worker's IWY_TIMEOUT_SECONDS
    from tools.services import tool_update

    tool_update(tool=tool, actor=owner, changes={"description": "Now slower."})
    wait_for(
        lambda: standin.tools[link.remote_id]["description"] == "Now slower.", "push the change"
    )


@through_a_real_worker
def test_a_real_workers_round_finds_drift_and_pushes_nothing_over_it(
    cast: Cast, account: IwyAccount, standin: IwyStandIn, owner: Actor
) -> None:
    agent = an_agent(cast)
    link = services.agent_publish(agent=agent)
    standin.edit("agent", link.remote_id, name="Renamed on iwy")
    pull_links.delay()
    drifted = AgentLink.objects.filter(pk=link.pk, state=SyncState.DRIFT)
    wait_for(drifted.exists, "find the drift")
    agent_update(agent=agent, actor=owner, changes={"name": "Ada II"})
    time.sleep(1.5)  # time enough for a push, were one made
    assert standin.seen("PATCH") == []
    assert standin.agents[link.remote_id]["name"] == "Renamed on iwy"


# Against iwy itself.


@pytest.mark.skipif(not os.environ.get("IWY_API_KEY"), reason="needs a real iwy key (IWY_API_KEY)")
def test_minting_a_single_use_agent_on_iwy_itself(settings: Any) -> None:
    settings.IWY_API_URL = os.environ.get("IWY_API_URL", "https://api.iwy.ai/v1")
    configuration = {
        "llm": {
            "model": "gemini-2.0-flash",
            "provider": "google",
            "system_prompt": "You are a test of Parley's iwy client; say hello.",
        }
    }
    agent = iwy_ephemeral_create(
        api_key=os.environ["IWY_API_KEY"],
        configuration=configuration,
        ttl_seconds=60,
        metadata={"purpose": "parley_test"},
    )
    assert agent["id"]
    assert agent.get("expires_at")
