"""Async tool calls whose worker died mid-call: the recovery sweep queues them again, with the
same idempotency key, and records them as failed after TOOL_EXECUTION_MAX_ATTEMPTS. The last
test kills a real worker (PostgreSQL and Redis, as in CI; skipped without them)."""

import os
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import Cast, signed_in
from tests.factories import SessionFactory, ToolFactory
from tests.real_worker import REAL_WORKER_MARKS, celery_worker, wait_for
from tools.execution import tool_execute
from tools.models import ExecutionOutcome, ExecutionSource, Tool, ToolExecution
from tools.services import tool_executions_recover
from tools.tasks import recover_tool_executions

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _async_tool(receiver: HTTPServer, **fields: Any) -> Tool:
    defaults = {"server_url": receiver.url_for("/hook"), "is_async": True, "timeout_seconds": 10}
    return ToolFactory(**(defaults | fields))


def _running(tool: Tool, *, taken_ago: timedelta, attempts: int) -> ToolExecution:
    """A call a worker took `taken_ago` and never finished."""
    return ToolExecution.objects.create(
        team=tool.team,
        tool=tool,
        tool_name=tool.name,
        session=SessionFactory(team=tool.team),
        source=ExecutionSource.AGENT,
        is_async=True,
        outcome=ExecutionOutcome.RUNNING,
        started_at=timezone.now() - taken_ago,
        claimed_at=timezone.now() - taken_ago,
        attempts=attempts,
        arguments={"city": "Paris"},
    )


@pytest.mark.django_db
def test_a_call_running_past_its_timeout_is_made_again_with_the_same_idempotency_key(
    receiver: HTTPServer, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.TOOL_RECOVERY_MARGIN = timedelta(seconds=60)
    receiver.expect_request("/hook", method="POST").respond_with_json({"ticket": "T-1"})
    tool = _async_tool(receiver, auth_config={"type": "hmac", "secret": SECRET})
    execution = _running(tool, taken_ago=timedelta(seconds=75), attempts=1)  # 10 s + 60 s ago

    with django_capture_on_commit_callbacks(execute=True):  # Celery is eager in tests
        assert recover_tool_executions() == 1

    execution.refresh_from_db()
    assert (execution.outcome, execution.attempts) == (ExecutionOutcome.SUCCESS, 2)
    headers = receiver.log[-1][0].headers
    assert headers["Idempotency-Key"] == headers["webhook-id"] == f"msg_{execution.id.hex}"
    assert execution.request["headers"]["Idempotency-Key"] == f"msg_{execution.id.hex}"


@pytest.mark.django_db
def test_a_call_within_its_timeout_and_margin_is_left_running(
    receiver: HTTPServer, settings: Any
) -> None:
    settings.TOOL_RECOVERY_MARGIN = timedelta(seconds=60)
    execution = _running(_async_tool(receiver), taken_ago=timedelta(seconds=65), attempts=1)
    assert tool_executions_recover().requeued == []
    execution.refresh_from_db()
    assert execution.outcome == ExecutionOutcome.RUNNING
    assert receiver.log == []


def test_after_the_last_attempt_the_call_is_recorded_failed_on_its_session(
    receiver: HTTPServer, settings: Any, cast: Cast
) -> None:
    settings.TOOL_EXECUTION_MAX_ATTEMPTS = 3
    tool = _async_tool(receiver, team=cast.team)
    execution = _running(tool, taken_ago=timedelta(minutes=10), attempts=3)

    assert tool_executions_recover().given_up == [str(execution.id)]

    execution.refresh_from_db()
    assert execution.outcome == ExecutionOutcome.WORKER_LOST
    assert "stopped before it finished, 3 times" in execution.error
    assert execution.finished_at is not None
    event = execution.session.events.get(kind="tool_call")
    assert event.data["outcome"] == "worker_lost"
    assert "may have received it" in event.data["result"]
    assert receiver.log == []  # a call that may have gone through is never made a fourth time
    page = signed_in(cast.viewer).get(f"/tools/{tool.id}/calls/{execution.id}/")
    assert "Worker lost" in page.content.decode()
    assert "stopped before it finished, 3 times" in page.content.decode()


@pytest.mark.django_db
def test_each_attempt_is_counted_until_the_call_is_given_up(
    receiver: HTTPServer, settings: Any
) -> None:
    """Queued again (the message is lost again, as with a worker that keeps dying), taken,
    lost: after the second attempt the sweep gives up."""
    settings.TOOL_EXECUTION_MAX_ATTEMPTS = 2
    execution = _running(_async_tool(receiver), taken_ago=timedelta(minutes=10), attempts=1)
    assert tool_executions_recover().requeued == [str(execution.id)]  # not run: no commit here
    execution.refresh_from_db()
    assert execution.outcome == ExecutionOutcome.PENDING

    ToolExecution.objects.filter(id=execution.id).update(  # a worker takes it, and dies
        outcome=ExecutionOutcome.RUNNING, attempts=2, claimed_at=timezone.now()
    )
    later = timezone.now() + timedelta(minutes=5)
    assert tool_executions_recover(now=later).given_up == [str(execution.id)]
    execution.refresh_from_db()
    assert execution.outcome == ExecutionOutcome.WORKER_LOST


@pytest.mark.django_db
def test_a_running_call_whose_tool_was_deleted_ends_refused(
    receiver: HTTPServer, django_capture_on_commit_callbacks: Any
) -> None:
    tool = _async_tool(receiver)
    execution = _running(tool, taken_ago=timedelta(minutes=10), attempts=1)
    tool.delete()
    with django_capture_on_commit_callbacks(execute=True):
        tool_executions_recover()
    execution.refresh_from_db()
    assert execution.outcome == ExecutionOutcome.REFUSED
    assert receiver.log == []


def test_the_recovery_sweep_is_scheduled_every_minute(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["recover-tool-executions"]
    assert entry["task"] == "tools.tasks.recover_tool_executions"
    assert entry["schedule"] == timedelta(minutes=1)


# A real worker, killed with SIGKILL while the webhook holds its call.


def _with_a_real_worker(test: Callable[..., None]) -> Callable[..., None]:
    for mark in REAL_WORKER_MARKS:
        test = mark(test)
    return test


@_with_a_real_worker
def test_a_call_whose_worker_was_killed_is_made_again_by_a_new_worker(
    receiver: HTTPServer,
) -> None:
    first_call, release = threading.Event(), threading.Event()
    seen: list[dict[str, str]] = []

    def hang(request: Request) -> Response:
        seen.append(dict(request.headers))
        first_call.set()
        release.wait(timeout=60)  # the worker is killed meanwhile
        return Response("too late", status=200)

    def answer(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response('{"ticket": "T-7"}', content_type="application/json")

    receiver.expect_oneshot_request("/hook", method="POST").respond_with_handler(hang)
    receiver.expect_request("/hook", method="POST").respond_with_handler(answer)
    tool = _async_tool(receiver, timeout_seconds=30, auth_config={"type": "hmac", "secret": SECRET})
    session = SessionFactory(team=tool.team)
    allowed = {"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"}
    try:
        with celery_worker(**allowed) as worker:
            run = async_to_sync(tool_execute)(
                tool=tool, arguments={"city": "Oslo"}, session=session
            )
            assert first_call.wait(timeout=30), "the worker did not call the webhook within 30 s"
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=20)
        record = ToolExecution.objects.filter(id=run.execution.id)
        assert record.get().outcome == ExecutionOutcome.RUNNING  # nothing else would end it
        # As if the tool's timeout and the margin had passed: the sweep sees a lost worker.
        record.update(claimed_at=timezone.now() - timedelta(minutes=5))
        with celery_worker(**allowed):
            recover_tool_executions.delay()
            wait_for(lambda: record.filter(outcome=ExecutionOutcome.SUCCESS).exists(), "retry")
    finally:
        release.set()

    assert len(seen) == 2
    first, second = seen
    key = f"msg_{run.execution.id.hex}"
    assert first["Idempotency-Key"] == second["Idempotency-Key"] == key
    assert first["Webhook-Id"] == second["Webhook-Id"] == key
    execution = record.get()
    assert (execution.attempts, execution.response["body"]) == (2, {"ticket": "T-7"})
    assert session.events.filter(kind="tool_call", data__outcome="success").exists()
