"""The sync and the leave through a real Celery worker fed by the real Redis broker, against the
Agora stand-in; runs where PostgreSQL and Redis are (as in CI)."""

import subprocess
from collections.abc import Iterator

import pytest

from agents.models import Agent
from agora.models import AgoraAccount
from agora.tasks import sync_agora_sessions
from sessions.models import Session, SessionStatus
from sessions.services import session_end
from tests.real_worker import REAL_WORKER_MARKS, celery_worker, wait_for

from .agora_standin import AgoraStandIn
from .test_services import started

pytestmark = list(REAL_WORKER_MARKS)


@pytest.fixture
def celery_process(standin: AgoraStandIn) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker on the test database, calling the Agora stand-in; tasks are queued."""
    with celery_worker(
        AGORA_API_URL=standin.url,
        AGORA_RETRY_BASE_SECONDS="0.01",
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
    ) as proc:
        yield proc


def test_a_real_worker_fails_the_session_of_a_failed_remote_agent(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn, celery_process: object
) -> None:
    session = started(agent)
    standin.only().history = [{"role": "user", "content": "Allo?"}]
    sync_agora_sessions.delay()
    kept = Session.objects.filter(pk=session.pk, remote__has_key="history")
    wait_for(kept.exists, "keep the history")
    remote = standin.only()
    remote.status, remote.message = "FAILED", "llm url unreachable"
    sync_agora_sessions.delay()
    failed = Session.objects.filter(pk=session.pk, status=SessionStatus.FAILED)
    wait_for(failed.exists, "fail the session")
    assert failed.get().end_reason == "Agora: failed: llm url unreachable"
    assert failed.get().remote["history"] == [{"role": "user", "content": "Allo?"}]


def test_a_real_worker_leaves_after_agora_asked_it_to_back_off(
    agent: Agent, account: AgoraAccount, standin: AgoraStandIn, celery_process: object
) -> None:
    session = started(agent)
    agent_id = session.remote["agent_id"]
    # Every attempt of the first try is refused; the task tries again 5 s later.
    standin.fail("POST", f"/agents/{agent_id}/leave", 503, "busy", times=3)
    session_end(session=session, reason="ended by the client")  # queued: no transaction open
    left = Session.objects.filter(pk=session.pk, remote__has_key="left_at")
    wait_for(left.exists, "stop the Agora agent")
    assert standin.only().status == "STOPPED"
    assert len(standin.seen("POST", f"/agents/{agent_id}/leave")) == 4
