"""Answering early: the reply gate, the voice activity that tells a pause has begun, and the
transcription of speech over the agent."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    TextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.tests.utils import SleepFrame, run_test

from agents.configuration import STTConfig, TurnDetectionConfig
from voice.early import PauseWatchingVAD, ReplyGate
from voice.offline import whisper_stt
from voice.turns import over_agent_hearing

from .peer import speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def until(release: float | None) -> tuple[Callable[[], bool], Callable[[], Awaitable[None]]]:
    """A gate's `holding` and `settled` for a reply held until `release` (time.monotonic()),
    or not held (None)."""

    def holding() -> bool:
        return release is not None and release > time.monotonic()

    async def settled() -> None:
        if release is not None:
            await asyncio.sleep(max(0.0, release - time.monotonic()))

    return holding, settled


def test_the_gate_holds_the_reply_until_its_time_then_lets_it_through_in_order() -> None:
    release = time.monotonic() + 0.4
    gate = ReplyGate(*until(release))

    started = time.monotonic()
    down, _ = asyncio.run(
        run_test(
            gate, frames_to_send=[TextFrame("one"), TextFrame("two")], expected_down_frames=None
        )
    )

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["one", "two"]
    assert time.monotonic() - started >= 0.4


def test_the_gate_lets_everything_through_when_there_is_nothing_to_wait_for() -> None:
    gate = ReplyGate(*until(None))

    down, _ = asyncio.run(run_test(gate, frames_to_send=[TextFrame("one")]))

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["one"]


def test_the_gate_lets_the_reply_through_when_settled_says_so() -> None:
    later = time.monotonic() + 30  # a call's longest silence, while its verdict is to come

    async def settled() -> None:
        await asyncio.sleep(0.3)  # the verdict came: the silence it asks for is over

    gate = ReplyGate(lambda: True, settled)
    down, _ = asyncio.run(run_test(gate, frames_to_send=[TextFrame("one"), TextFrame("two")]))

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["one", "two"]
    assert time.monotonic() < later


def test_once_a_replys_audio_went_out_the_rest_of_it_is_not_held() -> None:
    asked = 0

    def holding() -> bool:  # the audio is held; what came after it would be too ("mm-hmm")
        nonlocal asked
        asked += 1
        return asked > 1

    async def settled() -> None:
        await asyncio.sleep(0.2)

    audio = TTSAudioRawFrame(b"\0" * 320, 16_000, 1)
    frames = [LLMFullResponseStartFrame(), audio, TextFrame("rest"), TextFrame("more")]
    down, _ = asyncio.run(run_test(ReplyGate(holding, settled), frames_to_send=frames))

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["rest", "more"]
    assert asked == 2  # the reply's start and its audio; nothing once the audio went out


def test_an_interruption_drops_the_held_reply() -> None:
    release = time.monotonic() + 0.3
    gate = ReplyGate(*until(release))

    frames = [TextFrame("unheard"), SleepFrame(sleep=0.1), InterruptionFrame()]
    down, _ = asyncio.run(run_test(gate, frames_to_send=frames))

    assert not [frame for frame in down if isinstance(frame, TextFrame)]
    assert any(isinstance(frame, InterruptionFrame) for frame in down)


def test_voice_activity_tells_when_a_pause_begins_and_when_speech_resumes() -> None:
    told: list[str] = []
    vad = PauseWatchingVAD()
    vad.set_sample_rate(16_000)
    vad.on_pause, vad.on_resume = lambda: told.append("pause"), lambda: told.append("resume")
    words = speech("Can you book a table for two", rate=16_000)
    words = words[: np.flatnonzero(np.abs(words) > 300)[-1]]  # without the voice's own silence
    pause = np.zeros(16_000 // 10, dtype=np.int16)  # 100 ms: under the 200 ms stop
    audio = np.concatenate([words, pause, words, np.zeros(16_000, dtype=np.int16)])

    async def listen() -> None:
        for start in range(0, len(audio), 320):  # 20 ms at a time, as a call's audio comes
            await vad.analyze_audio(audio[start : start + 320].tobytes())

    asyncio.run(listen())

    assert told == ["pause", "resume", "pause"]


def test_voice_activity_is_not_quiet_from_the_moment_a_voice_is_heard() -> None:
    vad = PauseWatchingVAD()
    vad.set_sample_rate(16_000)
    words = speech("Can you book a table for two", rate=16_000)
    words = words[np.flatnonzero(np.abs(words) > 300)[0] :]  # from its first sound
    silence = np.zeros(16_000, dtype=np.int16)
    quiet: list[tuple[str, bool]] = []

    async def listen(audio: np.ndarray, label: str) -> None:
        for start in range(0, len(audio), 320):
            state = await vad.analyze_audio(audio[start : start + 320].tobytes())
            what = label if state != VADState.QUIET else "silence"
            quiet.append((what, vad.quiet.event.is_set()))

    async def heard() -> None:
        await listen(silence, "silence")
        await listen(words[: 16_000 // 10], "speech")  # 100 ms: too short to count as speech
        await listen(silence, "silence")

    asyncio.run(heard())

    assert ("speech", True) not in quiet  # never counted as speech
    assert ("silence", False) in quiet  # yet not quiet while the voice was heard
    assert quiet[0] == ("silence", True)
    assert quiet[-1] == ("silence", True)


def transcribed(text: str, *, over_agent: bool, **settings: Any) -> str:
    """What a call's Whisper writes for `text` said by Piper (the same audio each run), over
    the agent's speech or not, with the agent's turn_detection `settings`."""
    turn = TurnDetectionConfig.model_validate(settings)
    stt = whisper_stt(STTConfig(), over_agent_hearing(turn, "en"))
    said = speech(text, rate=16_000, steady=True)
    loud = np.flatnonzero(np.abs(said) > 300)
    said = said[loud[0] : loud[-1]]  # without the voice's own silence, as a person says it
    audio = np.concatenate([said, np.zeros(3200, dtype=np.int16)])
    chunks = [
        InputAudioRawFrame(audio[i : i + 320].tobytes(), 16_000, num_channels=1)
        for i in range(0, len(audio), 320)
    ]
    frames: list[Frame] = [BotStartedSpeakingFrame()] if over_agent else []
    # Voice activity counts speech after 200 ms of it, and stops it after 200 ms of silence.
    # Its frames overtake audio in a queue: the pauses keep them in order.
    frames += [*chunks[:10], SleepFrame(0.2), VADUserStartedSpeakingFrame(), SleepFrame(0.1)]
    frames += [*chunks[10:], SleepFrame(0.5), VADUserStoppedSpeakingFrame()]
    params = PipelineParams(audio_in_sample_rate=16_000)
    down, _ = asyncio.run(
        run_test(stt, frames_to_send=frames, pipeline_params=params, start_timeout=30)
    )
    return " ".join(f.text.strip() for f in down if isinstance(f, TranscriptionFrame))


def test_a_hum_over_the_agent_misheard_as_words_is_heard_again_after_acknowledgements() -> None:
    assert transcribed("Mm hmm.", over_agent=False) == "Amen, ma'am."  # words: they stop it
    assert "Mm-hmm" in transcribed("Mm hmm.", over_agent=True)
    # Voice activity alone stops the agent: words do not matter, and are heard once.
    assert transcribed("Mm hmm.", over_agent=True, interrupt_min_words=0) == "Amen, ma'am."


@pytest.mark.parametrize("said", ["Stop.", "Wait, stop, that's wrong.", "No, no."])
def test_words_over_the_agent_are_still_heard_as_words(said: str) -> None:
    assert transcribed(said, over_agent=True).lower().startswith(said[:4].lower())
