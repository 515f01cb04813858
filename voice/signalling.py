"""Django's side of the line to the voice workers: each call's signalling goes to the worker that
holds it, over HTTP, with the install's worker secret. Workers are the operator's own processes,
so their addresses (often private, or loopback) are exempt from the outbound address checks."""

import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings

from parley.errors import Busy, Conflict, ParleyError
from parley.outbound import OutboundClient, OutboundRequest, Policy
from sessions.models import Session

from .models import VoiceWorker

GONE = "The voice worker holding this call is not answering; start a new call."


def worker_secret() -> str:
    """What a worker and the web processes prove themselves with: derived from SECRET_KEY, which
    every Parley process of an install shares."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"parley.voice-worker", hashlib.sha256).hexdigest()


def _policy(url: str) -> Policy:
    policy = Policy.from_settings()
    host = (urlsplit(url).hostname or "").lower()
    return replace(policy, allowed_hosts=policy.allowed_hosts | {host}, max_redirects=0)


async def _post(url: str, payload: dict[str, Any], timeout: float) -> tuple[int | None, Any, str]:
    headers = {
        "authorization": f"Bearer {worker_secret()}",
        "content-type": "application/json",
    }
    request = OutboundRequest("POST", url, headers, json.dumps(payload).encode())
    async with OutboundClient(_policy(url)) as client:
        delivery = await client.send(request, timeout=timeout)
    error = delivery.error.message if delivery.error else ""
    return delivery.status, delivery.content, error


def worker_call(
    *, worker: VoiceWorker, session: Session, action: str, payload: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """POST to the worker's /calls/<session>/<action>. A refusal from the worker comes back as
    the same kind of error, with its message; a worker that does not answer is a 503."""
    url = f"{worker.url.rstrip('/')}/calls/{session.id}/{action}"
    status, content, error = async_to_sync(_post)(url, payload, timeout)
    body = content if isinstance(content, dict) else {}
    if status is not None and 200 <= status < 300:
        return body
    if status is None:
        raise Busy(GONE, details={"reason": "worker_unreachable", "error": error})
    message = str(body.get("error") or f"The voice worker answered {status}.")
    details = {k: v for k, v in body.items() if k not in ("error", "code")}
    if status == 503:
        raise Busy(message, details=details)
    if status == 409:
        raise Conflict(message, details=details)
    failure = ParleyError(message, details=details)
    failure.status, failure.code = (
        (status if 400 <= status < 500 else 502),
        str(body.get("code") or "worker_error"),
    )
    raise failure


def _holder(session: Session) -> VoiceWorker:
    if session.is_over:
        raise Conflict("This call has ended; start a new one.", details={"reason": "session_ended"})
    if session.worker_id is None:
        raise Conflict("This session is not a call held by a voice worker.")
    worker = VoiceWorker.objects.get(pk=session.worker_id)
    if worker.stopped_at is not None:
        raise Busy(GONE, details={"reason": "worker_stopped"})
    return worker


def offer_relay(*, session: Session, offer: dict[str, Any]) -> dict[str, Any]:
    """The browser's offer to the worker holding the call; the worker's answer back."""
    worker = _holder(session)
    timeout = settings.VOICE_OFFER_TIMEOUT_SECONDS
    return worker_call(
        worker=worker, session=session, action="offer", payload=offer, timeout=timeout
    )


def call_hang_up(*, session: Session, reason: str) -> None:
    """Tell the worker to end the call (the session has ended here). Best effort: a worker that
    is gone has no call left to end."""
    if session.worker_id is None:
        return
    worker = VoiceWorker.objects.filter(pk=session.worker_id, stopped_at__isnull=True).first()
    if worker is None:
        return
    try:
        worker_call(
            worker=worker, session=session, action="end", payload={"reason": reason}, timeout=5
        )
    except ParleyError:
        return
