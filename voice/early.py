"""Answering early, without speaking early.

A turn ends after the agent's `silence_duration_ms` of silence (480 ms by default). Waiting it out
before transcribing and thinking puts all of it in front of the reply. Instead, while the user
is silent:

- the pause is transcribed as it begins (EarlyWhisperSTTService, told by PauseWatchingVAD):
  when voice activity then counts as stopped, the transcript is ready or nearly so;
- the turn is answered as soon as its transcript is in, and ReplyGate holds the reply's audio
  (and the engine holds its tool calls) until the silence has lasted `silence_duration_ms`
  (with `mode: semantic`, the silence Smart-Turn's verdict asks for: the answer is under way
  while Smart-Turn judges the turn, voice.turns).

If the user speaks again before then, the interruption that starts their new turn drops the
held reply unheard, and the engine's turn is cancelled before any tool ran; what the user said
in both parts is recorded, as two messages, and answered together. Only agents whose
`interrupt_mode` is "interrupt" answer early: in the other modes speaking again does not
interrupt, so those turns wait for the whole silence, as before.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    SystemFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.whisper.stt import WhisperSTTService

from .turns import OverAgent, SpeechOverAgent
from .whisper import heard_after

# A dip in voice activity this long is taken as a pause worth transcribing.
PAUSE_SECONDS = 0.03


class Quiet:
    """Whether Silero hears no voice (`event` set), and since when (time.monotonic())."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.event.set()
        self.since = float("-inf")

    def heard(self, voice: bool) -> None:
        if voice:
            self.event.clear()
        elif not self.event.is_set():
            self.event.set()
            self.since = time.monotonic()

    def lasted(self, seconds: float, now: float) -> bool:
        """Whether no voice has been heard for `seconds` by `now`."""
        return self.event.is_set() and now - self.since >= seconds

    async def lasting(self, seconds: float, *, by: float) -> None:
        """Return once no voice has been heard for `seconds`, or at `by` at the latest."""
        while not self.lasted(seconds, now := time.monotonic()) and now < by:
            if self.event.is_set():
                await asyncio.sleep(min(self.since + seconds, by) - now)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), by - now)


class PauseWatchingVAD(SileroVADAnalyzer):
    """Silero voice activity that also tells `on_pause` when the user has been quiet for
    PAUSE_SECONDS, and `on_resume` when they speak again before it counts as stopped. `quiet`
    holds while Silero hears no voice: it ends as soon as it does, a few windows before voice
    activity counts as speech (the user going on: their turn, which drops a held answer) or
    ends (a noise)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_pause: Callable[[], None] = lambda: None
        self.on_resume: Callable[[], None] = lambda: None
        self.quiet = Quiet()
        self._quiet = 0.0  # seconds of audio since the voice activity began to drop
        self._told = False
        self._voiced = False  # Silero's last window was above the confidence threshold

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)
        self._voiced = confidence >= self.params.confidence
        return confidence

    async def analyze_audio(self, buffer: bytes) -> VADState:
        state = await super().analyze_audio(buffer)
        self.quiet.heard(self._voiced or state in (VADState.STARTING, VADState.SPEAKING))
        if state != VADState.STOPPING:
            if self._told and state == VADState.SPEAKING:
                self.on_resume()
            self._quiet, self._told = 0.0, False
            return state
        self._quiet += len(buffer) / (2 * self.sample_rate)  # 16-bit mono
        if not self._told and self._quiet >= PAUSE_SECONDS:
            self._told = True
            self.on_pause()
        return state


class EarlyWhisperSTTService(WhisperSTTService):
    """Whisper that starts transcribing a pause as it begins. When voice activity then stops
    with no speech in between, that transcript is the segment's; otherwise it is dropped.

    Speech that began while the agent spoke, shorter than an acknowledgement can be
    (voice.turns.BACKCHANNEL_SECONDS), whose words would stop the agent, is transcribed again as
    `over_agent` says (voice.turns.OverAgent), and that transcript is the segment's."""

    def __init__(self, *, over_agent: OverAgent | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.over_agent = over_agent
        self.speech = SpeechOverAgent()
        self._early: asyncio.Task[list[Frame]] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        self.speech.track(frame)
        await super().process_frame(frame, direction)

    def watch(self, vad: PauseWatchingVAD) -> None:
        vad.on_pause, vad.on_resume = self._pause_began, self._forget

    def _pause_began(self) -> None:
        self._forget()
        pcm = bytes(self._audio_buffer) + self._trailing_silence()
        self._early = self.create_task(self._frames(pcm), name="early-transcription")

    def _forget(self) -> None:
        if self._early is not None:
            self._early.cancel()  # its thread finishes on its own; the result is dropped
            self._early = None

    async def _frames(self, pcm: bytes) -> list[Frame]:
        frames = await self._transcribed(pcm)
        over_agent = self.over_agent
        if over_agent is not None and over_agent.prompt and self._short_over_agent():
            said = " ".join(f.text for f in frames if isinstance(f, TranscriptionFrame))
            if over_agent.stops_agent(said):
                frames = await self._transcribed(pcm, after=over_agent.prompt)
        return frames

    def _short_over_agent(self) -> bool:
        return self.speech.began_over_agent and not self.speech.acknowledgement_long

    async def _transcribed(self, pcm: bytes, *, after: str | None = None) -> list[Frame]:
        token = heard_after.set(after)
        try:
            return [frame async for frame in super().run_stt(pcm) if frame is not None]
        finally:
            heard_after.reset(token)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        early, self._early = self._early, None
        frames = await early if early is not None else await self._frames(audio)
        for frame in frames:
            yield frame


class ReplyGate(FrameProcessor):
    """Holds a reply on its way out while `holding()`, until `settled()` returns, then lets it
    through in order. Once a reply's first audio has gone out, the rest of it is not held. An
    interruption drops what is held."""

    def __init__(
        self,
        holding: Callable[[], bool],
        settled: Callable[[], Awaitable[None]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.holding, self.settled = holding, settled
        self.audio_ready: Callable[[], None] = lambda: None
        self._held: list[Frame] = []
        self._release: asyncio.Task[None] | None = None
        self._heard = False  # the reply under way has begun to be heard

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            await self._drop()
        elif direction == FrameDirection.DOWNSTREAM and not isinstance(frame, SystemFrame):
            if isinstance(frame, LLMFullResponseStartFrame):
                self._heard = False
            if isinstance(frame, TTSAudioRawFrame):
                self.audio_ready()
            if self._held or (not self._heard and self.holding()):
                self._held.append(frame)
                if self._release is None:
                    self._release = self.create_task(self._released(), name="reply-gate")
                return
            self._heard = self._heard or isinstance(frame, TTSAudioRawFrame)
        await self.push_frame(frame, direction)

    async def _released(self) -> None:
        await self.settled()
        while self._held:
            frame = self._held.pop(0)
            self._heard = self._heard or isinstance(frame, TTSAudioRawFrame)
            await self.push_frame(frame)
        self._release = None

    async def _drop(self) -> None:
        self._held.clear()
        if self._release is not None:
            await self.cancel_task(self._release)
            self._release = None
