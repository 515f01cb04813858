"""Starting a voice or video call: which worker takes it, and what the caller needs to connect.

Every call is held by one voice worker (`manage.py voiceworker`), a process of its own beside
the web servers, possibly on another machine. Workers register in the database and keep their
heartbeat fresh; a call goes to the live worker with the most room, and is refused with a clear
503 when none has any. The browser's WebRTC offer comes to Parley's API and is passed on to the
worker that holds the call (voice.signalling)."""

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from agents.configuration import AgentConfiguration
from agents.models import Agent
from parley.errors import Busy
from sessions.models import Session, SessionStatus, SessionType, Transport
from sessions.services import session_status_set
from sessions.tokens import session_token_issue

from .daily import daily_check_configured
from .models import VoiceWorker
from .speech import speech_check

OPEN = (SessionStatus.STARTING, SessionStatus.RUNNING)
NO_WORKER = (
    "No voice worker is running, so calls cannot start. Start one beside the web server with "
    "`python manage.py voiceworker` (`make run` starts one)."
)
ALL_BUSY = "Every voice worker is busy with as many calls as it can carry; try again shortly."


def workers_live() -> QuerySet[VoiceWorker]:
    """Workers that have said they are alive lately and have not stopped."""
    fresh = timezone.now() - timedelta(seconds=settings.VOICE_WORKER_DEAD_AFTER_SECONDS)
    return VoiceWorker.objects.filter(stopped_at__isnull=True, last_seen_at__gte=fresh)


def _with_room() -> QuerySet[VoiceWorker]:
    held = Count("sessions", filter=Q(sessions__status__in=OPEN))
    workers = workers_live().annotate(held=held, room=F("capacity") - held)
    return workers.filter(room__gt=0).order_by("-room", "last_seen_at")


def worker_pick() -> VoiceWorker:
    """The live worker with the most room. Busy (503) when there is none."""
    worker = _with_room().first()
    if worker is not None:
        return worker
    if not workers_live().exists():
        raise Busy(NO_WORKER, details={"reason": "no_worker"})
    raise Busy(ALL_BUSY, details={"reason": "workers_busy"})


def call_type(*, agent_id: UUID) -> SessionType:
    """What a call with the agent is when the caller does not say: video when it has a face."""
    document = Agent.objects.filter(id=agent_id).values_list("configuration", flat=True).first()
    video = ((document or {}).get("video") or {}).get("provider", "none")
    return SessionType.VIDEO if video != "none" else SessionType.VOICE


def call_check(*, agent: Agent, config: AgentConfiguration, transport: str) -> None:
    """What must hold before a call starts: its speech providers have keys, Daily is set up for
    a Daily call, and a worker has room."""
    if transport == Transport.DAILY:
        daily_check_configured()
    speech_check(team=agent.team, config=config)
    worker_pick()


@transaction.atomic
def session_place(*, session: Session, transport: str) -> VoiceWorker:
    """Give the call to the worker with the most room. Busy when none has any by now."""
    worker = worker_pick()
    VoiceWorker.objects.select_for_update().filter(pk=worker.pk).first()
    if not _with_room().filter(pk=worker.pk).exists():  # taken meanwhile
        worker = worker_pick()
    Session.objects.filter(pk=session.pk).update(worker=worker, transport=transport)
    session.worker, session.transport = worker, transport
    return worker


def _absolute(request: HttpRequest, path: str) -> str:
    base = settings.CHAT_BASE_URL.rstrip("/")
    return base + path if base else request.build_absolute_uri(path)


def call_start(*, session: Session, request: HttpRequest) -> dict[str, Any]:
    """Place a WebRTC call on a worker; what the browser needs to send its offer."""
    session_place(session=session, transport=Transport.WEBRTC)
    return {
        "sessionId": session.id,
        "sessionToken": session_token_issue(session_id=session.id),
        "type": session.type,
        "transport": "webrtc",
        "offerUrl": request.build_absolute_uri(reverse("api:call_offer", args=[session.id])),
        "iceServers": settings.VOICE_ICE_SERVERS,
        "endUrl": _absolute(request, reverse("agenthuman:session_end", args=[session.id])),
    }


# When workers go quiet

DEAD = "The voice worker holding this call stopped answering."


@transaction.atomic
def workers_reap(*, now: datetime | None = None) -> int:
    """Give up on workers silent for VOICE_WORKER_DEAD_AFTER_SECONDS, and fail the calls of
    every stopped worker that are still open, rather than leave them running. How many calls
    were failed."""
    now = now or timezone.now()
    silent_since = now - timedelta(seconds=settings.VOICE_WORKER_DEAD_AFTER_SECONDS)
    VoiceWorker.objects.filter(stopped_at__isnull=True, last_seen_at__lt=silent_since).update(
        stopped_at=now
    )
    orphans = Session.objects.select_for_update().filter(
        worker__stopped_at__isnull=False, status__in=OPEN
    )
    failed = 0
    for session in orphans:
        session_status_set(session=session, status=SessionStatus.FAILED, reason=DEAD)
        failed += 1
    return failed
