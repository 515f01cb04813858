"""The Celery wiring, end to end: a real worker, fed through the real Redis broker, runs a task
against the test database. Runs when REDIS_URL and PostgreSQL are configured (as in CI)."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.utils import timezone
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from agents.tasks import sweep_expired_agents
from config.celery import app
from sessions.models import CallbackDelivery, Session
from sessions.services import session_end
from sessions.tasks import reconcile_queued_jobs
from tests.factories import AgentFactory, SessionFactory, ToolFactory
from tests.sessions.test_tasks import verify_signature
from tools.execution import tool_execute
from tools.models import ExecutionOutcome, ToolExecution

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server (REDIS_URL)"),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the worker must share the test database, which SQLite keeps in memory",
    ),
]


@pytest.fixture
def worker() -> subprocess.Popen:
    test_db = connection.settings_dict
    url = (
        f"postgres://{test_db['USER']}:{test_db['PASSWORD'] or ''}@{test_db['HOST']}:"
        f"{test_db['PORT']}/{test_db['NAME']}"
    )
    env = os.environ | {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",  # the test's webhook receiver
        "CALLBACK_RETRY_BASE_SECONDS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", "celery"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def queued() -> Iterator[None]:
    """Tasks go to the broker instead of running in the test."""
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"the worker did not {what} within 30 s"
        time.sleep(0.2)


def test_a_real_worker_sweeps_expired_agents(worker: subprocess.Popen, queued: None) -> None:
    old = AgentFactory(
        kind=AgentKind.SINGLE_USE,
        expires_at=timezone.now() - settings.SINGLE_USE_AGENT_RETENTION - timedelta(hours=1),
    )
    sweep_expired_agents.delay()
    wait_for(lambda: not Agent.objects.filter(id=old.id).exists(), "run the sweep")


def test_a_real_worker_makes_an_async_tools_call_and_records_it(
    worker: subprocess.Popen, queued: None, receiver: HTTPServer
) -> None:
    receiver.expect_request("/hook", method="POST").respond_with_json({"ticket": "T-1"})
    tool = ToolFactory(name="open_ticket", server_url=receiver.url_for("/hook"), is_async=True)
    session = SessionFactory(team=tool.team)
    run = async_to_sync(tool_execute)(tool=tool, arguments={"city": "Paris"}, session=session)
    assert run.execution.outcome == ExecutionOutcome.PENDING
    record = ToolExecution.objects.filter(id=run.execution.id)
    wait_for(lambda: record.filter(outcome=ExecutionOutcome.SUCCESS).exists(), "make the call")
    assert receiver.log[0][0].get_json()["session"]["id"] == str(session.id)
    assert record.get().response["body"] == {"ticket": "T-1"}
    assert session.events.filter(kind="tool_call", data__outcome="success").exists()


def _callback_session(url: str) -> Session:
    callback = {"callback_url": url, "send_data_on_end": True}
    document = AgentConfiguration.model_validate({"end_of_conversation": callback}).as_document()
    return SessionFactory(agent=AgentFactory(configuration=document))


def test_a_real_worker_delivers_the_end_of_conversation_callback_retrying_a_503(
    worker: subprocess.Popen, queued: None, receiver: HTTPServer
) -> None:
    receiver.expect_oneshot_request("/ended", method="POST").respond_with_data("busy", status=503)
    receiver.expect_request("/ended", method="POST").respond_with_json({"ok": True})
    session = _callback_session(receiver.url_for("/ended"))
    session_end(session=session, reason="user hung up")  # queued when it commits
    attempts = CallbackDelivery.objects.filter(session=session)
    wait_for(lambda: attempts.filter(outcome="success").exists(), "deliver the callback")
    assert list(attempts.order_by("attempt").values_list("attempt", "outcome")) == [
        (1, "http_error"),
        (2, "success"),
    ]
    for request, _ in receiver.log:
        verify_signature(settings.CALLBACK_SIGNING_SECRET, request.headers, request.get_data())
    assert receiver.log[-1][0].get_json()["session"]["end_reason"] == "user hung up"


def test_a_real_worker_reconciles_a_callback_whose_job_was_lost(
    worker: subprocess.Popen, queued: None, receiver: HTTPServer
) -> None:
    receiver.expect_request("/ended", method="POST").respond_with_data("")
    session = _callback_session(receiver.url_for("/ended"))
    # Ended two minutes ago, when its job could not be queued: nothing but the row says so.
    ended = timezone.now() - timedelta(minutes=2)
    Session.objects.filter(pk=session.pk).update(status="stopped", ended_at=ended)
    Agent.objects.filter(pk=session.agent_id).update(updated_at=ended - timedelta(hours=1))
    reconcile_queued_jobs.delay()
    attempts = CallbackDelivery.objects.filter(session=session, outcome="success")
    wait_for(attempts.exists, "reconcile and deliver the callback")
    assert len(receiver.log) == 1
