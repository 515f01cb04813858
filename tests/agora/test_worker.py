"""The sync and the leave through a real Celery worker fed by the real Redis broker, against the
Agora stand-in; runs where PostgreSQL and Redis are (as in CI)."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings as django_settings
from django.db import connection

from agents.models import Agent
from agora.models import AgoraAccount
from agora.tasks import sync_agora_sessions
from config.celery import app as celery_app
from sessions.models import Session, SessionStatus
from sessions.services import session_end

from .agora_standin import AgoraStandIn
from .test_services import started

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server (REDIS_URL)"),
    pytest.mark.skipif(
        "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
        reason="the worker must share the test database, which SQLite keeps in memory",
    ),
]


@pytest.fixture
def celery_process(standin: AgoraStandIn) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker on the test database, calling the Agora stand-in; tasks are queued."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = os.environ | {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "AGORA_API_URL": standin.url,
        "AGORA_RETRY_BASE_SECONDS": "0.01",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    proc = subprocess.Popen(
        [*command, "-Q", "celery"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    celery_app.conf.task_always_eager = False
    yield proc
    celery_app.conf.task_always_eager = True
    proc.terminate()
    proc.wait(timeout=20)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"the worker did not {what} within 30 s"
        time.sleep(0.2)


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
