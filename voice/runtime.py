"""Running one call: its transport (WebRTC straight to the browser, or a Daily room), its
speech services, its pipeline, and the limits that end it (idle timeout, max duration)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.base_transport import TransportParams
from pipecat.workers.runner import WorkerRunner

from agents.configuration import AgentConfiguration
from sessions.models import Session, SessionType
from sessions.selectors import session_configuration

from .pipeline import Call, pipeline_build
from .speech import stt_service, tts_service

AUDIO_OUT_RATE = 24000
VIDEO_SIZE = 320  # the avatar's frames, square
VIDEO_FPS = 12
JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"  # aiortc's receiver's, name-mangled


def _config(session: Session) -> AgentConfiguration:
    return AgentConfiguration.model_validate(session_configuration(session=session))


def _video(session: Session) -> bool:
    return session.type == SessionType.VIDEO


def _params(session: Session, cls: type = TransportParams, **extra: Any) -> Any:
    video = _video(session)
    return cls(
        audio_in_enabled=True,
        audio_out_enabled=True,
        video_out_enabled=video,
        video_out_is_live=video,
        video_out_width=VIDEO_SIZE,
        video_out_height=VIDEO_SIZE,
        video_out_framerate=VIDEO_FPS,
        **extra,
    )


def _ice_servers() -> list[Any]:
    from pipecat.transports.smallwebrtc.connection import IceServer

    servers = []
    for entry in settings.VOICE_ICE_SERVERS:
        urls = entry.get("urls") or entry.get("url")
        server = IceServer(urls=urls)
        if entry.get("username"):
            server.username, server.credential = entry["username"], entry.get("credential")
        servers.append(server)
    return servers


def _hear_at_once(pc: Any) -> None:
    """aiortc holds each caller's audio back 4 frames (80 ms) for smooth playout. The worker
    plays nothing: voice activity and Whisper need the audio in order, not evenly paced. Its
    receiver holds VOICE_INPUT_JITTER_FRAMES instead, so the end of the caller's speech, and an
    interruption, are heard that much sooner (a lost packet is waited for as before). pipecat
    swaps the screen share's buffer the same way (SmallWebRTCTrack)."""
    from aiortc.jitterbuffer import JitterBuffer

    frames = settings.VOICE_INPUT_JITTER_FRAMES
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if transceiver.kind == "audio" and hasattr(receiver, JITTER_BUFFER):
            setattr(receiver, JITTER_BUFFER, JitterBuffer(capacity=16, prefetch=frames))


async def webrtc_transport(session: Session, sdp: str) -> tuple[Any, dict[str, Any]]:
    """Answer the browser's offer: the call's WebRTC transport and the SDP answer."""
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
    from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

    connection = SmallWebRTCConnection(ice_servers=_ice_servers() or None)
    await connection.initialize(sdp=sdp, type="offer")
    _hear_at_once(connection.pc)
    transport = SmallWebRTCTransport(webrtc_connection=connection, params=_params(session))
    answer = connection.get_answer()
    return transport, {"type": "answer", "sdp": answer["sdp"], "pc_id": answer["pc_id"]}


def daily_transport(session: Session, room_url: str, token: str) -> Any:
    """The agent's seat in a Daily room (pipecat's DailyTransport; needs the cloud extra)."""
    from pipecat.transports.daily.transport import DailyParams, DailyTransport

    name = session.agent_name or "Agent"
    return DailyTransport(room_url, token, name, params=_params(session, DailyParams))


async def _avatar(session: Session, config: AgentConfiguration) -> Any | None:
    if not _video(session):
        return None
    from .avatar import avatar_processor

    return await avatar_processor(
        config=config, name=session.agent_name, size=VIDEO_SIZE, fps=VIDEO_FPS
    )


async def call_run(
    handle: Any, transport: Any, *, on_connected: Callable[[Session], Awaitable[None]]
) -> None:
    """Run the call until it ends: the caller hangs up or leaves, it is idle for the agent's
    idle_timeout_seconds, it reaches max_duration_seconds, or Parley ends it."""
    session = handle.session
    config = _config(session)
    call = Call(session=session, config=config)
    stt = stt_service(team=session.team, config=config)
    tts = tts_service(team=session.team, config=config)
    video = await _avatar(session, config)
    parts = pipeline_build(call=call, transport=transport, stt=stt, tts=tts, video=video)
    worker = PipelineWorker(
        parts.pipeline,
        params=PipelineParams(
            enable_metrics=True, audio_in_sample_rate=16000, audio_out_sample_rate=AUDIO_OUT_RATE
        ),
        observers=parts.observers,
        idle_timeout_secs=config.idle_timeout_seconds,
        cancel_on_idle_timeout=True,
    )
    handle.pipeline_worker = worker

    async def greet() -> None:
        await on_connected(session)
        if config.llm.first_message:
            call.greeting = True
            await worker.queue_frame(TTSSpeakFrame(config.llm.first_message))

    # Both transports say it so: the browser's peer connection, or a person joining the room.
    @transport.event_handler("on_client_connected")
    async def _connected(transport: Any, client: Any) -> None:
        await greet()

    @transport.event_handler("on_client_disconnected")
    async def _disconnected(transport: Any, client: Any) -> None:
        await handle.end("the caller hung up")

    @worker.event_handler("on_idle_timeout")
    async def _idle(worker: Any) -> None:
        handle.end_reason = handle.end_reason or "idle timeout"

    loop = asyncio.get_running_loop()
    limit = loop.call_later(
        config.max_duration_seconds,
        lambda: asyncio.ensure_future(handle.end("max duration reached")),
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        await runner.run()
    finally:
        limit.cancel()
        await call.said(interrupted=True)
