from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from agents.configuration import AgentConfiguration, AnalysisConfig
from agents.models import Agent, AgentVersion
from config.celery import enqueue_on_commit
from parley.errors import Conflict

from .models import (
    TRANSITIONS,
    Channel,
    EventKind,
    Session,
    SessionEvent,
    SessionStatus,
    SessionType,
)
from .signals import session_ended
from .tasks import deliver_end_of_conversation


@transaction.atomic
def session_create(
    *,
    agent: Agent,
    type: SessionType,
    metadata: dict[str, Any] | None = None,
    visitor: str | None = None,
    version: AgentVersion | None = None,
    channel: Channel = Channel.UNKNOWN,
    simulated: bool = False,
) -> Session:
    """A new session, starting, pinned to `version` (by default the agent's published one),
    from `channel` (where it was started from, for analytics); `simulated` for a test run's.
    `visitor`: an anonymous starter's address key (sessions.limits), kept on its first event,
    by which the limits on anonymous sessions count it."""
    session = Session(
        team_id=agent.team_id,
        agent=agent,
        agent_name=agent.name,
        agent_version_id=version.pk if version is not None else agent.published_version_id,
        type=type,
        channel=channel,
        metadata=metadata or {},
        simulated=simulated,
    )
    session.full_clean(exclude=["team", "agent", "agent_version"])
    session.save()
    data = {"status": "starting"} | ({"visitor": visitor} if visitor is not None else {})
    session_event_append(session=session, kind=EventKind.STATUS_CHANGE, data=data)
    return session


@transaction.atomic(savepoint=False)
def session_event_append(
    *, session: Session, kind: EventKind, data: dict[str, Any]
) -> SessionEvent:
    """Append to the timeline. The session row is locked so concurrent writers get distinct,
    gapless sequence numbers."""
    locked = Session.objects.select_for_update().only("last_event_seq").get(pk=session.pk)
    seq = locked.last_event_seq + 1
    Session.objects.filter(pk=session.pk).update(last_event_seq=seq)
    return session_event_insert(session=session, seq=seq, kind=kind, data=data)


def session_event_insert(
    *, session: Session, seq: int, kind: EventKind, data: dict[str, Any]
) -> SessionEvent:
    """The event numbered `seq`, a number the caller took from the session's row under its lock
    (in the transaction that stored it as `last_event_seq`)."""
    session.last_event_seq = seq
    return SessionEvent.objects.create(session=session, seq=seq, kind=kind, data=data)


@transaction.atomic
def session_status_set(
    *,
    session: Session,
    status: SessionStatus,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> Session:
    """Move the session along its lifecycle and record the change on the timeline, with
    `details` if given."""
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
    data |= details or {}
    session_event_append(session=session, kind=EventKind.STATUS_CHANGE, data=data)
    if session.is_over:
        session_ended.send(sender=Session, session=session)
    return session


def _transcript(session: Session, before_seq: int | None = None) -> str:
    """ "User: …\nAssistant: …", from the recorded messages, failure messages left out."""
    lines = []
    messages = session.events.filter(kind=EventKind.MESSAGE)
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    for data in messages.order_by("seq").values_list("data", flat=True):
        said = isinstance(data, dict) and data.get("role") in ("user", "assistant")
        if said and not data.get("failure"):
            lines.append(f"{str(data['role']).capitalize()}: {data.get('content', '')}")
    return "\n".join(lines)


def session_transcript(*, session: Session) -> str:
    return _transcript(session)


@dataclass(frozen=True)
class Ending:
    duration: int | None
    transcript: str


def session_ending(*, session: Session) -> Ending:
    """How the session ended, the same however often it is asked: the duration and transcript
    sent with its end, or else the time from start to end and what was said before the end
    (a reply may still be recorded after it)."""
    over = [str(SessionStatus.STOPPED), str(SessionStatus.FAILED)]
    end = (
        session.events.filter(kind=EventKind.STATUS_CHANGE, data__status__in=over)
        .order_by("seq")
        .first()
    )
    sent = end.data.get("sent", {}) if end is not None else {}
    duration = sent.get("duration")
    if duration is None and session.ended_at is not None:
        duration = int((session.ended_at - session.started_at).total_seconds())
    transcript = sent.get("transcript")
    if transcript is None:
        transcript = _transcript(session, before_seq=end.seq if end is not None else None)
    return Ending(duration=duration, transcript=transcript)


@transaction.atomic
def session_end(
    *,
    session: Session,
    reason: str,
    metadata: dict[str, Any] | None = None,
    sent: dict[str, Any] | None = None,
) -> tuple[Session, bool]:
    """Stop the session, recording why. `metadata` (Agent Human's end metadata) is merged into
    the session's, its keys winning, as Agent Human does; `sent` (the duration and transcript
    the client ended with) is kept on the timeline's end event, for `session_ending`. Ending an
    ended session changes nothing: (session, False)."""
    locked = Session.objects.select_for_update().get(pk=session.pk)
    if locked.is_over:
        return locked, False
    if metadata:
        locked.metadata = {**locked.metadata, **metadata}
        locked.save(update_fields=["metadata"])
    details = {"sent": sent} if sent else None
    session_status_set(session=locked, status=SessionStatus.STOPPED, reason=reason, details=details)
    # A test run's session (an eval's) sends no callback: the team's hears only live ones.
    live = not locked.simulated
    if live and session_callback_url(session=locked) and not session_callback_held(session=locked):
        enqueue_on_commit(deliver_end_of_conversation, str(locked.id))
    if locked.worker_id is not None:  # a call still held by a voice worker: it hangs up
        from voice.tasks import call_hang_up

        enqueue_on_commit(call_hang_up, str(locked.id), reason)
    if locked.transport:
        from agora.services import agora_leave_later
        from voice.daily import daily_room_release_later

        daily_room_release_later(locked)
        agora_leave_later(locked)
    return locked, True


# The lifecycle sweep: sessions left open past their agent's limits are ended.

OPEN = (SessionStatus.STARTING, SessionStatus.RUNNING)
IDLE_TIMEOUT = AgentConfiguration.model_fields["idle_timeout_seconds"].default
MAX_DURATION = AgentConfiguration.model_fields["max_duration_seconds"].default


def _limit(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _expiry(
    started: datetime,
    active: datetime | None,
    limits: tuple[Any, Any],
    now: datetime,
    silent_visitor: bool = False,
) -> str:
    """Why the session is over its limits ("max_duration", "idle_timeout"), or "" if it is not.
    `limits`: the agent's idle_timeout_seconds and max_duration_seconds, as stored.
    `silent_visitor`: an anonymous visitor started it and has said nothing yet; it may idle
    SESSION_ANONYMOUS_SILENT_SECONDS at most, so that empty starts free their place soon."""
    if now - started >= timedelta(seconds=_limit(limits[1], MAX_DURATION)):
        return "max_duration"
    idle = _limit(limits[0], IDLE_TIMEOUT)
    if silent_visitor:
        idle = min(idle, settings.SESSION_ANONYMOUS_SILENT_SECONDS)
    if active is not None and now - active >= timedelta(seconds=idle):
        return "idle_timeout"
    return ""


def _silent_visitor() -> Any:
    """SQL, for the outer query's session: an anonymous visitor started it and has said nothing."""
    events = SessionEvent.objects.filter(session_id=OuterRef("pk"))
    started_by_visitor = events.filter(seq=1, data__has_key="visitor")
    spoke = events.filter(kind=EventKind.MESSAGE, data__role="user")
    return Exists(started_by_visitor) & ~Exists(spoke)


@transaction.atomic
def _session_end_if_expired(session_id: UUID, now: datetime) -> bool:
    """Read again under lock: a message that arrived since the sweep looked keeps it open."""
    session = (
        Session.objects.select_for_update(of=("self",))
        .select_related("agent")
        .filter(pk=session_id, status__in=OPEN)
        .first()
    )
    if session is None:
        return False
    config = session.agent.configuration if session.agent is not None else {}
    limits = (config.get("idle_timeout_seconds"), config.get("max_duration_seconds"))
    active = max(session.last_activity_at, session.replying_since or session.last_activity_at)
    silent = Session.objects.filter(pk=session_id).filter(_silent_visitor())
    reason = _expiry(session.started_at, active, limits, now, silent.exists())
    return bool(reason) and session_end(session=session, reason=reason)[1]


def sessions_end_expired(*, now: datetime | None = None) -> int:
    """End the open sessions idle past their agent's `idle_timeout_seconds` (reason
    "idle_timeout") or running past its `max_duration_seconds` ("max_duration"); the number
    ended. A reply under way counts as activity from when it began. An anonymous visitor's
    session in which they said nothing idles SESSION_ANONYMOUS_SILENT_SECONDS at most. One
    query, on the status index, reads the open sessions with their agents' two limits; each
    expired one is then ended in its own transaction."""
    now = now or timezone.now()
    rows = Session.objects.filter(status__in=OPEN).values_list(
        "id",
        "started_at",
        Greatest("last_activity_at", Coalesce("replying_since", "last_activity_at")),
        KeyTextTransform("idle_timeout_seconds", "agent__configuration"),
        KeyTextTransform("max_duration_seconds", "agent__configuration"),
        _silent_visitor(),
    )
    expired = [row[0] for row in rows if _expiry(row[1], row[2], (row[3], row[4]), now, row[5])]
    return sum(_session_end_if_expired(session_id, now) for session_id in expired)


def _callback_config(session: Session) -> dict[str, Any]:
    document = session.agent.configuration if session.agent is not None else {}
    section = document.get("end_of_conversation") if isinstance(document, dict) else None
    return section if isinstance(section, dict) else {}


def session_callback_url(*, session: Session) -> str | None:
    """The agent's end_of_conversation.callback_url, if it has one."""
    url = _callback_config(session).get("callback_url")
    return url if isinstance(url, str) and url else None


def session_callback_held(*, session: Session) -> bool:
    """Whether the callback waits for the session's analysis, which sends it once done
    (analysis.include_in_callback); the reconciler sends it anyway after CALLBACK_HOLD_MAX."""
    document = session.agent.configuration if session.agent is not None else {}
    try:
        return AnalysisConfig.model_validate(document.get("analysis") or {}).holds_callback
    except pydantic.ValidationError:
        return False
