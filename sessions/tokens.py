"""Session tokens: what a browser holds to talk to one session and nothing else.

A token is signed with SECRET_KEY (salted for this use) and names one session; it expires after
the agent's maximum duration (SESSION_TOKEN_MAX_AGE at most). Nothing is stored: a token is
checked by its signature and age alone."""

from uuid import UUID

from django.conf import settings
from django.core import signing

PREFIX = "st_"
SALT = "parley.sessions.token"


def session_token_issue(*, session_id: UUID) -> str:
    return PREFIX + signing.dumps(str(session_id), salt=SALT, compress=False)


def session_token_session_id(token: str, *, max_age: int | None = None) -> UUID | None:
    """The session a token is for, or None if it is not one of ours, altered, or too old."""
    if not token.startswith(PREFIX):
        return None
    age = min(max_age or settings.SESSION_TOKEN_MAX_AGE, settings.SESSION_TOKEN_MAX_AGE)
    try:
        return UUID(signing.loads(token[len(PREFIX) :], salt=SALT, max_age=age))
    except (signing.BadSignature, ValueError):
        return None
