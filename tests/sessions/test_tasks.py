"""The sessions' background jobs: the lifecycle sweep, the end-of-conversation callback (to a
real loopback receiver, its signature checked by a Standard Webhooks verifier written here), and
the reconciler that queues again what never reached the broker."""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agents.configuration import AgentConfiguration
from agents.models import Agent
from config.celery import app
from sessions.callbacks import callback_retry_delay, callbacks_unsent, session_callback_deliver
from sessions.models import CallbackDelivery, CallbackOutcome, EventKind, Session, SessionStatus
from sessions.services import session_end, session_event_append, session_status_set
from sessions.tasks import deliver_end_of_conversation, end_expired_sessions, reconcile_queued_jobs
from tests.factories import AgentFactory, SessionFactory, ToolFactory
from tools.execution import tool_execute
from tools.models import ExecutionOutcome, ToolExecution

pytestmark = pytest.mark.django_db

CommitCapture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def _agent(**config: Any) -> Agent:
    return AgentFactory(configuration=AgentConfiguration.model_validate(config).as_document())


def _callback_agent(url: str, *, send_data: bool = False) -> Agent:
    return _agent(end_of_conversation={"callback_url": url, "send_data_on_end": send_data})


def _open_session(agent: Agent, **fields: Any) -> Session:
    return SessionFactory(agent=agent, status=SessionStatus.RUNNING, **fields)


def _ago(seconds: float) -> Any:
    return timezone.now() - timedelta(seconds=seconds)


# The lifecycle sweep.


def test_the_sweep_ends_a_session_idle_past_its_agents_timeout() -> None:
    agent = _agent(idle_timeout_seconds=60)
    idle = _open_session(agent, last_activity_at=_ago(61))
    talking = _open_session(agent, last_activity_at=_ago(30))
    assert end_expired_sessions.delay().get() == 1
    idle.refresh_from_db()
    assert (idle.status, idle.end_reason) == (SessionStatus.STOPPED, "idle_timeout")
    assert idle.events.filter(kind=EventKind.STATUS_CHANGE, data__reason="idle_timeout").exists()
    talking.refresh_from_db()
    assert talking.status == SessionStatus.RUNNING


def test_the_sweep_ends_a_session_past_its_maximum_duration_however_busy() -> None:
    agent = _agent(max_duration_seconds=600)
    long = _open_session(agent, started_at=_ago(601), last_activity_at=_ago(1))
    short = _open_session(agent, started_at=_ago(500), last_activity_at=_ago(1))
    assert end_expired_sessions.delay().get() == 1
    long.refresh_from_db()
    short.refresh_from_db()
    assert (long.status, long.end_reason) == (SessionStatus.STOPPED, "max_duration")
    assert short.status == SessionStatus.RUNNING


def test_a_session_still_starting_is_ended_when_nobody_speaks() -> None:
    session = SessionFactory(agent=_agent(idle_timeout_seconds=10), last_activity_at=_ago(11))
    assert session.status == SessionStatus.STARTING
    end_expired_sessions.delay()
    session.refresh_from_db()
    assert session.end_reason == "idle_timeout"


def test_a_reply_under_way_counts_as_activity() -> None:
    agent = _agent(idle_timeout_seconds=60)
    session = _open_session(agent, last_activity_at=_ago(90), replying_since=_ago(20))
    assert end_expired_sessions.delay().get() == 0
    session.refresh_from_db()
    assert session.status == SessionStatus.RUNNING


def test_a_session_whose_agent_was_deleted_has_the_default_limits() -> None:
    session = _open_session(AgentFactory(), last_activity_at=_ago(299))
    stale = _open_session(AgentFactory(), last_activity_at=_ago(301))
    Agent.objects.filter(id__in=[session.agent_id, stale.agent_id]).delete()
    assert end_expired_sessions.delay().get() == 1
    stale.refresh_from_db()
    assert stale.end_reason == "idle_timeout"


def test_ended_sessions_are_left_alone() -> None:
    session = _open_session(_agent(idle_timeout_seconds=10), last_activity_at=_ago(3600))
    session_status_set(session=session, status=SessionStatus.FAILED, reason="crashed")
    assert end_expired_sessions.delay().get() == 0
    session.refresh_from_db()
    assert (session.status, session.end_reason) == (SessionStatus.FAILED, "crashed")


def test_the_periodic_jobs_are_scheduled() -> None:
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "sessions.tasks.end_expired_sessions",
        "sessions.tasks.reconcile_queued_jobs",
        "analytics.tasks.rollup_agent_daily_stats",
        "agents.tasks.sweep_expired_agents",
    } <= tasks


# The end-of-conversation callback.


def verify_signature(secret: str, headers: Any, body: bytes) -> None:
    """Standard Webhooks, checked as a receiver would: the signed content is
    "{webhook-id}.{webhook-timestamp}.{body}", the key the base64 after "whsec_", the signature
    header a space-separated list of "v1,<base64 HMAC-SHA256>"."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < 300, "the timestamp is not current"
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [
        s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    assert any(hmac.compare_digest(expected, s) for s in given), "the signature does not verify"


def _say(session: Session, role: str, content: str, **extra: Any) -> None:
    data = {"role": role, "content": content} | extra
    session_event_append(session=session, kind=EventKind.MESSAGE, data=data)


def _end(session: Session, capture: CommitCapture, reason: str = "ended by the client") -> None:
    with capture(execute=True):
        session_end(session=session, reason=reason)


@pytest.fixture
def capture(django_capture_on_commit_callbacks: CommitCapture) -> CommitCapture:
    return django_capture_on_commit_callbacks


@pytest.fixture
def retried() -> Iterator[None]:
    """Eager tasks make their retries at once. (Celery raises the retry out of an eager task
    that propagates its errors, instead of making it.)"""
    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = propagates


def test_an_ended_session_is_posted_signed_with_its_transcript(
    receiver: HTTPServer, capture: CommitCapture
) -> None:
    receiver.expect_request("/ended", method="POST").respond_with_json({"ok": True})
    session = _open_session(_callback_agent(receiver.url_for("/ended"), send_data=True))
    session.metadata = {"customer": "c-42"}
    session.save()
    _say(session, "user", "Where is my parcel?")
    _say(session, "assistant", "On its way.", ttft_ms=210)
    _say(session, "assistant", "Sorry, something went wrong.", failure=True)
    _end(session, capture, reason="user hung up")

    request, _ = receiver.log[0]
    verify_signature(settings.CALLBACK_SIGNING_SECRET, request.headers, request.get_data())
    sent = request.get_json()
    assert sent["event"] == "session.ended"
    assert sent["session"]["id"] == str(session.id)
    assert sent["session"]["agent_id"] == str(session.agent_id)
    assert sent["session"]["status"] == "stopped"
    assert sent["session"]["end_reason"] == "user hung up"
    assert sent["session"]["metadata"] == {"customer": "c-42"}
    assert sent["session"]["duration_seconds"] >= 0
    assert sent["transcript"] == "User: Where is my parcel?\nAssistant: On its way."
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("user", "Where is my parcel?"),
        ("assistant", "On its way."),
    ]
    delivery = CallbackDelivery.objects.get(session=session)
    assert (delivery.attempt, delivery.outcome, delivery.status_code) == (1, "success", 200)
    assert delivery.delivered
    assert delivery.next_attempt_at is None
    assert delivery.response is not None
    assert delivery.response["body"] == {"ok": True}
    assert delivery.request["headers"]["webhook-id"] == f"msg_{session.id.hex}"


def test_without_send_data_on_end_the_conversation_stays_home(
    receiver: HTTPServer, capture: CommitCapture
) -> None:
    receiver.expect_request("/ended", method="POST").respond_with_data("")
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    _say(session, "user", "My card number is 4242…")
    _end(session, capture)
    sent = receiver.log[0][0].get_json()
    assert "transcript" not in sent
    assert "messages" not in sent
    assert "4242" not in json.dumps(sent)


def test_a_503_is_retried_with_the_same_message_id_until_it_is_taken(
    receiver: HTTPServer, capture: CommitCapture, retried: None
) -> None:
    receiver.expect_oneshot_request("/ended").respond_with_data("busy", status=503)
    receiver.expect_request("/ended").respond_with_json({"ok": True})
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    _end(session, capture)

    first, second = CallbackDelivery.objects.filter(session=session).order_by("attempt")
    assert (first.outcome, first.status_code) == (CallbackOutcome.HTTP_ERROR, 503)
    assert "503" in first.error
    assert (second.attempt, second.outcome) == (2, CallbackOutcome.SUCCESS)
    assert first.next_attempt_at is None
    assert second.next_attempt_at is None
    ids = {request.headers["webhook-id"] for request, _ in receiver.log}
    assert len(receiver.log) == 2
    assert ids == {f"msg_{session.id.hex}"}


def test_a_retry_waits_longer_each_time() -> None:
    delays = [callback_retry_delay(attempt=n).total_seconds() for n in (1, 2, 3)]
    base = settings.CALLBACK_RETRY_BASE_SECONDS
    assert delays == [base, 2 * base, 4 * base]


def test_a_failure_worth_retrying_is_given_a_due_time(receiver: HTTPServer) -> None:
    receiver.expect_request("/ended").respond_with_data("busy", status=503)
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    session_status_set(session=session, status=SessionStatus.STOPPED, reason="done")
    delivery = session_callback_deliver(session_id=session.id)
    assert delivery is not None
    assert delivery.next_attempt_at is not None
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert settings.CALLBACK_RETRY_BASE_SECONDS - 5 < wait <= settings.CALLBACK_RETRY_BASE_SECONDS


def test_the_attempts_stop_at_the_maximum(
    receiver: HTTPServer, capture: CommitCapture, settings: Any, retried: None
) -> None:
    settings.CALLBACK_MAX_ATTEMPTS = 3
    receiver.expect_request("/ended").respond_with_data("down", status=502)
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    _end(session, capture)
    attempts = list(CallbackDelivery.objects.filter(session=session).order_by("attempt"))
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert all(a.outcome == CallbackOutcome.HTTP_ERROR for a in attempts)
    assert all(a.next_attempt_at is None for a in attempts)
    assert len(receiver.log) == 3


def test_a_404_is_not_retried(receiver: HTTPServer, capture: CommitCapture) -> None:
    receiver.expect_request("/gone").respond_with_data("no such hook", status=404)
    session = _open_session(_callback_agent(receiver.url_for("/gone")))
    _end(session, capture)
    delivery = CallbackDelivery.objects.get(session=session)
    assert (delivery.outcome, delivery.status_code) == (CallbackOutcome.HTTP_ERROR, 404)
    assert delivery.next_attempt_at is None
    assert len(receiver.log) == 1


def test_a_private_address_is_refused_recorded_and_not_retried(capture: CommitCapture) -> None:
    session = _open_session(_callback_agent("http://10.1.2.3/hook"))
    _end(session, capture)
    delivery = CallbackDelivery.objects.get(session=session)
    assert delivery.outcome == CallbackOutcome.REFUSED
    assert "private address" in delivery.error
    assert delivery.next_attempt_at is None
    assert delivery.status_code is None


def test_credentials_in_the_callback_url_are_used_but_not_recorded(
    receiver: HTTPServer, capture: CommitCapture
) -> None:
    receiver.expect_request("/ended").respond_with_data("")
    url = receiver.url_for("/ended").replace("http://", "http://hook:s3cret-pass@")
    session = _open_session(_callback_agent(url))
    _end(session, capture)
    assert receiver.log[0][0].authorization is not None
    assert receiver.log[0][0].authorization.password == "s3cret-pass"
    delivery = CallbackDelivery.objects.get(session=session)
    assert "s3cret-pass" not in delivery.url + json.dumps(delivery.request)


def test_the_task_run_twice_delivers_once(receiver: HTTPServer, capture: CommitCapture) -> None:
    receiver.expect_request("/ended").respond_with_data("")
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    _end(session, capture)
    assert deliver_end_of_conversation.delay(str(session.id)).get() is None
    assert deliver_end_of_conversation.delay(str(session.id), 2).get() is None
    assert len(receiver.log) == 1
    assert CallbackDelivery.objects.filter(session=session).count() == 1


def test_ending_an_ended_session_sends_nothing_more(
    receiver: HTTPServer, capture: CommitCapture
) -> None:
    receiver.expect_request("/ended").respond_with_data("")
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    _end(session, capture)
    with capture(execute=True) as callbacks:
        session_end(session=session, reason="again")
    assert callbacks == []
    assert len(receiver.log) == 1


def test_no_callback_configured_queues_nothing(capture: CommitCapture) -> None:
    session = _open_session(AgentFactory())
    with capture(execute=True) as callbacks:
        session_end(session=session, reason="done")
    assert callbacks == []
    assert not CallbackDelivery.objects.exists()


def test_a_slow_receiver_is_recorded_as_a_timeout(
    receiver: HTTPServer, capture: CommitCapture, settings: Any
) -> None:
    settings.CALLBACK_TIMEOUT_SECONDS = 0.5
    settings.CALLBACK_MAX_ATTEMPTS = 1
    answer = threading.Event()

    def slow(request: Request) -> Response:
        answer.wait(timeout=30)  # answers once Parley gave up: a timeout, not a late success
        return Response("late")

    receiver.expect_request("/slow").respond_with_handler(slow)
    session = _open_session(_callback_agent(receiver.url_for("/slow")))
    _end(session, capture)
    answer.set()
    delivery = CallbackDelivery.objects.get(session=session)
    assert delivery.outcome == CallbackOutcome.TIMEOUT
    assert delivery.duration_ms is not None
    deadline = time.monotonic() + 30  # the receiver logs the call when its handler returns
    while not receiver.log and time.monotonic() < deadline:
        time.sleep(0.01)


# The reconciler: jobs whose message never reached the broker.


def _ended_without_callback(agent: Agent, ended_ago: float) -> Session:
    """Ended while the broker was down: the row says so, no attempt was made. Its agent is
    older still."""
    Agent.objects.filter(pk=agent.pk).update(updated_at=_ago(ended_ago + 60))
    session = _open_session(agent)
    session_end(session=session, reason="done")  # its on-commit job is never run here
    Session.objects.filter(pk=session.pk).update(ended_at=_ago(ended_ago))
    return session


def test_the_reconciler_sends_a_callback_whose_job_was_lost(receiver: HTTPServer) -> None:
    receiver.expect_request("/ended").respond_with_data("")
    agent = _callback_agent(receiver.url_for("/ended"))
    lost = _ended_without_callback(agent, ended_ago=120)
    just_now = _ended_without_callback(agent, ended_ago=10)
    long_ago = _ended_without_callback(agent, ended_ago=3 * 86400)
    _ended_without_callback(AgentFactory(), ended_ago=120)  # no callback configured
    before = _ended_without_callback(_agent(), ended_ago=300)
    Agent.objects.filter(pk=before.agent_id).update(  # given a callback since
        configuration=agent.configuration, updated_at=_ago(200)
    )
    assert reconcile_queued_jobs.delay().get() == 1
    assert [r.get_json()["session"]["id"] for r, _ in receiver.log] == [str(lost.id)]
    assert CallbackDelivery.objects.get().session_id == lost.id
    assert not CallbackDelivery.objects.filter(session__in=[just_now, long_ago, before]).exists()


def test_the_reconciler_makes_a_retry_that_never_came(
    receiver: HTTPServer, capture: CommitCapture, settings: Any
) -> None:
    receiver.expect_oneshot_request("/ended").respond_with_data("busy", status=503)
    receiver.expect_request("/ended").respond_with_data("")
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    session_status_set(session=session, status=SessionStatus.STOPPED, reason="done")
    first = session_callback_deliver(session_id=session.id)  # its retry message is lost
    assert first is not None
    CallbackDelivery.objects.filter(pk=first.pk).update(next_attempt_at=_ago(90))
    assert callbacks_unsent() == [(str(session.id), 2)]
    reconcile_queued_jobs.delay()
    assert list(session.callback_deliveries.values_list("attempt", "outcome")) == [
        (1, "http_error"),
        (2, "success"),
    ]
    assert callbacks_unsent() == []


def test_an_attempt_whose_worker_died_is_closed_and_followed(receiver: HTTPServer) -> None:
    receiver.expect_request("/ended").respond_with_data("")
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    session_status_set(session=session, status=SessionStatus.STOPPED, reason="done")
    CallbackDelivery.objects.create(
        session=session, team=session.team, url="x", attempt=1, next_attempt_at=_ago(90)
    )
    reconcile_queued_jobs.delay()
    first, second = session.callback_deliveries.order_by("attempt")
    assert (first.outcome, first.next_attempt_at) == (CallbackOutcome.UNREACHABLE, None)
    assert "never finished" in first.error
    assert second.outcome == CallbackOutcome.SUCCESS


def test_a_callback_removed_since_the_failure_is_let_go(receiver: HTTPServer) -> None:
    session = _open_session(_callback_agent(receiver.url_for("/ended")))
    session_status_set(session=session, status=SessionStatus.STOPPED, reason="done")
    CallbackDelivery.objects.create(
        session=session,
        team=session.team,
        url="x",
        attempt=1,
        outcome=CallbackOutcome.TIMEOUT,
        next_attempt_at=_ago(90),
    )
    Agent.objects.filter(pk=session.agent_id).update(configuration={})
    reconcile_queued_jobs.delay()
    assert len(receiver.log) == 0
    assert session.callback_deliveries.get().next_attempt_at is None
    assert callbacks_unsent() == []


@pytest.fixture
def async_call(receiver: HTTPServer) -> ToolExecution:
    """An async tool's call, queued while the broker was down: pending, its job never sent."""
    receiver.expect_request("/tool").respond_with_json({"done": True})
    tool = ToolFactory(server_url=receiver.url_for("/tool"), is_async=True)
    run = async_to_sync(tool_execute)(tool=tool, arguments={"city": "Oslo"})
    return run.execution


def test_the_reconciler_runs_a_tool_call_left_pending(async_call: ToolExecution) -> None:
    ToolExecution.objects.filter(pk=async_call.pk).update(started_at=_ago(90))
    assert reconcile_queued_jobs.delay().get() == 1
    async_call.refresh_from_db()
    assert async_call.outcome == ExecutionOutcome.SUCCESS
    assert async_call.response is not None
    assert async_call.response["body"] == {"done": True}


def test_a_call_queued_a_moment_ago_is_left_to_its_own_job(async_call: ToolExecution) -> None:
    assert reconcile_queued_jobs.delay().get() == 0
    async_call.refresh_from_db()
    assert async_call.outcome == ExecutionOutcome.PENDING
