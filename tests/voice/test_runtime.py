"""A call's WebRTC transport: the worker hears the caller's audio as it arrives, not held back
for smooth playout as aiortc holds it for a listener."""

import asyncio
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from tests.factories import SessionFactory
from voice import runtime

from .peer import Peer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def released_on(buffer: Any, packets: int) -> list[int]:
    """Which of `packets` consecutive Opus packets (20 ms each), as they arrive, let a frame
    out of the receiver's jitter buffer."""
    released = []
    for number in range(packets):
        packet = RtpPacket(payload_type=111, sequence_number=number, timestamp=number * 960)
        packet._data = b"\xf8"  # what the receiver hands its buffer: the packet's payload
        if buffer.add(packet)[1] is not None:
            released.append(number)
    return released


def answered_call_buffers(session: Any, monkeypatch: Any) -> dict[str, Any]:
    """The jitter buffers of the worker's receivers, by kind, once it has answered a caller's
    offer (a real aiortc peer, with video)."""
    answering: list[Any] = []  # the worker's peer connection
    hear_at_once = runtime._hear_at_once
    monkeypatch.setattr(
        runtime, "_hear_at_once", lambda pc: hear_at_once(answering.append(pc) or pc)
    )

    async def answer() -> dict[str, Any]:
        peer = Peer(video=True)
        await runtime.webrtc_transport(session, (await peer.offer())["sdp"])
        [pc] = answering
        buffers = {t.kind: getattr(t.receiver, runtime.JITTER_BUFFER) for t in pc.getTransceivers()}
        await pc.close()
        await peer.close()
        return buffers

    return asyncio.run(answer())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("frames", "released"),
    [
        (0, [1, 2, 3, 4, 5]),  # each frame as soon as the next packet shows it whole
        (4, [4, 5]),  # aiortc's own: 4 frames (80 ms) held back
    ],
)
def test_the_worker_hears_the_callers_audio_as_it_arrives(
    settings: Any, monkeypatch: Any, frames: int, released: list[int]
) -> None:
    settings.VOICE_INPUT_JITTER_FRAMES = frames
    buffers = answered_call_buffers(SessionFactory(), monkeypatch)

    assert released_on(buffers["audio"], 6) == released
    assert buffers["video"]._is_video  # the camera's buffer is aiortc's own
