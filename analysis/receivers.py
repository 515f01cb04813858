"""What this app does when the sessions app says something happened (sessions/signals.py)."""

from typing import Any

from sessions.models import Session

from .selectors import analysis_document
from .services import analysis_request, analysis_wanted


def session_ended(sender: type[Session], session: Session, **kwargs: Any) -> None:
    # A test run's session (evals/) is judged by its own checks, not analysed.
    if not session.simulated and analysis_wanted(session=session):
        analysis_request(session=session)


def callback_composing(sender: type[Session], session: Session, **kwargs: Any) -> Any:
    """`analysis` in the end-of-conversation callback, when the agent asks for it."""
    document = session.agent.configuration if session.agent is not None else {}
    if not (document.get("analysis") or {}).get("include_in_callback"):
        return None
    return {"analysis": analysis_document(session=session)}
