"""A chat session's moves: opening it (the first message) and each message sent to it, one at a
time. The thinking is the engine's (sessions.engine); this is the bookkeeping around it."""

from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db.models import Q
from django.utils import timezone

from parley.errors import Conflict

from .engine import Turn, TurnListener, session_greet, session_turn
from .models import Session, SessionStatus
from .services import session_status_set

# A turn still marked as running after this long was cut off (its process died): free it.
TURN_ABANDONED_AFTER = timedelta(minutes=10)
_LIVE = (SessionStatus.STARTING, SessionStatus.RUNNING)
ANSWERING = (
    "The agent is still answering the previous message; send this one when that reply has finished."
)


def session_turn_claim(session: Session) -> None:
    """One message at a time: claimed in the database, so it holds across web processes."""
    now = timezone.now()
    free = Q(replying_since__isnull=True) | Q(replying_since__lt=now - TURN_ABANDONED_AFTER)
    claimed = Session.objects.filter(free, pk=session.pk, status__in=_LIVE).update(
        replying_since=now, last_activity_at=now
    )
    if claimed == 1:
        return
    session.refresh_from_db(fields=["status", "replying_since"])
    if session.is_over:
        raise Conflict("This session has ended; start a new one to go on talking.")
    raise Conflict(ANSWERING)


def session_turn_release(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(
        replying_since=None, last_activity_at=timezone.now()
    )


async def session_open(*, session: Session, listener: TurnListener | None = None) -> str:
    """Say the agent's first message and mark the session running."""
    first = await session_greet(session=session, listener=listener)
    await sync_to_async(session_status_set)(session=session, status=SessionStatus.RUNNING)
    return first


async def session_message(
    *, session: Session, content: str, listener: TurnListener | None = None
) -> Turn:
    """Answer a message sent to the session. A second message while the agent is still
    answering the first is refused (Conflict) rather than queued or interleaved: the client
    sends it when the reply has finished, so the conversation stays in order."""
    await sync_to_async(session_turn_claim)(session)
    try:
        return await session_turn(session=session, content=content, listener=listener)
    finally:
        await sync_to_async(session_turn_release)(session)
