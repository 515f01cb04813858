"""The end-of-conversation callback: when a session ends and its agent has an
`end_of_conversation.callback_url`, a POST signed with Standard Webhooks headers, made through
parley.outbound (so the tools' address policy applies), retried with backoff, one
CallbackDelivery row per attempt; and the reconciler's view of callbacks never sent."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from standardwebhooks import Webhook

from parley.outbound import Delivery, OutboundClient, OutboundRequest
from parley.records import body_capped, reply_record, url_without_credentials

from .models import CallbackDelivery, CallbackOutcome, EventKind, Session
from .services import _callback_config, session_callback_url, session_transcript
from .signals import callback_composing

RECONCILE_AFTER = timedelta(minutes=1)
# A callback that waits for the session's analysis (services.session_callback_held) is sent by
# the reconciler after this, analysis or not, should the analysis never finish.
CALLBACK_HOLD_MAX = timedelta(minutes=15)
# How far back the reconciler looks for jobs that never reached the broker.
RECONCILE_WINDOW = timedelta(days=1)
ABANDONED = "the attempt never finished (its worker stopped); tried again"


def _record_body(value: Any) -> Any:
    return body_capped(value, settings.TOOL_RECORD_BODY_MAX_CHARS)


def _messages(session: Session) -> list[dict[str, Any]]:
    """What was said, as session_transcript reads it, one entry per message."""
    events = session.events.filter(kind=EventKind.MESSAGE).values_list("data", "created_at")
    return [
        {"role": data["role"], "content": data.get("content", ""), "at": at.isoformat()}
        for data, at in events
        if isinstance(data, dict)
        and data.get("role") in ("user", "assistant")
        and not data.get("failure")
    ]


def callback_payload(*, session: Session) -> dict[str, Any]:
    """The body of the `session.ended` callback; the transcript and messages only when the
    agent's end_of_conversation.send_data_on_end is on."""
    ended = session.ended_at
    shape = {
        "id": str(session.id),
        "agent_id": str(session.agent_id) if session.agent_id else None,
        "agent_name": session.agent_name,
        "type": session.type,
        "status": session.status,
        "started_at": session.started_at.isoformat(),
        "ended_at": ended.isoformat() if ended else None,
        "duration_seconds": round((ended - session.started_at).total_seconds(), 3)
        if ended
        else None,
        "end_reason": session.end_reason,
        "metadata": session.metadata,
    }
    payload: dict[str, Any] = {"event": "session.ended", "session": shape}
    if _callback_config(session).get("send_data_on_end"):
        payload["transcript"] = session_transcript(session=session)
        payload["messages"] = _messages(session)
    responses: list[tuple[Any, Any]] = callback_composing.send(sender=Session, session=session)
    for _receiver, added in responses:
        payload |= added or {}
    return payload


def callback_signature_headers(*, message_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks: HMAC-SHA256 of "{id}.{timestamp}.{body}" with CALLBACK_SIGNING_SECRET."""
    now = datetime.now(UTC)
    signature = Webhook(settings.CALLBACK_SIGNING_SECRET).sign(message_id, now, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def _callback_request(session: Session, url: str) -> tuple[OutboundRequest, dict[str, Any]]:
    """The request, and how the record shows it. The id is the session's, the same on every
    attempt, so a receiver can tell a retry from a new event."""
    payload = callback_payload(session=session)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    headers |= callback_signature_headers(message_id=f"msg_{session.id.hex}", body=body)
    shown = {
        "url": url_without_credentials(url),
        "method": "POST",
        "headers": headers,
        "payload": _record_body(payload),
    }
    return OutboundRequest("POST", url, headers, body), shown


@transaction.atomic
def _callback_claim(session_id: UUID, attempt: int) -> tuple[Session, CallbackDelivery] | None:
    """Insert attempt `attempt`'s row if it is the one due; the session row's lock makes two
    workers given the same attempt take turns, and the second finds it made."""
    session = (
        Session.objects.select_for_update(of=("self",))
        .select_related("agent")
        .filter(pk=session_id)
        .first()
    )
    if session is None or not session.is_over:
        return None
    attempts = CallbackDelivery.objects.filter(session=session)
    latest = attempts.order_by("-attempt").first()
    if attempt != (latest.attempt if latest else 0) + 1:
        return None  # made already: the same message delivered twice
    if latest is not None and latest.next_attempt_at is None:
        return None  # delivered, or given up
    url = session_callback_url(session=session)
    if url is None or attempt > settings.CALLBACK_MAX_ATTEMPTS:
        attempts.update(next_attempt_at=None)  # nothing more will be tried
        return None
    if latest is not None:  # followed now, so no longer due
        if latest.outcome == CallbackOutcome.PENDING:
            latest.outcome, latest.error = CallbackOutcome.UNREACHABLE, ABANDONED
        latest.next_attempt_at = None
        latest.save(update_fields=["next_attempt_at", "outcome", "error"])
    # Should this attempt's worker die mid-call, the reconciler starts the next after this.
    due = timezone.now() + timedelta(seconds=settings.CALLBACK_TIMEOUT_SECONDS) + RECONCILE_AFTER
    delivery = CallbackDelivery(
        session=session,
        team_id=session.team_id,
        url=url_without_credentials(url),
        attempt=attempt,
        next_attempt_at=due,
    )
    delivery.full_clean(exclude=["session", "team"], validate_unique=False)
    delivery.save()
    return session, delivery


def callback_retry_delay(*, attempt: int) -> timedelta:
    """The wait before the attempt after `attempt`: CALLBACK_RETRY_BASE_SECONDS, doubling."""
    return timedelta(seconds=settings.CALLBACK_RETRY_BASE_SECONDS * 2 ** (attempt - 1))


def _callback_settle(
    delivery: CallbackDelivery, result: Delivery, shown: dict[str, Any]
) -> CallbackDelivery:
    error = result.error
    delivery.outcome = error.outcome if error else CallbackOutcome.SUCCESS
    delivery.status_code = result.status
    delivery.error = error.message if error else ""
    delivery.duration_ms = round(result.duration_ms)
    delivery.request, delivery.response = (
        shown,
        reply_record(result, limit=settings.TOOL_RECORD_BODY_MAX_CHARS),
    )
    again = error is not None and error.retryable
    if again and delivery.attempt < settings.CALLBACK_MAX_ATTEMPTS:
        delivery.next_attempt_at = timezone.now() + callback_retry_delay(attempt=delivery.attempt)
    else:
        delivery.next_attempt_at = None
    delivery.save()
    return delivery


async def _post(request: OutboundRequest) -> Delivery:
    async with OutboundClient() as client:
        return await client.send(request, timeout=settings.CALLBACK_TIMEOUT_SECONDS)


def session_callback_deliver(*, session_id: UUID, attempt: int = 1) -> CallbackDelivery | None:
    """Make attempt `attempt` of the session's end-of-conversation callback, and record it.

    None when there is nothing to do: no callback configured, already delivered or given up, or
    this attempt already made (its task delivered twice). The returned attempt's
    `next_attempt_at` says when to try again; null when nothing follows (delivered, refused by
    the address policy, a 4xx, or the last attempt)."""
    claimed = _callback_claim(session_id, attempt)
    if claimed is None:
        return None
    session, delivery = claimed
    request, shown = _callback_request(session, str(session_callback_url(session=session)))
    return _callback_settle(delivery, async_to_sync(_post)(request), shown)


# The reconciler: jobs committed to the database whose message never reached the broker.


def callbacks_unsent(*, now: datetime | None = None) -> list[tuple[str, int]]:
    """(session id, attempt) of each callback to queue again: sessions ended over a minute ago
    with a callback and no attempt at all, and attempts whose follow-up is over a minute late.
    A session that ended before its agent was last changed is left out: a callback added to an
    agent is not sent for the day of conversations it had before."""
    now = now or timezone.now()
    flag = "agent__configuration__analysis__include_in_callback"
    # A missing key compares as NULL, which ~Q would leave out: agents stored before analysis.
    held = Q(**{flag: True}) & Q(**{f"{flag}__isnull": False})
    never = (
        Session.objects.filter(
            ended_at__gte=now - RECONCILE_WINDOW,
            ended_at__gt=F("agent__updated_at"),
            agent__configuration__end_of_conversation__callback_url__startswith="http",
            simulated=False,  # a test run's session sends none (session_end)
        )
        .filter(
            Q(ended_at__lt=now - RECONCILE_AFTER) & ~held | Q(ended_at__lt=now - CALLBACK_HOLD_MAX)
        )
        .filter(~Exists(CallbackDelivery.objects.filter(session=OuterRef("pk"))))
        .values_list("id", flat=True)
    )
    later = CallbackDelivery.objects.filter(
        session=OuterRef("session"), attempt__gt=OuterRef("attempt")
    )
    late = (
        CallbackDelivery.objects.filter(next_attempt_at__lt=now - RECONCILE_AFTER)
        .filter(~Exists(later))
        .values_list("session_id", "attempt")
    )
    return [(str(s), 1) for s in never] + [(str(s), attempt + 1) for s, attempt in late]
