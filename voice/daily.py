"""Calls in Daily rooms, for iwy's widget. (Being built.)"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from parley.errors import ParleyError
from sessions.models import Session


class NotConfigured(ParleyError):
    status = 503
    code = "not_configured"


def daily_check_configured() -> None:
    if not settings.DAILY_API_KEY:
        raise NotConfigured(
            "Calls through Daily need DAILY_API_KEY set on the server. Parley's own widget "
            "calls over WebRTC without it: send mode 'voice' or 'video'."
        )


def daily_session_start(*, session: Session, request: HttpRequest) -> dict[str, Any]:
    raise NotImplementedError
