"""The built-in video avatar: the agent's picture, which glows when the agent speaks.

An agent with `video.provider` "image" shows a picture: the image at `video.character_id` when
that is an http(s) URL (fetched once per call through parley.outbound, at most 5 MB), else a
disc with the agent's initial. It sits centred in a square frame the colour of the widget's call
stage, so that the frame reads as the stage however the page fits it; a ring around it widens
with the loudness of the agent's own audio, frame by frame, so the movement follows the speech
that goes out. The processor sits after text-to-speech and sends its frames to the transport's
video track; a streaming-avatar provider would take its place in the pipeline (voice.runtime),
fed the same audio."""

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

LEVELS = 6  # loudness steps drawn once, from silent (no ring) to loud (the widest)
MAX_IMAGE_BYTES = 5 * 1024 * 1024
STAGE = (17, 24, 39)  # the widget's call stage (#111827)
DISC = (79, 70, 229)  # the widget's default colour (#4f46e5)
RING = (165, 180, 252)
DISC_SHARE = 0.62  # of the frame's side
SMOOTH = 4  # drawn this many times larger, then scaled down: smooth edges


def initial_of(name: str) -> str:
    """What stands for the agent without a picture: its name's first letter or digit."""
    return next((c for c in name if c.isalnum()), "?").upper()


def _drawn_disc(name: str, side: int) -> Image.Image:
    """A disc with the agent's initial, `side` pixels square."""
    image = Image.new("RGB", (side, side), DISC)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=round(side * 0.5))
    draw.text((side / 2, side / 2), initial_of(name), fill="white", font=font, anchor="mm")
    return image


def _frames(disc: Image.Image, size: int) -> list[bytes]:
    """The disc centred on the stage, a ring around it at each loudness, as raw RGB frames."""
    big = size * SMOOTH
    side = round(big * DISC_SHARE)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
    disc = disc.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    centre, radius = big / 2, side / 2
    frames = []
    for level in range(LEVELS):
        image = Image.new("RGB", (big, big), STAGE)
        if level:
            ring = radius + big * 0.018 * level
            box = (centre - ring, centre - ring, centre + ring, centre + ring)
            ImageDraw.Draw(image).ellipse(box, fill=RING)
        corner = round(centre - radius)
        image.paste(disc, (corner, corner), mask)
        frames.append(image.resize((size, size), Image.Resampling.LANCZOS).tobytes())
    return frames


def _picture(data: bytes) -> Image.Image | None:
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except Exception:  # not an image Pillow can read: the drawn disc stands in
        return None
    width, height = picture.size
    edge = min(width, height)  # its centre square, which the disc shows
    left, top = (width - edge) // 2, (height - edge) // 2
    return picture.convert("RGB").crop((left, top, left + edge, top + edge))


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
    picture = None
    if source.startswith(("http://", "https://")) and (data := await _fetch(source)):
        picture = _picture(data)
    disc = picture or _drawn_disc(name, round(size * SMOOTH * DISC_SHARE))
    return Face(_frames(disc, size), size)


SLICE = 0.05  # seconds of audio per loudness reading


class SpeakingAvatar(FrameProcessor):
    """Sends the face at `fps`; its ring follows the loudness of the agent's audio. Speech
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
