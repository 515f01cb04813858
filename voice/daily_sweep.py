"""The Daily rooms sweep (every 30 s, voice.tasks.sync_daily_rooms): calls whose room has had
nobody but the agent in it for the agent's `idle_timeout_seconds` are ended, and the rooms of
ended calls are deleted.

Daily does not tell Parley when the person leaves (the widget just leaves the room), so the
sweep reads each open call's room presence and keeps, in the session's `remote`, `empty_since`
(when the room was first seen without a person) and `person_seen_at`. A room that is never
deleted is no leak for long: it expires, ejecting everyone, at the agent's maximum duration."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from parley.errors import ParleyError
from sessions.models import Session, SessionStatus, Transport
from sessions.services import IDLE_TIMEOUT, session_end

from .daily import BOT_USER_ID, daily_presences, daily_remote_merge, daily_room_release

logger = logging.getLogger(__name__)

OPEN = (SessionStatus.STARTING, SessionStatus.RUNNING)
OVER = (SessionStatus.STOPPED, SessionStatus.FAILED)
EVERYONE_LEFT = "everyone left the Daily room"
NOBODY_CAME = "nobody joined the Daily room"
ROOM_GONE = "the Daily room no longer exists"
# Rooms expire within a day (max_duration_seconds ≤ 86,400), after which Daily counts them as
# deleted: older ended calls need no deletion, and the query stays on the ended_at index.
DELETE_WITHIN = timedelta(days=2)


def _idle_timeout(session: Session) -> timedelta:
    document = session.agent.configuration if session.agent is not None else {}
    try:
        seconds = int((document or {}).get("idle_timeout_seconds", IDLE_TIMEOUT))
    except (TypeError, ValueError):
        seconds = IDLE_TIMEOUT
    return timedelta(seconds=seconds)


def _when(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def _end(session: Session, reason: str, remote: dict[str, Any] | None = None) -> bool:
    if remote:
        daily_remote_merge(session_id=session.pk, changes=remote)
    # Ending the session tells the worker to hang up (sessions.services.session_end).
    _, did_end = session_end(session=session, reason=reason)
    return did_end


def _present(session: Session, people: list[dict[str, Any]] | None, now: datetime) -> bool:
    """Record what the room's presence says; end the call when it is over. True if ended."""
    if people is None:
        return _end(session, ROOM_GONE, {"deleted_at": now.isoformat()})
    remote = session.remote or {}
    if any(person.get("userId") != BOT_USER_ID for person in people):
        changes = {"empty_since": None, "person_seen_at": now.isoformat()}
        daily_remote_merge(session_id=session.pk, changes=changes)
        return False
    seen = "person_seen_at" in remote
    # Nobody there: since the call started if the person never came, else since now.
    empty_since = _when(remote.get("empty_since")) or (now if seen else session.started_at)
    if now - empty_since >= _idle_timeout(session):
        return _end(session, EVERYONE_LEFT if seen else NOBODY_CAME)
    if "empty_since" not in remote:
        daily_remote_merge(session_id=session.pk, changes={"empty_since": empty_since.isoformat()})
    return False


def daily_calls_end_empty(*, now: datetime | None = None) -> int:
    """Read the presence of every open Daily call's room, at once, and end the calls whose
    room has been empty of people for the agent's idle timeout, or is gone. The number ended."""
    now = now or timezone.now()
    calls = list(
        Session.objects.filter(status__in=OPEN, transport=Transport.DAILY)
        .filter(remote__has_key="room_name")
        .exclude(remote__has_key="deleted_at")
        .select_related("agent")
    )
    if not calls:
        return 0
    found = daily_presences(room_names=[str(call.remote["room_name"]) for call in calls])
    ended = 0
    for call in calls:
        people = found[str(call.remote["room_name"])]
        if isinstance(people, ParleyError):
            logger.warning("Daily presence of session %s unread: %s", call.pk, people.message)
            continue
        ended += _present(call, people, now)
    return ended


def daily_rooms_delete_ended(*, now: datetime | None = None) -> int:
    """Delete the rooms of calls that have ended and whose room is not deleted yet (a 404 from
    Daily counts as deleted). The number deleted; failures are left for the next sweep."""
    now = now or timezone.now()
    rooms = (
        Session.objects.filter(transport=Transport.DAILY, status__in=OVER)
        .filter(ended_at__gte=now - DELETE_WITHIN, remote__has_key="room_name")
        .exclude(remote__has_key="deleted_at")
    )
    return sum(daily_room_release(session=session, now=now) for session in rooms)


def daily_rooms_sync(*, now: datetime | None = None) -> dict[str, int]:
    """One sweep: end the calls whose room emptied, then delete the rooms of ended calls."""
    if not settings.DAILY_API_KEY:
        return {"ended": 0, "deleted": 0}
    now = now or timezone.now()
    ended = daily_calls_end_empty(now=now)
    return {"ended": ended, "deleted": daily_rooms_delete_ended(now=now)}


def daily_session_room_delete(*, session_id: Any) -> bool:
    """Delete the room of one ended call (queued by daily_room_release_later). A call still
    open keeps its room; one without a room, or whose room is deleted, needs nothing."""
    session = Session.objects.filter(pk=session_id, transport=Transport.DAILY).first()
    if session is None or not session.is_over or not settings.DAILY_API_KEY:
        return False
    return daily_room_release(session=session)
