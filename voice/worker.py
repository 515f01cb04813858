"""The voice worker: an asyncio process (`manage.py voiceworker`) that holds calls.

It registers itself in the database, says it is alive every VOICE_HEARTBEAT_SECONDS, and
serves the web processes' signalling on a small HTTP server (aiohttp, which pipecat already
brings): a browser's WebRTC offer, a Daily room to join, a call to end. It takes at most
`capacity` calls at once and answers 503 beyond. Each call is one pipecat pipeline
(voice.pipeline) with its own transport; the speech models are shared by all its calls."""

import asyncio
import contextlib
import hmac
import logging
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiohttp import web
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from parley.db import database
from sessions.models import Session, SessionStatus
from sessions.services import session_end, session_status_set

from .models import VoiceWorker
from .signalling import worker_secret

logger = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def response(self) -> web.Response:
        body = {"error": self.message, "code": self.code, **self.details}
        return web.json_response(body, status=self.status)


def _call_session(session_id: UUID, worker_id: UUID | None) -> Session:
    session = Session.objects.select_related("team", "agent").filter(pk=session_id).first()
    if session is None or session.worker_id != worker_id:
        raise Refused(404, "not_found", "This worker holds no such call.")
    if session.is_over:
        raise Refused(409, "conflict", "This call has ended; start a new one.", reason="ended")
    return session


def _running(session: Session) -> None:
    with transaction.atomic():
        if Session.objects.filter(pk=session.pk, status=SessionStatus.STARTING).exists():
            session_status_set(session=session, status=SessionStatus.RUNNING)


def _ended(session: Session, reason: str, failed: bool) -> None:
    """Record the end of a call this worker held; it holds it no more."""
    with transaction.atomic():
        current = Session.objects.select_for_update().get(pk=session.pk)
        Session.objects.filter(pk=session.pk).update(worker=None)
        current.worker = None
        if current.is_over:
            return
        if failed:
            session_status_set(session=current, status=SessionStatus.FAILED, reason=reason)
        else:
            session_end(session=current, reason=reason)


@dataclass
class CallHandle:
    """One call held by this worker."""

    session: Session
    task: asyncio.Task[None] | None = None
    pipeline_worker: Any = None
    end_reason: str = ""
    failed: bool = False

    async def end(self, reason: str, *, failed: bool = False) -> None:
        if not self.end_reason:
            self.end_reason, self.failed = reason, failed
        if self.pipeline_worker is not None:
            await self.pipeline_worker.cancel(reason=reason)
        elif self.task is not None:
            self.task.cancel()


class Worker:
    """The process's calls, its registration and its signalling server."""

    def __init__(self, *, name: str, url: str, capacity: int) -> None:
        self.name, self.url, self.capacity = name, url, capacity
        self.calls: dict[UUID, CallHandle] = {}
        self.record: VoiceWorker | None = None
        self.stopping = asyncio.Event()  # set from the loop's own thread (or threadsafe)

    # Registration and heartbeat

    async def register(self) -> VoiceWorker:
        create = database(VoiceWorker.objects.create)
        self.record = await create(name=self.name, url=self.url, capacity=self.capacity)
        return self.record

    async def heartbeat(self, record: VoiceWorker) -> None:
        beat = database(VoiceWorker.objects.filter(pk=record.pk).update)
        while not self.stopping.is_set():
            try:
                await beat(last_seen_at=timezone.now())
            except Exception:  # a database blip must not end the calls; the next beat retries
                logger.exception("Heartbeat failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), settings.VOICE_HEARTBEAT_SECONDS)

    async def unregister(self) -> None:
        if self.record is not None:
            stop = database(VoiceWorker.objects.filter(pk=self.record.pk).update)
            await stop(stopped_at=timezone.now())

    # Signalling

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), worker_secret().encode())

    async def _take(self, request: web.Request) -> tuple[Session, dict[str, Any]]:
        if not self._authorized(request):
            raise Refused(401, "unauthorized", "Wrong or missing worker secret.")
        try:
            session_id = UUID(request.match_info["session_id"])
        except ValueError:
            raise Refused(404, "not_found", "This worker holds no such call.") from None
        if session_id in self.calls:
            raise Refused(409, "conflict", "This call is already connected.", reason="connected")
        if len(self.calls) >= self.capacity:
            raise Refused(
                503,
                "busy",
                "This voice worker is carrying all the calls it can; try again.",
                reason="workers_busy",
            )
        try:
            body = await request.json()
        except ValueError:
            raise Refused(400, "bad_request", "The body must be JSON.") from None
        worker_id = self.record.pk if self.record is not None else None
        session = await database(_call_session)(session_id, worker_id)
        return session, body if isinstance(body, dict) else {}

    async def offer(self, request: web.Request) -> web.Response:
        from .runtime import webrtc_transport

        try:
            session, body = await self._take(request)
            if body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
                raise Refused(400, "bad_request", "Send {type: 'offer', sdp: '…'}.")
            handle = CallHandle(session)
            self.calls[session.pk] = handle
            try:
                transport, answer = await webrtc_transport(session, body["sdp"])
            except Exception:
                self.calls.pop(session.pk, None)
                raise
        except Refused as refused:
            return refused.response()
        handle.task = asyncio.create_task(self._run(handle, transport))
        return web.json_response(answer)

    async def daily(self, request: web.Request) -> web.Response:
        from .runtime import daily_transport

        try:
            session, body = await self._take(request)
            room_url, token = body.get("room_url"), body.get("token")
            if not isinstance(room_url, str) or not isinstance(token, str):
                raise Refused(400, "bad_request", "Send {room_url, token}.")
        except Refused as refused:
            return refused.response()
        handle = CallHandle(session)
        self.calls[session.pk] = handle
        transport = daily_transport(session, room_url, token)
        handle.task = asyncio.create_task(self._run(handle, transport))
        return web.json_response({"joined": True}, status=202)

    async def end(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return Refused(401, "unauthorized", "Wrong or missing worker secret.").response()
        try:
            handle = self.calls.get(UUID(request.match_info["session_id"]))
        except ValueError:
            handle = None
        if handle is None:
            return web.json_response({"ended": False})
        try:
            body = await request.json()
        except ValueError:
            body = {}
        reason = str((body or {}).get("reason") or "ended")
        await handle.end(reason)
        return web.json_response({"ended": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"capacity": self.capacity, "calls": len(self.calls)})

    # Calls

    async def _run(self, handle: CallHandle, transport: Any) -> None:
        from .runtime import call_run

        session = handle.session
        try:
            await call_run(handle, transport, on_connected=database(_running))
        except asyncio.CancelledError:
            handle.end_reason = handle.end_reason or "the voice worker stopped"
        except Exception as exc:
            logger.exception("Call %s failed", session.pk)
            handle.end_reason, handle.failed = f"The call failed: {exc}", True
        finally:
            self.calls.pop(session.pk, None)
            try:
                await database(_ended)(session, handle.end_reason or "ended", handle.failed)
            except Exception:
                logger.exception("Could not record the end of call %s", session.pk)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024)
        app.add_routes(
            [
                web.post("/calls/{session_id}/offer", self.offer),
                web.post("/calls/{session_id}/daily", self.daily),
                web.post("/calls/{session_id}/end", self.end),
                web.get("/health", self.health),
            ]
        )
        return app

    async def serve(self, host: str, port: int, *, signals: bool = True) -> None:
        """Run until SIGINT or SIGTERM (or `stopping` is set); then end the calls and say
        goodbye."""
        _pipecat_logging()
        if signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stopping.set)
        record = await self.register()
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        beating = asyncio.create_task(self.heartbeat(record))
        logger.info(
            "Voice worker %s serving %s, %d calls at most", self.name, self.url, self.capacity
        )
        await self.stopping.wait()
        for handle in list(self.calls.values()):
            await handle.end("the voice worker was stopped")
        tasks = [h.task for h in self.calls.values() if h.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await beating
        await runner.cleanup()
        await self.unregister()


def _pipecat_logging() -> None:
    """pipecat logs through loguru, at DEBUG by default: only VOICE_LOG_LEVEL and above."""
    from loguru import logger as pipecat_log

    pipecat_log.remove()
    pipecat_log.add(sys.stderr, level=settings.VOICE_LOG_LEVEL)


def default_name(port: int) -> str:
    return f"{socket.gethostname()}:{port}"
