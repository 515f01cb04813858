"""What a call does with text it cannot speak and with its own errors: text with nothing to
pronounce never reaches text-to-speech (pipecat would report it "completed with no audio"), a
slow local voice is waited for, and an error reaches the caller in plain words while the
session's timeline records pipecat's."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    OutputTransportMessageUrgentFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import SleepFrame, run_test

from agents.configuration import AgentConfiguration, TTSConfig
from sessions.models import EventKind, Session
from tests.factories import SessionFactory
from voice.offline import piper_tts
from voice.pipeline import CALLER_WORDS, Call, CallErrors, speakable, tts_prepared

pytestmark = pytest.mark.django_db(transaction=True)


def reply(*pieces: str) -> list[Frame]:
    """An agent's reply as the thinking step sends it on, and time for its audio to play."""
    texts = [LLMTextFrame(piece) for piece in pieces]
    return [LLMFullResponseStartFrame(), *texts, LLMFullResponseEndFrame(), SleepFrame(1)]


class SlowVoice:
    """The bundled Piper voice, taking `delay` seconds before each sentence's audio."""

    def __init__(self, voice: Any, delay: float) -> None:
        self.voice, self.delay, self.config = voice, delay, voice.config

    def synthesize(self, text: str) -> Iterator[Any]:
        time.sleep(self.delay)
        yield from self.voice.synthesize(text)


class BrokenVoice:
    def __init__(self, voice: Any) -> None:
        self.config = voice.config

    def synthesize(self, text: str) -> Iterator[Any]:
        raise RuntimeError("onnxruntime: the voice model's session is gone")


def through_tts(
    frames: list[Frame], *, session: Session | None = None, voice: Any = None
) -> tuple[list[Frame], list[Frame]]:
    """The frames through [CallErrors, Piper] as a call has them, with pipecat's RTVI processor
    in front (it tells the caller what reaches it): (downstream, upstream) frames."""
    session = session or SessionFactory()
    tts = tts_prepared(piper_tts(TTSConfig()))
    if voice is not None:
        tts._voice = voice(tts._voice)
    config = AgentConfiguration.model_validate(session.agent.configuration)
    pipeline = Pipeline([CallErrors(Call(session=session, config=config)), tts])
    down, up = asyncio.run(
        run_test(pipeline, frames_to_send=frames, enable_rtvi=True, start_timeout=30)
    )
    return list(down), list(up)


def errors_told(down: list[Frame]) -> list[dict[str, Any]]:
    """The RTVI error messages sent to the caller."""
    messages = [f.message for f in down if isinstance(f, OutputTransportMessageUrgentFrame)]
    return [m["data"] for m in messages if isinstance(m, dict) and m.get("type") == "error"]


def timeline_errors(session: Session) -> list[dict[str, Any]]:
    return [e.data for e in session.events.filter(kind=EventKind.ERROR).order_by("seq")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It is sunny.", True),
        ("21", True),
        ("Ça va ?", True),
        ("", False),
        ("  \n", False),
        (".", False),
        ("…", False),
        (" — ", False),
        ("**", False),
        ("🌞", False),
    ],
)
def test_only_text_with_a_letter_or_a_digit_is_speakable(text: str, expected: bool) -> None:
    assert speakable(text) is expected


def test_a_sentence_with_nothing_to_pronounce_is_skipped_not_reported() -> None:
    """After a tool call a reply may end with a lone dash or ellipsis: it is not sent to Piper,
    which makes no audio of it, so there is no silent part to report."""
    session = SessionFactory()
    down, up = through_tts(reply("The weather in Paris is sunny.", " —"), session=session)
    down2, up2 = through_tts(reply("…"), session=session)

    assert [f for f in up + up2 if isinstance(f, ErrorFrame)] == []
    assert errors_told(down + down2) == []
    assert any(isinstance(f, TTSAudioRawFrame) for f in down)
    spoken = [f.text for f in down + down2 if isinstance(f, TTSTextFrame)]
    assert spoken == ["The weather in Paris is sunny."]
    assert timeline_errors(session) == []


def test_a_slow_local_voice_is_waited_for_not_reported_silent() -> None:
    """Piper makes a whole sentence before its first sound: on a busy machine that can take
    longer than pipecat's 3 s wait for a network service's audio."""
    session = SessionFactory()
    down, up = through_tts(
        reply("It is twenty one degrees in Paris."),
        session=session,
        voice=lambda voice: SlowVoice(voice, 3.5),
    )
    assert [f.error for f in up if isinstance(f, ErrorFrame)] == []
    assert any(isinstance(f, TTSAudioRawFrame) for f in down)
    assert errors_told(down) == []
    assert timeline_errors(session) == []


def test_an_error_reaches_the_caller_in_plain_words_and_the_timeline_records_it() -> None:
    session = SessionFactory()
    down, _up = through_tts(reply("It is sunny."), session=session, voice=BrokenVoice)

    told = errors_told(down)
    assert told, "the caller is told something went wrong"
    assert {entry["error"] for entry in told} == {CALLER_WORDS["tts"]}
    assert all(entry["fatal"] is False for entry in told)

    recorded = timeline_errors(session)
    # Each error the caller was told is on the timeline. Piper's failed sentence may also be
    # reported "completed with no audio" once pipecat stops waiting for it; on a loaded machine
    # that second error can reach the timeline as the test's pipeline ends, before the caller.
    assert len(recorded) >= len(told)
    assert {entry["code"] for entry in recorded} == {"tts_error"}
    details = " ".join(entry["message"] for entry in recorded)
    assert details.startswith("Text-to-speech: ")
    assert "the voice model's session is gone" in details  # pipecat's words, for the team
    assert "PiperTTSService" in details
