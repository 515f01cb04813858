"""A chat session's moves: opening it (the first message) and each message sent to it, one at a
time. The thinking is the engine's (sessions.engine); this is the bookkeeping around it."""

from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from parley.db import database
from parley.errors import Conflict
from teams.models import Team

from .access import session_for_caller
from .engine import Turn, TurnContext, TurnListener, session_greet, session_turn, turn_begin
from .models import Session, SessionStatus
from .services import session_status_set

# A turn still marked as running after this long was cut off (its process died): free it.
TURN_ABANDONED_AFTER = timedelta(minutes=10)
_LIVE = (SessionStatus.STARTING, SessionStatus.RUNNING)
ANSWERING = (
    "The agent is still answering the previous message; send this one when that reply has finished."
)


def _turn_claim(session: Session) -> int:
    """One message at a time. `session` was read under its row lock, in the caller's transaction,
    so the claim holds across web processes. Returns the event number taken, in the same update,
    for the user's message."""
    now = timezone.now()
    if session.status not in _LIVE:
        raise Conflict(
            "This session has ended; start a new one to go on talking.",
            details={"reason": "session_ended"},
        )
    if session.replying_since and session.replying_since > now - TURN_ABANDONED_AFTER:
        raise Conflict(ANSWERING, details={"reason": "answering"})
    seq = session.last_event_seq + 1
    Session.objects.filter(pk=session.pk).update(
        replying_since=now, last_activity_at=now, last_event_seq=seq
    )
    return seq


@transaction.atomic
def session_turn_begin(
    *, session_id: UUID, team: Team | None, token: str | None, content: str
) -> tuple[Session, TurnContext]:
    """Find the caller's session and lock it, claim the turn, read what the turn needs and record
    the user's message: one transaction, one trip to the database before the LLM is asked."""
    session = session_for_caller(session_id=session_id, team=team, token=token, lock=True)
    return session, turn_begin(session, content, seq=_turn_claim(session))


def _begin_as_team(session: Session, content: str) -> TurnContext:
    return session_turn_begin(
        session_id=session.id, team=session.team, token=None, content=content
    )[1]


def session_turn_release(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(
        replying_since=None, last_activity_at=timezone.now()
    )


async def session_open(*, session: Session, listener: TurnListener | None = None) -> str:
    """Say the agent's first message and mark the session running."""
    first = await session_greet(session=session, listener=listener)
    await database(session_status_set)(session=session, status=SessionStatus.RUNNING)
    return first


async def session_message(
    *,
    session: Session,
    content: str,
    listener: TurnListener | None = None,
    tool_replies: dict[str, str] | None = None,
) -> Turn:
    """Answer a message sent to the session. A second message while the agent is still
    answering the first is refused (Conflict) rather than queued or interleaved: the client
    sends it when the reply has finished, so the conversation stays in order. `tool_replies`:
    tool name → the reply given instead of calling that tool (an eval's mocked tools)."""
    context = await database(_begin_as_team)(session, content)
    context.tool_replies = tool_replies or {}
    try:
        return await session_turn(
            session=session, content=content, listener=listener, context=context
        )
    finally:
        await database(session_turn_release)(session)
