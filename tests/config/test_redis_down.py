"""With Redis refusing connections, or accepting them and never answering, every request still
answers within 5 s, what it wrote is saved, and the jobs it could not queue are found later by
the reconciler. No Redis server is needed: the broker and the cache point at a dead port, or at
a socket that the kernel accepts connections on and nobody ever reads."""

import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from celery import Celery
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_httpserver import HTTPServer

import config.celery
from agents.configuration import AgentConfiguration
from agents.models import Agent
from config.celery import app, enqueue
from sessions.callbacks import callbacks_unsent
from sessions.models import CallbackDelivery, Session, SessionStatus
from sessions.tasks import end_expired_sessions
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, SessionFactory, ToolFactory
from tools.execution import tool_execute
from tools.models import ExecutionOutcome
from tools.selectors import tool_executions_stranded

pytestmark = pytest.mark.django_db

PROMPTLY = 5.0
CommitCapture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture(params=["refusing", "silent"])
def dead_redis(request: pytest.FixtureRequest) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if request.param == "refusing":
        listener.close()  # nothing listens there now: connections are refused
    else:
        listener.listen(64)  # connections are accepted, and nothing is ever answered
    yield f"redis://127.0.0.1:{port}/0"
    listener.close()


@pytest.fixture
def redis_down(dead_redis: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    """The cache and the broker at the dead Redis, configured from the settings as a real
    install's are, and tasks sent to the broker instead of run in the test: by an app of its
    own, made current, so that no connection of the session's app is left pointing there."""
    timeouts = dict(settings.REDIS_TIMEOUTS)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead_redis,
            "OPTIONS": timeouts,
        }
    }
    settings.CELERY_BROKER_URL = dead_redis
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = timeouts
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(config.celery, "_broker_down_until", 0.0)
    down = Celery("parley-redis-down", set_as_current=True)
    down.config_from_object("django.conf:settings", namespace="CELERY")
    yield down
    app.set_current()
    down.close()


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_an_api_write_answers_promptly_and_is_saved(redis_down: Celery, api: Client) -> None:
    r, took = _timed(
        lambda: api.post("/v1/agents", {"name": "Resilient"}, content_type="application/json")
    )
    assert r.status_code == 201, r.content
    assert took < PROMPTLY
    assert Agent.objects.filter(name="Resilient").exists()


def test_dashboard_pages_answer_promptly(redis_down: Celery, cast: Cast) -> None:
    browser = signed_in(cast.member)
    for url in (reverse("agents:list"), reverse("conversations:list"), reverse("tools:list")):
        r, took = _timed(lambda url=url: browser.get(url))
        assert r.status_code == 200, url
        assert took < PROMPTLY, url


def test_ending_a_session_answers_promptly_and_its_callback_is_not_lost(
    redis_down: Celery,
    api: Client,
    cast: Cast,
    django_capture_on_commit_callbacks: CommitCapture,
    receiver: HTTPServer,
) -> None:
    document = AgentConfiguration.model_validate(
        {"end_of_conversation": {"callback_url": receiver.url_for("/ended")}}
    ).as_document()
    session = SessionFactory(agent=AgentFactory(team=cast.team, configuration=document))
    url = reverse("agenthuman:session_end", args=[session.id])

    def end() -> Any:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            r = api.post(url, {}, content_type="application/json")
        assert len(callbacks) == 1  # the callback's job, which could not be queued
        return r

    r, took = _timed(end)
    assert r.status_code == 200, r.content
    assert took < PROMPTLY
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert not CallbackDelivery.objects.exists()
    assert len(receiver.log) == 0
    later = timezone.now() + timedelta(minutes=2)
    assert callbacks_unsent(now=later) == [(str(session.id), 1)]


def test_an_async_tool_call_stays_pending_for_the_reconciler(
    redis_down: Celery, receiver: HTTPServer, django_capture_on_commit_callbacks: CommitCapture
) -> None:
    tool = ToolFactory(server_url=receiver.url_for("/tool"), is_async=True)

    def call() -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return async_to_sync(tool_execute)(tool=tool, arguments={"city": "Oslo"})

    run, took = _timed(call)
    assert took < PROMPTLY
    assert run.execution.outcome == ExecutionOutcome.PENDING
    later = timezone.now() + timedelta(minutes=2)
    assert tool_executions_stranded(now=later) == [str(run.execution.id)]


def test_a_failed_publish_is_logged_and_the_next_ones_do_not_wait(
    redis_down: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="config.celery"):
        sent, took = _timed(lambda: enqueue(end_expired_sessions))
    assert sent is False
    assert took < PROMPTLY
    assert "the reconciler will" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="config.celery"):
        again = enqueue(end_expired_sessions)
    assert again is False
    # It did not even try the broker: that message is said instead of trying.
    assert "was down a moment ago" in caplog.text
    assert "Could not queue" not in caplog.text


def test_a_session_ended_while_the_broker_was_down_is_still_stopped(
    redis_down: Celery, django_capture_on_commit_callbacks: CommitCapture
) -> None:
    """The sweep itself needs no broker; what it queues is what may wait."""
    session = SessionFactory(last_activity_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert end_expired_sessions.apply().get() == 1
    assert Session.objects.get(pk=session.pk).end_reason == "idle_timeout"
