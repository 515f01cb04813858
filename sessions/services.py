from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from parley.errors import Conflict

from .models import TRANSITIONS, EventKind, Session, SessionEvent, SessionStatus, SessionType


@transaction.atomic
def session_create(
    *, agent: Agent, type: SessionType, metadata: dict[str, Any] | None = None
) -> Session:
    session = Session(
        team_id=agent.team_id,
        agent=agent,
        agent_name=agent.name,
        type=type,
        metadata=metadata or {},
    )
    session.full_clean(exclude=["team", "agent"])
    session.save()
    session_event_append(session=session, kind=EventKind.STATUS_CHANGE, data={"status": "starting"})
    return session


@transaction.atomic
def session_event_append(
    *, session: Session, kind: EventKind, data: dict[str, Any]
) -> SessionEvent:
    """Append to the timeline. The session row is locked so concurrent writers get distinct,
    gapless sequence numbers."""
    locked = Session.objects.select_for_update().only("last_event_seq").get(pk=session.pk)
    seq = locked.last_event_seq + 1
    Session.objects.filter(pk=session.pk).update(last_event_seq=seq)
    session.last_event_seq = seq
    return SessionEvent.objects.create(session=session, seq=seq, kind=kind, data=data)


@transaction.atomic
def session_status_set(*, session: Session, status: SessionStatus, reason: str = "") -> Session:
    """Move the session along its lifecycle and record the change on the timeline."""
    current = (
        Session.objects.select_for_update().values_list("status", flat=True).get(pk=session.pk)
    )
    if status not in TRANSITIONS[current]:
        raise Conflict(f"A {current} session cannot become {status}.")
    session.status = status
    fields = ["status"]
    if status in (SessionStatus.STOPPED, SessionStatus.FAILED):
        session.ended_at, session.end_reason = timezone.now(), reason
        fields += ["ended_at", "end_reason"]
    session.save(update_fields=fields)
    data = {"status": str(status), "from": current} | ({"reason": reason} if reason else {})
    session_event_append(session=session, kind=EventKind.STATUS_CHANGE, data=data)
    return session


def _transcript(session: Session) -> str:
    """ "User: …\nAssistant: …", from the recorded messages, failure messages left out."""
    lines = []
    for data in session.events.filter(kind=EventKind.MESSAGE).values_list("data", flat=True):
        said = isinstance(data, dict) and data.get("role") in ("user", "assistant")
        if said and not data.get("failure"):
            lines.append(f"{str(data['role']).capitalize()}: {data.get('content', '')}")
    return "\n".join(lines)


def session_transcript(*, session: Session) -> str:
    return _transcript(session)


@transaction.atomic
def session_end(
    *, session: Session, reason: str, ended_by: dict[str, Any] | None = None
) -> tuple[Session, bool]:
    """Stop the session, recording why and anything the caller sent with its end (Agent Human's
    duration, transcript, metadata). Ending an ended session changes nothing: (session, False)."""
    locked = Session.objects.select_for_update().get(pk=session.pk)
    if locked.is_over:
        return locked, False
    if ended_by:
        locked.metadata = {**locked.metadata, "end": ended_by}
        locked.save(update_fields=["metadata"])
    session_status_set(session=locked, status=SessionStatus.STOPPED, reason=reason)
    return locked, True
