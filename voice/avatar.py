"""The built-in video avatar: a face that speaks when the agent does.

An agent with `video.provider` "image" shows a picture: the image at `video.character_id` when
that is an http(s) URL (fetched once per call through parley.outbound, at most 5 MB), else a
face drawn from the agent's initial. Its mouth opens with the loudness of the agent's own audio,
frame by frame, so the movement follows the speech that goes out. The processor sits after
text-to-speech and sends its frames to the transport's video track; a streaming-avatar provider
would take its place in the pipeline (voice.runtime), fed the same audio."""

import asyncio
import io
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    StartFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agents.configuration import AgentConfiguration
from parley.outbound import OutboundClient, OutboundRequest

logger = logging.getLogger(__name__)

LEVELS = 6  # mouth openings drawn once, from closed to wide
MAX_IMAGE_BYTES = 5 * 1024 * 1024
BACKGROUND = (238, 242, 255)
SKIN = (99, 102, 241)


def _drawn_face(name: str, size: int) -> Image.Image:
    """A round face in the dashboard's indigo with the agent's initial as its nose-line."""
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    pad = size // 10
    draw.ellipse((pad, pad, size - pad, size - pad), fill=SKIN)
    eye_y, eye_dx, eye_r = size * 0.4, size * 0.15, size // 22
    for cx in (size / 2 - eye_dx, size / 2 + eye_dx):
        draw.ellipse((cx - eye_r, eye_y - eye_r, cx + eye_r, eye_y + eye_r), fill="white")
    initial = (name.strip()[:1] or "A").upper()
    font = ImageFont.load_default(size=size // 8)
    draw.text((size / 2, size * 0.53), initial, fill="white", font=font, anchor="mm")
    return image


def _mouths(base: Image.Image, size: int) -> list[bytes]:
    """The face with its mouth at each opening, as raw RGB frames."""
    frames = []
    cx, cy, width = size / 2, size * 0.7, size * 0.16
    for level in range(LEVELS):
        image = base.copy()
        draw = ImageDraw.Draw(image)
        height = 2 + level * size * 0.025
        draw.ellipse((cx - width, cy - height, cx + width, cy + height), fill=(30, 27, 75))
        frames.append(image.tobytes())
    return frames


def _picture(data: bytes, size: int) -> Image.Image | None:
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except Exception:  # not an image Pillow can read: the drawn face stands in
        return None
    return picture.convert("RGB").resize((size, size))


async def _fetch(url: str) -> bytes | None:
    async with OutboundClient() as client:
        delivery = await client.send(OutboundRequest("GET", url), timeout=10)
    if delivery.error or not delivery.status or delivery.status >= 300:
        logger.warning("The avatar image at %s could not be fetched", url)
        return None
    return delivery.body[:MAX_IMAGE_BYTES]


@dataclass
class Face:
    frames: list[bytes]
    size: int


async def face_for(*, config: AgentConfiguration, name: str, size: int) -> Face:
    source = config.video.character_id
    base = None
    if source.startswith(("http://", "https://")) and (data := await _fetch(source)):
        base = _picture(data, size)
    return Face(_mouths(base or _drawn_face(name, size), size), size)


SLICE = 0.05  # seconds of audio per loudness reading


class SpeakingAvatar(FrameProcessor):
    """Sends the face at `fps`; the mouth follows the loudness of the agent's audio. Speech
    is synthesized faster than it plays, so each slice of audio is placed on a timeline at the
    moment it will be heard, and an interruption clears what will not be."""

    def __init__(self, face: Face, fps: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.face, self.fps = face, fps
        self.timeline: deque[tuple[float, float]] = deque()  # (ends at, loudness)
        self.until = 0.0  # when the audio given so far will have played
        self._task: asyncio.Task[None] | None = None

    def _hear(self, audio: bytes, rate: int) -> None:
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32)
        step = max(1, int(rate * SLICE))
        at = max(time.monotonic(), self.until)
        for start in range(0, samples.size, step):
            part = samples[start : start + step]
            at += part.size / rate
            loudness = float(np.sqrt(np.mean(part**2))) / 5000
            self.timeline.append((at, min(1.0, loudness)))
        self.until = at

    def level(self) -> float:
        now = time.monotonic()
        while self.timeline and self.timeline[0][0] < now:
            self.timeline.popleft()
        return self.timeline[0][1] if self.timeline else 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self._task = self.create_task(self._send_frames())
        elif isinstance(frame, (EndFrame, CancelFrame)) and self._task is not None:
            await self.cancel_task(self._task)
            self._task = None
        elif isinstance(frame, TTSAudioRawFrame):
            self._hear(frame.audio, frame.sample_rate)
        elif isinstance(frame, InterruptionFrame):
            self.timeline.clear()
            self.until = 0.0
        await self.push_frame(frame, direction)

    async def _send_frames(self) -> None:
        size = (self.face.size, self.face.size)
        while True:
            opening = min(LEVELS - 1, round(self.level() * (LEVELS - 1)))
            image = self.face.frames[opening]
            await self.push_frame(OutputImageRawFrame(image=image, size=size, format="RGB"))
            await asyncio.sleep(1 / self.fps)


async def avatar_processor(
    *, config: AgentConfiguration, name: str, size: int, fps: int
) -> SpeakingAvatar:
    return SpeakingAvatar(await face_for(config=config, name=name, size=size), fps)
