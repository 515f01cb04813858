"""How the person's turn ends (by silence alone, or by meaning), and what stops the agent.

With `turn_detection.mode: semantic`, pipecat's Smart-Turn model (v3, shipped in pipecat's
wheel, one copy per worker process) hears the turn's audio as soon as voice activity stops and
says whether the sentence sounds finished. A finished one ends the turn after a short silence
(the agent's `eagerness`: high, auto or low); an unfinished one ("I'd like to book a…") waits
for the agent's whole `silence_duration_ms`, as `mode: silence` always does; so does one whose
transcript stops on a word no sentence ends on ("I was wondering if", "My order number is"),
or, in English, that the packaged language model reads as going on ("Tell me which platform":
`reads_unfinished`).
Each answered turn records the rule that ended it: `silence`, `semantic` (finished, short
silence) or `max` (unfinished, the whole silence waited for). An answer held for the silence
(voice.early) is begun meanwhile, as soon as the transcript is in, and held until the verdict
comes and its silence is over.

While the agent speaks, with `interrupt_mode: interrupt` and `interrupt_min_words` above 0, an
acknowledgement ("mm-hmm", "okay", "yeah") or a noise does not stop it: speech stops the agent
when its transcript has at least `interrupt_min_words` words and is not only backchannel phrases
(the language's built-in list, or the agent's `backchannel_phrases` for it), or when it goes on
longer than an acknowledgement does (BACKCHANNEL_SECONDS after voice activity began: Whisper
transcribes only once the person pauses, and "wait, stop, that's wrong" must stop it at once).
What is dropped is neither answered nor recorded. With 0, voice activity alone stops it, after
`interrupt_duration_ms`, as Agora's does.
"""

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)

from agents.configuration import TurnDetectionConfig, language_code

logger = logging.getLogger(__name__)

# By eagerness: the silence (s) that ends a finished sentence, and how sure Smart-Turn must be
# that it is finished (its probability; pipecat's own threshold is 0.5).
FINISHED_SILENCE = {"high": 0.2, "auto": 0.3, "low": 0.5}
FINISHED_ABOVE = {"high": 0.3, "auto": 0.5, "low": 0.7}

# Voice activity that lasts this long (s, after it counted as speech) is no acknowledgement.
BACKCHANNEL_SECONDS = 0.8
# What people say to show they are listening, by language (stt.language's first part).
BACKCHANNELS = {
    "en": (
        "mm-hmm, mhm, mm, hmm, uh-huh, uh huh, yeah, yep, yes, okay, ok, right, sure, alright, "
        "all right, i see, got it, cool, great, nice, wow, oh, ah, exactly, true"
    ),
    "de": "mhm, hm, ja, genau, okay, ok, alles klar, stimmt, ach so, aha, richtig",
    "fr": "mhm, hm, oui, ouais, d'accord, ok, okay, voilà, exactement, ah bon, je vois",
    "es": "mhm, sí, claro, vale, ok, okay, ya, exacto, entiendo, ajá, bueno",
}


# How many of a language's acknowledgements Whisper hears as said before short speech over the
# agent whose words would stop it (OverAgent).
PROMPTED_PHRASES = 8

# Words a sentence does not end on, by language: a transcript that stops on one ("Is it possible
# to", "I was wondering if", "uh") is a sentence going on, whatever its intonation.
TRAILING = {
    "en": "a an the my your our their his and or but if whether because of to than with from "
    "into um uh er erm",
    "de": "der die das den dem des ein eine einen und oder aber wenn ob weil dass mit von zu für "
    "äh ähm",
    "fr": "le la les un une des du et ou mais si que parce de à pour avec euh",
    "es": "el la los las un una y o pero si que porque de del a para con eh",
}
# A copula a sentence goes on from ("My order number is", "Mon numéro est", "Mi número es"),
# by language, with the words after which it ends one ("yes, it is", "je sais où il est", "sí,
# lo es"). German puts verbs last in subordinate clauses, so it has none.
COPULAS = {
    "en": ("is are was were", "it this that there he she they we you i"),
    "fr": ("est sont était étaient", "il elle on ça cela ils elles qu'il qu'elle"),
    "es": ("es son era eran", "lo que qué eso esto ello quién cuál dónde donde cómo como"),
}
# How Whisper writes speech that trails off.
ELLIPSES = ("...", "…")
# Below this probability that an English transcript ends where it stops, by the packaged
# SmolLM2's reading (localllm.reading), its words go on. Measured on 46 finished sentences and
# 44 cut off (docs/voice.md): no finished one is below 0.02, 36 of those cut off are below 0.01.
UNFINISHED_BELOW = 0.01
# The languages the packaged model reads.
READ_LANGUAGES = ("en",)


@dataclass(frozen=True)
class Verdict:
    """How the turn under way ends: the rule, and the silence (s) after speech that ends it."""

    rule: str  # "silence", "semantic" or "max"
    silence: float


def silence_verdict(turn: TurnDetectionConfig) -> Verdict:
    return Verdict("silence", turn.silence_duration_ms / 1000)


@functools.cache
def smart_turn_model() -> Any:
    """Smart-Turn's ONNX session, loaded once per process (onnxruntime runs it from any thread)."""
    return LocalSmartTurnAnalyzerV3()._session


class SmartTurn(LocalSmartTurnAnalyzerV3):
    """Smart-Turn v3 for one call, on the process's model, taking a sentence as finished above
    `finished_above`. It hears all the person said since it was last cleared: a verdict keeps
    the audio (pipecat's drops it on "finished"), so that words that go on after a pause are
    heard with the ones before it."""

    def __init__(self, finished_above: float = 0.5) -> None:
        BaseSmartTurn.__init__(self)  # LocalSmartTurnAnalyzerV3's own loads the model per call
        self._session = smart_turn_model()
        self._log_data = False
        self.finished_above = finished_above

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, Any]:
        loop = asyncio.get_running_loop()
        segment, heard = self._process_speech_segment, list(self._audio_buffer)
        return await loop.run_in_executor(self._model_executor, segment, heard)

    def _predict_endpoint(self, audio_array: np.ndarray) -> dict[str, Any]:
        result = super()._predict_endpoint(audio_array)
        return result | {"prediction": int(result["probability"] > self.finished_above)}


class SemanticTurnStop(SpeechTimeoutUserTurnStopStrategy):
    """pipecat's silence timer, its length chosen when voice activity stops: Smart-Turn hears
    what the person said since the agent last began to speak, and `on_verdict` is told the
    rule and the silence that will end it. An answer held for the silence (voice.early) is
    dropped when the person goes on; Smart-Turn then hears both parts together ("I need eggs,
    … milk, …"), not the last alone.

    `waited` is the part of that silence this strategy waits for itself, given the silence:
    the rest of it after voice activity stopped, or nothing when the reply is held instead
    (voice.early). A held reply does not wait for Smart-Turn either: the turn ends as soon as
    its transcript is in, `on_verdict` is told None while Smart-Turn decides, then its verdict,
    and the reply is held until the verdict's silence is over."""

    def __init__(
        self,
        *,
        analyzer: SmartTurn,
        finished: Verdict,
        unfinished: Verdict,
        waited: Callable[[float], float],
        on_verdict: Callable[[Verdict | None], None],
        held: bool = False,
    ) -> None:
        super().__init__(user_speech_timeout=waited(unfinished.silence))
        self.analyzer, self.finished, self.unfinished = analyzer, finished, unfinished
        self.waited, self.on_verdict, self.held = waited, on_verdict, held
        self._in_turn = False  # speech over the agent may be no turn at all (an "mm-hmm")
        self._deciding: asyncio.Task[None] | None = None

    async def handle_user_turn_started(self) -> None:
        await super().handle_user_turn_started()
        self._in_turn = True

    async def setup(self, setup: Any) -> None:
        await super().setup(setup)
        self.analyzer.set_sample_rate(setup.audio_in_sample_rate)

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._stop_deciding()
        await self.analyzer.cleanup()

    async def handle_user_turn_stopped(self) -> None:
        await super().handle_user_turn_stopped()
        self._in_turn = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, BotStartedSpeakingFrame):
            self.analyzer.clear()  # the reply is heard: what follows is a new turn
        elif isinstance(frame, InputAudioRawFrame):
            self.analyzer.append_audio(frame.audio, self._vad_user_speaking)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.analyzer.update_vad_start_secs(frame.start_secs)
        return await super().process_frame(frame)

    async def _handle_vad_user_started_speaking(self, frame: VADUserStartedSpeakingFrame) -> None:
        await self._stop_deciding()  # the person goes on: a verdict on part of it is no use
        await super()._handle_vad_user_started_speaking(frame)

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        if not self._in_turn:
            self.analyzer.clear()
            return await super()._handle_vad_user_stopped_speaking(frame)
        if self.held:
            await self._stop_deciding()
            self.on_verdict(None)
            self._deciding = self.task_manager.create_task(self._decide(), f"{self}::decide")
        else:
            verdict = await self._verdict()
            self._user_speech_timeout = self.waited(verdict.silence)
            self.on_verdict(verdict)
        await super()._handle_vad_user_stopped_speaking(frame)

    async def _verdict(self) -> Verdict:
        state, _metrics = await self.analyzer.analyze_end_of_turn()
        return self.finished if state == EndOfTurnState.COMPLETE else self.unfinished

    async def _decide(self) -> None:
        try:
            verdict = await self._verdict()
        except Exception:  # the held reply then waits the whole silence, as an unfinished one
            logger.exception("Smart-Turn could not judge the turn")
            verdict = self.unfinished
        self._deciding = None
        self.on_verdict(verdict)

    async def _stop_deciding(self) -> None:
        if self._deciding is not None:
            await self.task_manager.cancel_task(self._deciding)
            self._deciding = None


def semantic_turn_stop(
    turn: TurnDetectionConfig,
    *,
    waited: Callable[[float], float],
    on_verdict: Callable[[Verdict | None], None],
    held: bool = False,
) -> SemanticTurnStop:
    """The stop strategy of an agent with `mode: semantic`, at its eagerness (`held`: the
    reply is held for the silence, voice.early). A finished sentence never waits longer than
    the agent's silence_duration_ms."""
    longest = turn.silence_duration_ms / 1000
    finished = Verdict("semantic", min(FINISHED_SILENCE[turn.eagerness], longest))
    return SemanticTurnStop(
        analyzer=SmartTurn(FINISHED_ABOVE[turn.eagerness]),
        finished=finished,
        unfinished=Verdict("max", longest),
        waited=waited,
        on_verdict=on_verdict,
        held=held,
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.lower())


def _acknowledgements(turn: TurnDetectionConfig, language: str) -> list[str]:
    """The language's backchannel phrases: the agent's own for it, or the built-in ones."""
    code = language_code(language)
    if code in turn.backchannel_phrases:
        return list(turn.backchannel_phrases[code])
    return BACKCHANNELS.get(code, "").split(",")


def backchannel_phrases(turn: TurnDetectionConfig, language: str) -> list[list[str]]:
    """The phrases that do not stop the agent, as words, longest first."""
    found = [_words(phrase) for phrase in _acknowledgements(turn, language)]
    return sorted((words for words in found if words), key=len, reverse=True)


@dataclass(frozen=True)
class OverAgent:
    """How speech that began over the agent is heard, by voice.early's Whisper and by
    BackchannelProofStart. Its words stop the agent when `interrupts` says so. Words that would,
    said for less time than an acknowledgement can last, are transcribed again after `prompt`
    (when the language has acknowledgements), the first of them as sentences ("Mm-hmm. Mhm.
    Mm. …"), as if said before them: Whisper then writes a hummed acknowledgement as one, where
    alone it may hear words ("in a month", "and may change") that stop the agent. Words are still
    heard as words: "Stop.", "Wait, stop, that's wrong." (tests/voice/test_early.py)."""

    prompt: str
    min_words: int
    phrases: list[list[str]]

    def stops_agent(self, text: str) -> bool:
        return interrupts(text, min_words=self.min_words, phrases=self.phrases)


def over_agent_hearing(turn: TurnDetectionConfig, language: str) -> OverAgent | None:
    """How speech over the agent is heard, or None when words do not decide whether it stops
    the agent (`interrupt_min_words` 0: voice activity alone does)."""
    if turn.interrupt_min_words == 0:
        return None
    phrases = (phrase.strip() for phrase in _acknowledgements(turn, language))
    said = [phrase for phrase in phrases if phrase][:PROMPTED_PHRASES]
    prompt = " ".join(f"{phrase[0].upper()}{phrase[1:]}." for phrase in said)
    return OverAgent(prompt, turn.interrupt_min_words, backchannel_phrases(turn, language))


class SpeechOverAgent:
    """What the frames say of the person's speech and the agent's: whether the agent is
    speaking, whether the person's latest speech began while it was, and for how long (s of
    audio) that speech has gone on, while voice activity counts it."""

    def __init__(self) -> None:
        self.agent_speaking = False
        self.began_over_agent = False
        self.speaking = False
        self.seconds = 0.0

    def track(self, frame: Frame) -> None:
        if isinstance(frame, BotStartedSpeakingFrame):
            self.agent_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.agent_speaking = False
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.began_over_agent, self.speaking, self.seconds = self.agent_speaking, True, 0.0
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self.speaking = False
        elif isinstance(frame, InputAudioRawFrame) and self.speaking:
            self.seconds += len(frame.audio) / (2 * frame.sample_rate * frame.num_channels)

    @property
    def acknowledgement_long(self) -> bool:
        """Whether the latest speech has gone on as long as an acknowledgement can last."""
        return self.seconds >= BACKCHANNEL_SECONDS


def trails_off(text: str, language: str) -> bool:
    """Whether the transcript stops on a word no sentence ends on (TRAILING, by the first part
    of `language`), on a copula after a noun (COPULAS), or where Whisper heard it trail off."""
    words = _words(text)
    code = language_code(language)
    if not words:
        return False
    if words[-1] in TRAILING.get(code, "").split() or text.rstrip().endswith(ELLIPSES):
        return True
    copulas, after_which_it_ends = (part.split() for part in COPULAS.get(code, ("", "")))
    return words[-1] in copulas and len(words) > 1 and words[-2] not in after_which_it_ends


def transcript_reader(
    turn: TurnDetectionConfig, language: str
) -> Callable[[str], Awaitable[bool]] | None:
    """What reads a held answer's words for whether they go on: `reads_unfinished` in semantic
    mode, in the languages the packaged model reads."""
    if turn.mode == "semantic" and language_code(language) in READ_LANGUAGES:
        return reads_unfinished
    return None


async def reads_unfinished(text: str) -> bool:
    """Whether the packaged language model reads an English transcript as words that go on
    ("Tell me which platform", "Do you know whether the pharmacy"), though they may sound
    finished. False when it cannot read (logged): Smart-Turn's verdict stands."""
    from localllm.reading import sentence_end_probability
    from localllm.selectors import LocalLLMUnavailable

    loop = asyncio.get_running_loop()
    try:
        probability = await loop.run_in_executor(None, sentence_end_probability, text)
    except LocalLLMUnavailable as exc:
        _cannot_read(str(exc))
        return False
    except Exception:
        logger.exception("The packaged model could not read a transcript")
        return False
    return probability < UNFINISHED_BELOW


@functools.cache
def _cannot_read(reason: str) -> None:
    """Said once per process: semantic turns then go by Smart-Turn and the words alone."""
    logger.warning("Transcripts are not read for their end of turn: %s", reason)


def _hum(word: str) -> bool:
    """A sound with no vowel, as Whisper writes a hum ("mm", "hmm", "nmm"): no word."""
    return not re.search(r"[aeiouyàâäáéèêëíìîïóòôöúùûüœæ\d]", word)


def interrupts(text: str, *, min_words: int, phrases: list[list[str]]) -> bool:
    """Whether words said over the agent stop it: at least `min_words` words, not all of them
    backchannel phrases or hums ("okay, mm-hmm" is an acknowledgement, "okay, stop" is not)."""
    words = [word for word in _words(text) if not _hum(word)]
    if len(words) < min_words:
        return False
    rest = words
    while rest:
        phrase = next((p for p in phrases if rest[: len(p)] == p), None)
        if phrase is None:
            return True
        rest = rest[len(phrase) :]
    return False


class BackchannelProofStart(BaseUserTurnStartStrategy):
    """The person's turn starts as pipecat's voice activity and transcription strategies start
    it, except over the agent's speech: there, what `hearing` says stops the agent, or speech
    longer than BACKCHANNEL_SECONDS (of audio: counted as it comes); the rest is dropped."""

    def __init__(self, hearing: OverAgent) -> None:
        super().__init__(enable_interruptions=True)
        self.hearing = hearing
        self.speech = SpeechOverAgent()
        # Speech that began over the agent, not yet let through or dropped: its transcript is
        # judged as such even when it comes after the agent has finished (Whisper, on a loaded
        # machine, may take longer than the rest of the reply).
        self._judging = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        self.speech.track(frame)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._judging = self.speech.began_over_agent
            if not self._judging:
                return await self._started()
        elif isinstance(frame, InputAudioRawFrame):
            if self._judging and self.speech.speaking and self.speech.acknowledgement_long:
                return await self._started()
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)):
            return await self._heard(frame)
        return ProcessFrameResult.CONTINUE

    async def _heard(self, frame: TranscriptionFrame | InterimTranscriptionFrame) -> Any:
        if not (self.speech.agent_speaking or self._judging):
            return await self._started()
        if self.hearing.stops_agent(frame.text):
            return await self._started()
        if isinstance(frame, TranscriptionFrame):
            self._judging = False
            await self.trigger_reset_aggregation()  # neither answered nor recorded
        return ProcessFrameResult.CONTINUE

    async def _started(self) -> ProcessFrameResult:
        self._judging = False
        await self.trigger_user_turn_started()
        return ProcessFrameResult.STOP
