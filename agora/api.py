"""/v1 sessions on Agora: have the agent speak, or stop it speaking."""

from typing import Any
from uuid import UUID

from ninja import Router

from sessions import access
from teams.auth import WRITE, ApiRequest

from .schemas import AgoraAnswerOut, SpeakIn
from .services import agora_session_interrupt, agora_session_speak

router = Router(tags=["Agora"])


@router.post(
    "/sessions/{session_id}/speak",
    response=AgoraAnswerOut,
    auth=WRITE,
    operation_id="session_speak",
)
def session_speak(request: ApiRequest, session_id: UUID, payload: SpeakIn) -> dict[str, Any]:
    """Have the Agora agent say `text` now (recorded as its message). 409 for a session that
    does not run on Agora or has ended."""
    session = access.session_for_caller(session_id=session_id, team=request.auth.team, token=None)
    return agora_session_speak(
        session=session,
        text=payload.text,
        priority=payload.priority,
        interruptable=payload.interruptable,
    )


@router.post(
    "/sessions/{session_id}/interrupt",
    response=AgoraAnswerOut,
    auth=WRITE,
    operation_id="session_interrupt",
)
def session_interrupt(request: ApiRequest, session_id: UUID) -> dict[str, Any]:
    """Stop the Agora agent speaking and thinking at once."""
    session = access.session_for_caller(session_id=session_id, team=request.auth.team, token=None)
    return agora_session_interrupt(session=session)
