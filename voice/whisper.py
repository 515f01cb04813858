"""One faster-whisper model shared by a worker's calls, with a fast path for short turns.

Whisper's encoder is trained on 30-second windows, and faster-whisper always pads the audio to
one: on two CPU cores, encoding that window is ~350 ms of a ~450 ms transcription, whatever the
turn's length. CTranslate2's encoder takes a shorter window, at a cost proportional to it. A
turn of up to SHORT_MAX_SECONDS is therefore encoded in a window of its own length plus a
second, and at least SHORT_WINDOW_SECONDS, then decoded greedily with timestamps (which end a
segment where the speech ends; without them, a window this short sometimes makes the decoder
repeat a short phrase until its limit). A transcript whose last segment is left open was cut
off by the limit, which no speech of that duration reaches, and one that places speech past the
end of the audio is made up: the turn is then transcribed again the usual way, so a loop costs
time, never a wrong transcript. Turns with a prompt or hotwords, and multilingual models without
a language, also go the usual way; a short turn with a prompt (voice.turns.OverAgent) is decoded
once, at temperature 0, and no longer than its duration needs: a prompt of short phrases can make
the decoder repeat them, and faster-whisper's fallback would decode the turn again at each of
its temperatures.

A call's transcription is given such a prompt through `heard_after` (a context variable: set for
one transcription, in the task that awaits it, it reaches the model's thread and no other call).
"""

import threading
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SAMPLE_RATE = 16_000
FRAMES_PER_SECOND = 100  # Whisper's log-mel features: one frame per 10 ms
SHORT_WINDOW_SECONDS = 5
SHORT_MAX_SECONDS = 25
# The decoder's max_length: well above what speech of the turn's duration needs.
TOKENS_BASE = 16
SECONDS_PER_STAMP = 0.02
STAMP_SLACK_SECONDS = 1  # tiny.en often ends a segment on a whole second past the speech
TOKENS_PER_SECOND = 16

# What the transcriptions of the current context are heard after, as Whisper's initial_prompt.
heard_after: ContextVar[str | None] = ContextVar("heard_after", default=None)


@dataclass(frozen=True)
class Heard:
    """A short turn's transcript, shaped like the faster-whisper segments callers read."""

    text: str
    no_speech_prob: float


class SharedWhisper:
    """A WhisperModel for all of a process's calls, one transcription at a time (concurrent
    ones would only fight over the same cores), decoded greedily: beam search is a third
    slower on two cores, and no better on short conversational turns."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.supported_languages = getattr(model, "supported_languages", None)
        self._lock = threading.Lock()

    def transcribe(self, audio: Any, **options: Any) -> tuple[list[Any], Any]:
        if before := heard_after.get():
            options["initial_prompt"] = before
        with self._lock:
            if (heard := self._short(audio, **options)) is not None:
                return [heard], None
            if options.get("initial_prompt") and len(audio) <= SHORT_MAX_SECONDS * SAMPLE_RATE:
                seconds = len(audio) / SAMPLE_RATE
                tokens = TOKENS_BASE + round(seconds * TOKENS_PER_SECOND)
                options = {"temperature": 0.0, "max_new_tokens": tokens, **options}
            segments, info = self.model.transcribe(audio, beam_size=1, **options)
            return list(segments), info

    def _short(
        self,
        audio: Any,
        language: str | None = None,
        hotwords: str | None = None,
        initial_prompt: str | None = None,
        **_: Any,
    ) -> Heard | None:
        seconds = len(audio) / SAMPLE_RATE
        multilingual = self.model.model.is_multilingual
        if seconds > SHORT_MAX_SECONDS or hotwords or initial_prompt:
            return None
        if multilingual and not language:
            return None
        return self._decode(self._encode(audio), seconds, language if multilingual else None)

    def _encode(self, audio: Any) -> Any:
        from faster_whisper.audio import pad_or_trim

        features = self.model.feature_extractor(audio)
        length = features.shape[-1] + FRAMES_PER_SECOND
        window = max(SHORT_WINDOW_SECONDS * FRAMES_PER_SECOND, length)
        return self.model.encode(pad_or_trim(features, window))

    def _decode(self, encoded: Any, seconds: float, language: str | None) -> Heard | None:
        from faster_whisper.tokenizer import Tokenizer

        tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task="transcribe",
            language=language,
        )
        prompt = list(tokenizer.sot_sequence)
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=1,
            max_length=TOKENS_BASE + round(seconds * TOKENS_PER_SECOND),
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = result.sequences_ids[0]
        if not _whole(tokens, tokenizer.timestamp_begin, seconds):
            return None
        words = [token for token in tokens if token < tokenizer.eot]
        return Heard(tokenizer.decode(words).strip(), result.no_speech_prob)


def _whole(tokens: list[int], timestamp_begin: int, seconds: float) -> bool:
    """Whether the decoder ended on its own: every segment closed by a timestamp, the last one
    within the audio (give or take the model's rounding). Cut off by max_length, it ends
    mid-segment; looping, it also tends to place speech in the silent padding."""
    stamps = [token - timestamp_begin for token in tokens if token >= timestamp_begin]
    if not stamps or len(stamps) % 2 or tokens[-1] < timestamp_begin:
        return False
    return stamps[-1] * SECONDS_PER_STAMP <= seconds + STAMP_SLACK_SECONDS
