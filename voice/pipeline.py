"""One call's real-time pipeline, built on pipecat:

    transport in → speech-to-text → user turn (voice activity, end of turn, interruptions)
      → the conversation engine's thinking step → text-to-speech → [avatar] → transport out
      → what was spoken, recorded

A pipeline error (a speech service failing, say) is recorded on the session's timeline with
pipecat's words, and reaches the caller as a sentence they can read (CallErrors). Text with
nothing to pronounce is not sent to text-to-speech at all (speakable).

The thinking step is sessions.engine.session_turn itself: the same prompt, history, tools
(through the webhook engine) and failure message as a chat; the engine records the user's
words, tool calls and errors. What the agent said is recorded here from the text that reached
the transport with its audio, so that after an interruption the unspoken rest is not recorded
as said. Each answered turn also records its latency: end of the user's speech → first agent
audio, with the turn detection, speech-to-text, LLM and text-to-speech parts.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.turns.user_mute.always_user_mute_strategy import AlwaysUserMuteStrategy
from pipecat.turns.user_mute.base_user_mute_strategy import BaseUserMuteStrategy
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy
from pipecat.turns.user_start.transcription_user_turn_start_strategy import (
    TranscriptionUserTurnStartStrategy,
)
from pipecat.turns.user_start.vad_user_turn_start_strategy import VADUserTurnStartStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.text.base_text_aggregator import TextType

from agents.configuration import AgentConfiguration, TurnDetectionConfig
from parley.db import database
from parley.llm import ToolCallRequest
from parley.redact import redact
from sessions.engine import Turn, session_turn
from sessions.models import EventKind, Session
from tools.execution import ToolRun

from .early import EarlyWhisperSTTService, PauseWatchingVAD, Quiet, ReplyGate
from .pieces import FirstPieceSooner
from .turns import (
    BackchannelProofStart,
    Verdict,
    over_agent_hearing,
    semantic_turn_stop,
    silence_verdict,
    trails_off,
    transcript_reader,
)

logger = logging.getLogger(__name__)

# A held answer whose silence is over waits at most this long (s) more while Silero hears a
# voice, beyond the agent's interrupt_duration_ms: time for the person going on to become their
# turn, not so long that a voice in the room keeps the agent silent.
VOICE_WAIT_SECONDS = 0.5
# A voice heard since then counts as gone after this much quiet, as voice activity's own stop
# does by default: a word that begins the person going on ("is open late") may have a quiet
# window or two in it.
VOICE_GONE_SECONDS = 0.2


@dataclass
class TurnClock:
    """When each step of the current turn happened (loop time, seconds)."""

    speech_end: float | None = None
    transcript: float | None = None
    turn_end: float | None = None
    first_token: float | None = None
    audio_ready: float | None = None
    first_audio: float | None = None
    verdict: Verdict | None = None  # how the turn ends, once voice activity stopped
    deciding: bool = False  # Smart-Turn is still judging it (the reply is held meanwhile)
    trails: bool = False  # its transcript trails off: it waits the whole silence
    reading: bool = False  # its transcript is being read for words that go on (held meanwhile)

    def latency(self) -> dict[str, int] | None:
        """The turn's latency and its parts in ms, once the agent's first audio went out."""
        speech_end, turn_end = self.speech_end, self.turn_end
        first_token, first_audio = self.first_token, self.first_audio
        if speech_end is None or turn_end is None or first_token is None or first_audio is None:
            return None

        def ms(a: float, b: float) -> int:
            return max(0, round((b - a) * 1000))

        ready = self.audio_ready or first_audio
        parts = {
            "latency_ms": ms(speech_end, first_audio),
            "turn_detection_ms": ms(speech_end, turn_end),
            "llm_ms": ms(turn_end, first_token),
            "tts_ms": ms(first_token, ready),
        }
        if self.audio_ready is not None:
            parts["held_ms"] = ms(ready, first_audio)
        if self.transcript is not None:
            parts["stt_ms"] = ms(speech_end, self.transcript)
        return parts


@dataclass
class Call:
    """What one call's processors share: its session and agent, the turn under way, and what
    has been spoken of the agent's current reply."""

    session: Session
    config: AgentConfiguration
    clock: TurnClock = field(default_factory=TurnClock)
    spoken: list[str] = field(default_factory=list)
    turn: Turn | None = None
    greeting: bool = False
    answering: bool = False
    turns: int = 0
    held_from: float | None = None  # an early answer waits for the silence since then
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    quiet: Quiet | None = None  # the user's voice activity (early.PauseWatchingVAD)
    # Whether a held answer's words go on though they sounded finished (turns.reads_unfinished).
    reader: Callable[[str], Awaitable[bool]] | None = None
    _reading: asyncio.Task[None] | None = None

    def verdict(self) -> Verdict:
        return self.clock.verdict or silence_verdict(self.config.turn_detection)

    def verdict_heard(self, verdict: Verdict | None) -> None:
        """How the turn ends, or None while Smart-Turn is still judging it. Words that trail
        off wait the whole silence, though they sounded finished."""
        clock = self.clock
        clock.deciding = verdict is None
        if verdict is None:
            self._stop_reading()
            clock.trails = False
            self.decided.clear()
            return
        if verdict.rule == "semantic" and clock.trails:
            verdict = Verdict("max", self.config.turn_detection.silence_duration_ms / 1000)
        clock.verdict = verdict
        if not clock.reading:
            self.decided.set()

    def answer_begins(self, content: str) -> None:
        """The turn's words go to the engine. An early answer is held for the silence
        (voice.early); words that trail off wait the whole of it (voice.turns.trails_off), as do
        words the reader, when there is one, reads as going on: it reads them meanwhile."""
        clock = self.clock
        self._stop_reading()
        clock.turn_end, clock.trails = self.now(), trails_off(content, self.config.stt.language)
        if clock.verdict is not None:
            self.verdict_heard(clock.verdict)
        self.held_from = clock.speech_end if answers_early(self.config.turn_detection) else None
        if self.reader is not None and self.held_from is not None and not clock.trails:
            clock.reading = True
            self.decided.clear()
            reading = self._read(self.reader, clock, content)
            self._reading = asyncio.get_running_loop().create_task(reading)

    async def _read(
        self, reader: Callable[[str], Awaitable[bool]], clock: TurnClock, content: str
    ) -> None:
        goes_on = await reader(content)
        if clock is not self.clock:  # the person has begun a new turn meanwhile
            return
        clock.reading, clock.trails = False, goes_on
        self._reading = None
        if clock.verdict is not None and not clock.deciding:
            self.verdict_heard(clock.verdict)

    def _stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None
        self.clock.reading = False

    def hold_until(self) -> float | None:
        """When a held answer may be heard (time.monotonic()), or None: once the silence its
        verdict asks for is over; while Smart-Turn is still judging or the words are read, no
        sooner than the longest silence (`settled` looks again when both are done)."""
        if self.held_from is None:
            return None
        if self.clock.deciding or self.clock.reading:
            return self.held_from + self.config.turn_detection.silence_duration_ms / 1000
        return self.held_from + self.verdict().silence

    def now(self) -> float:
        return time.monotonic()

    def audio_ready(self) -> None:
        if self.clock.first_token is not None and self.clock.audio_ready is None:
            self.clock.audio_ready = self.now()

    def holding(self) -> bool:
        """Whether a held answer waits still (`settled` returns when it need not)."""
        if (until := self.hold_until()) is None:
            return False
        now = self.now()
        quiet = self.quiet is None or self.quiet.lasted(VOICE_GONE_SECONDS, now)
        return until > now or (not quiet and now < until + self._voice_wait())

    async def settled(self) -> None:
        """Return once the user's silence has lasted long enough to end their turn, and no
        voice has been heard for VOICE_GONE_SECONDS (waited for until VOICE_WAIT_SECONDS past
        the agent's interrupt_duration_ms): a voice heard meanwhile, if it is the user going
        on, becomes their turn and drops the answer held; if a noise, it ends."""
        while (until := self.hold_until()) is not None and (wait := until - self.now()) > 0:
            if not (self.clock.deciding or self.clock.reading):
                await asyncio.sleep(wait)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.decided.wait(), wait)
        if until is not None and self.quiet is not None:
            await self.quiet.lasting(VOICE_GONE_SECONDS, by=until + self._voice_wait())

    def _voice_wait(self) -> float:
        return self.config.turn_detection.interrupt_duration_ms / 1000 + VOICE_WAIT_SECONDS

    async def said(self, *, interrupted: bool) -> None:
        """Record what the agent has spoken of its reply so far, if anything."""
        text = " ".join(piece.strip() for piece in self.spoken if piece.strip())
        turn, clock, greeting = self.turn, self.clock, self.greeting
        self.spoken, self.turn, self.greeting = [], None, False
        if not text:
            return
        data: dict[str, Any] = {"role": "assistant", "content": text}
        if interrupted:
            data["interrupted"] = True
        if turn is not None:
            if turn.failed:
                data["failure"] = True
            if turn.ttft_ms is not None:
                data["ttft_ms"] = round(turn.ttft_ms)
            data |= turn.usage
        if not greeting and (latency := clock.latency()) is not None:
            data |= latency
            data["turn_end"] = (clock.verdict or silence_verdict(self.config.turn_detection)).rule
        await _record_said(self.session, data)


def _said(session: Session, data: dict[str, Any]) -> None:
    from sessions.services import session_event_append

    with transaction.atomic():
        session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
        Session.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())


_record_said = database(_said)


def speakable(text: str) -> bool:
    """Whether the text has anything to pronounce: a letter or a digit. Text-to-speech makes no
    audio of punctuation alone ("…", "—"), and pipecat reports a part of a reply that made none
    as an error."""
    return any(character.isalnum() for character in text)


async def _unspeakable_dropped(text: str, text_type: str) -> str:
    return text if speakable(text) else ""  # nothing left: pipecat opens no audio for it


def tts_prepared(tts: Any) -> Any:
    """The call's text-to-speech, sent only sentences that have something to pronounce (whole
    sentences: a token alone, where a service takes tokens, may well be a "."). Piper, which
    makes each piece whole before its first sound, is given the reply's first piece sooner
    (voice.pieces)."""
    if isinstance(tts, TTSService):
        tts.add_text_transformer(_unspeakable_dropped, TextType.SENTENCE)
    if isinstance(tts, PiperTTSService):
        # pipecat takes no aggregator of one's own here; its sentence aggregator is replaced.
        language = tts._text_aggregator.language
        tts._text_aggregator = FirstPieceSooner(language=language)
    return tts


# What the caller reads when a part of the call fails; pipecat's own words go on the timeline.
CALLER_WORDS = {
    "tts": "The agent's voice failed for a moment, so part of its reply may be missing.",
    "stt": "The agent could not hear you for a moment. Please say that again.",
    "call": "Something went wrong on the agent's side.",
}
CALLER_WORDS_FATAL = "The call failed on the agent's side. Please call again."
PART_NAMES = {"tts": "Text-to-speech", "stt": "Speech-to-text", "call": "The call's pipeline"}


def _failed_part(frame: ErrorFrame) -> str:
    if isinstance(frame.processor, TTSService):
        return "tts"
    if isinstance(frame.processor, STTService):
        return "stt"
    return "call"


def _error(session: Session, data: dict[str, Any]) -> None:
    from sessions.services import session_event_append

    with transaction.atomic():
        session_event_append(session=session, kind=EventKind.ERROR, data=data)


_record_error = database(_error)


class CallErrors(FrameProcessor):
    """First in the pipeline, where an error pushed upstream passes before pipecat's RTVI
    processor tells the caller: the error is recorded on the session's timeline as pipecat
    words it, and goes on to the caller in words they understand."""

    def __init__(self, call: Call, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call = call

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, ErrorFrame) and direction == FrameDirection.UPSTREAM:
            part = _failed_part(frame)
            await self._recorded(frame, part)
            frame.error = CALLER_WORDS_FATAL if frame.fatal else CALLER_WORDS[part]
        await self.push_frame(frame, direction)

    async def _recorded(self, frame: ErrorFrame, part: str) -> None:
        detail = redact(str(frame.error))
        if frame.processor is not None:
            detail = f"{detail} ({frame.processor})"
        data: dict[str, Any] = {"code": f"{part}_error", "message": f"{PART_NAMES[part]}: {detail}"}
        if frame.fatal:
            data["fatal"] = True
        try:
            await _record_error(self.call.session, data)
        except Exception:  # the call goes on without the record; the log has the error
            logger.exception("Could not record a call's error on its timeline")


class _Listener:
    """The engine's reply, as pipecat frames: the text goes on to text-to-speech."""

    def __init__(self, thinking: "EngineThinking") -> None:
        self.thinking = thinking

    async def text(self, piece: str) -> None:
        call = self.thinking.call
        if call.clock.first_token is None:
            call.clock.first_token = call.now()
        await self.thinking.push_frame(LLMTextFrame(piece))

    async def tool_started(self, call: ToolCallRequest) -> None:
        await self.thinking.call.settled()  # no tool runs for a turn the user may go on with

    async def tool_finished(self, call: ToolCallRequest, run: ToolRun) -> None:
        return None


class EngineThinking(FrameProcessor):
    """The thinking step: each finished user turn goes to the conversation engine, and its
    reply comes out as LLM text frames. An interruption cancels the turn under way (pipecat
    cancels the frame being processed)."""

    def __init__(self, call: Call, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call = call
        self._heard = 0  # how many of the context's messages have been answered

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self._answer(frame.context)
            return
        await self.push_frame(frame, direction)

    def _new_words(self, context: LLMContext) -> str:
        messages = context.get_messages()
        new, self._heard = messages[self._heard :], len(messages)
        said = [m.get("content") for m in new if isinstance(m, dict) and m.get("role") == "user"]
        return " ".join(str(text).strip() for text in said if text).strip()

    async def _answer(self, context: LLMContext) -> None:
        content = self._new_words(context)
        if not content:
            return
        call = self.call
        await call.said(interrupted=bool(call.spoken))  # a reply still being spoken
        call.answer_begins(content)
        call.turns += 1
        call.answering = True
        await self.push_frame(LLMFullResponseStartFrame())
        try:
            call.turn = await session_turn(
                session=call.session,
                content=content,
                listener=_Listener(self),
                record_reply=False,
            )
        finally:
            call.answering = False
        await self.push_frame(LLMFullResponseEndFrame())

    async def greet(self) -> None:
        """Say the agent's first message."""
        message = self.call.config.llm.first_message
        if not message:
            return
        self.call.greeting = True
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(message))
        await self.push_frame(LLMFullResponseEndFrame())


class SpokenRecorder(FrameProcessor):
    """After the transport: the text frames that come through went out with their audio.
    What was spoken is recorded when the agent stops speaking, or when it is interrupted."""

    def __init__(self, call: Call, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call = call

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        call = self.call
        if isinstance(frame, TTSTextFrame) and direction == FrameDirection.DOWNSTREAM:
            call.spoken.append(frame.text)
        elif isinstance(frame, InterruptionFrame):
            await call.said(interrupted=True)
        elif isinstance(frame, BotStoppedSpeakingFrame) and not call.answering:
            await call.said(interrupted=False)
        await self.push_frame(frame, direction)


class TurnTimer(BaseObserver):
    """Marks the moments of a turn as frames pass: the end of the user's speech (voice
    activity stopped, less the silence it waited for), the transcript, the first agent audio."""

    def __init__(self, call: Call, vad_stop_seconds: float) -> None:
        super().__init__()
        self.call = call
        self.vad_stop = vad_stop_seconds

    async def on_push_frame(self, data: FramePushed) -> None:
        frame, clock, now = data.frame, self.call.clock, self.call.now()
        if isinstance(frame, UserStartedSpeakingFrame):
            if clock.first_audio is not None or clock.speech_end is not None:
                self.call.clock = TurnClock()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if clock.first_audio is not None:
                return  # an "mm-hmm" over the reply, which started no turn (voice.turns)
            clock.speech_end = now - self.vad_stop
            if clock.transcript is not None and clock.transcript < clock.speech_end:
                clock.transcript = None  # an earlier stretch of speech's (an early one is kept)
            clock.first_token = clock.first_audio = None
        elif isinstance(frame, TranscriptionFrame) and clock.transcript is None:
            clock.transcript = now
        elif isinstance(frame, BotStartedSpeakingFrame) and clock.first_audio is None:
            clock.first_audio = now if clock.first_token is not None else None


def answers_early(turn: TurnDetectionConfig) -> bool:
    """Whether a turn is answered before the silence that ends it is over (voice.early)."""
    return turn.interrupt_mode == "interrupt"


def vad_stop_seconds(turn: TurnDetectionConfig) -> float:
    """The silence after which voice activity counts speech as over (VOICE_VAD_STOP_MS); the
    rest of the agent's silence_duration_ms is waited out by the turn strategy, which also
    waits for the transcript."""
    return min(settings.VOICE_VAD_STOP_MS, turn.silence_duration_ms) / 1000


def user_turn_params(
    turn: TurnDetectionConfig,
    on_verdict: Callable[[Verdict | None], None] = lambda verdict: None,
    language: str = "en",
) -> LLMUserAggregatorParams:
    """The agent's turn_detection settings as pipecat's: threshold is the voice activity
    confidence; interrupt_duration_ms how long the user must speak to take the turn;
    silence_duration_ms the silence that ends it (answered early, the reply is held for the
    rest of it), or with mode semantic the longest silence, when the sentence sounds
    unfinished (voice.turns; `on_verdict` hears each verdict); interrupt_mode whether speaking
    over the agent interrupts it (interrupt), is heard and answered after (append), or is not
    listened to at all while the agent speaks (ignore); interrupt_min_words and
    backchannel_phrases (in the call's `language`) what speech over the agent stops it."""
    vad_stop = vad_stop_seconds(turn)

    def waited(silence: float) -> float:
        return 0.0 if answers_early(turn) else max(0.0, silence - vad_stop)

    vad = PauseWatchingVAD(
        params=VADParams(
            confidence=turn.threshold,
            start_secs=turn.interrupt_duration_ms / 1000,
            stop_secs=vad_stop,
        )
    )
    strategies = UserTurnStrategies(
        start=_turn_start(turn, language),
        stop=[_turn_stop(turn, waited, on_verdict)],
    )
    mute: list[BaseUserMuteStrategy] = (
        [AlwaysUserMuteStrategy()] if turn.interrupt_mode == "ignore" else []
    )
    return LLMUserAggregatorParams(
        vad_analyzer=vad, user_turn_strategies=strategies, user_mute_strategies=mute
    )


def _turn_start(turn: TurnDetectionConfig, language: str) -> list[BaseUserTurnStartStrategy]:
    interrupts = turn.interrupt_mode == "interrupt"
    hearing = over_agent_hearing(turn, language)
    if interrupts and hearing is not None:
        return [BackchannelProofStart(hearing)]
    return [
        VADUserTurnStartStrategy(enable_interruptions=interrupts),
        TranscriptionUserTurnStartStrategy(enable_interruptions=interrupts),
    ]


def _turn_stop(
    turn: TurnDetectionConfig,
    waited: Callable[[float], float],
    on_verdict: Callable[[Verdict | None], None],
) -> BaseUserTurnStopStrategy:
    if turn.mode == "semantic":
        return semantic_turn_stop(
            turn, waited=waited, on_verdict=on_verdict, held=answers_early(turn)
        )
    return SpeechTimeoutUserTurnStopStrategy(
        user_speech_timeout=waited(turn.silence_duration_ms / 1000)
    )


@dataclass
class Parts:
    """A call's pipeline and the pieces its runner needs to reach."""

    pipeline: Pipeline
    thinking: EngineThinking
    observers: list[BaseObserver]


def pipeline_build(
    *, call: Call, transport: Any, stt: Any, tts: Any, video: Any | None = None
) -> Parts:
    config = call.config
    params = user_turn_params(config.turn_detection, call.verdict_heard, config.stt.language)
    call.reader = transcript_reader(config.turn_detection, config.stt.language)
    if isinstance(vad := params.vad_analyzer, PauseWatchingVAD):
        call.quiet = vad.quiet
        if isinstance(stt, EarlyWhisperSTTService):
            stt.watch(vad)
    user = LLMContextAggregatorPair(LLMContext(), user_params=params).user()
    thinking = EngineThinking(call)
    gate = ReplyGate(call.holding, call.settled)
    gate.audio_ready = call.audio_ready
    tts_prepared(tts)
    steps = [CallErrors(call), transport.input(), stt, user, thinking, tts, gate]
    if video is not None:
        steps.append(video)
    steps += [transport.output(), SpokenRecorder(call)]
    timer = TurnTimer(call, vad_stop_seconds(config.turn_detection))
    return Parts(Pipeline(steps), thinking, [timer])
