"""Answering early: the reply gate, and the voice activity that tells a pause has begun."""

import asyncio
import time

import numpy as np
import pytest
from pipecat.frames.frames import InterruptionFrame, TextFrame
from pipecat.tests.utils import SleepFrame, run_test

from voice.early import PauseWatchingVAD, ReplyGate

from .peer import speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_gate_holds_the_reply_until_its_time_then_lets_it_through_in_order() -> None:
    release = time.monotonic() + 0.4
    gate = ReplyGate(lambda: release)

    started = time.monotonic()
    down, _ = asyncio.run(
        run_test(
            gate, frames_to_send=[TextFrame("one"), TextFrame("two")], expected_down_frames=None
        )
    )

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["one", "two"]
    assert time.monotonic() - started >= 0.4


def test_the_gate_lets_everything_through_when_there_is_nothing_to_wait_for() -> None:
    gate = ReplyGate(lambda: None)

    down, _ = asyncio.run(run_test(gate, frames_to_send=[TextFrame("one")]))

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["one"]


def test_the_gate_lets_the_reply_through_when_settled_says_not_at_the_time_first_given() -> None:
    later = time.monotonic() + 30  # a call's longest silence, while its verdict is to come

    async def settled() -> None:
        await asyncio.sleep(0.3)  # the verdict came: the silence it asks for is over

    gate = ReplyGate(lambda: later, settled)
    down, _ = asyncio.run(run_test(gate, frames_to_send=[TextFrame("one"), TextFrame("two")]))

    assert [frame.text for frame in down if isinstance(frame, TextFrame)] == ["one", "two"]
    assert time.monotonic() < later


def test_an_interruption_drops_the_held_reply() -> None:
    release = time.monotonic() + 0.3
    gate = ReplyGate(lambda: release)

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
