"""A voice call answered by the local model, offline from end to end: a Python WebRTC peer
speaks a question synthesized by Piper into a call held by a real voice worker (Whisper and
Piper from their packages), the agent on the `local` provider answers with the packaged model,
and the peer hears the answer spoken. No network, no scripted server."""

import asyncio
import os
import time
from collections.abc import Iterator
from difflib import SequenceMatcher
from typing import Any

import pytest

from agents.configuration import DEFAULT_FAILURE_MESSAGE
from agents.models import Agent
from tests.voice.conftest import RunningWorker
from tests.voice.peer import speech, transcribe
from tests.voice.test_call import connect, events, until

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db(transaction=True)]

# The packaged model answers it in a few words ("The capital of France is Paris."), the same
# each run (temperature 0).
QUESTION = "What is the capital of France?"
SLOW = 90  # seconds: a safety net for speech and the model sharing a loaded 2-core machine


@pytest.fixture
def voice_worker(transactional_db: None, settings: Any) -> Iterator[RunningWorker]:
    settings.VOICE_LOG_LEVEL = os.environ.get("VOICE_LOG_LEVEL", "WARNING")
    settings.VOICE_HEARTBEAT_SECONDS = 1
    running = RunningWorker(capacity=1)
    yield running
    running.stop()


def _letters(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalpha() or c == " ").split())


def _answered(session_id: str) -> list[dict[str, Any]] | None:
    said = events(session_id)
    return said if any(m["role"] == "assistant" for m in said) else None


def test_a_spoken_question_is_answered_by_the_local_model_and_spoken_back(
    voice_worker: RunningWorker, local_agent: Agent
) -> None:
    async def call() -> tuple[list[dict[str, Any]], str]:
        peer, started = await connect(local_agent)
        await asyncio.sleep(0.5)
        asked = peer.mic.say(speech(QUESTION))
        await until(lambda: peer.heard.first_sound_after(asked), SLOW, "the answer")
        # Recorded once spoken to its end: the answer was heard whole by then.
        said = await until(lambda: _answered(started["sessionId"]), SLOW, "the recorded answer")
        while time.monotonic() - (peer.heard.last_sound() or 0) < 1.0:
            await asyncio.sleep(0.1)
        reply = transcribe(peer.heard.audio(since=asked))
        await peer.close()
        return said, reply

    said, reply = asyncio.run(call())

    # The question, transcribed (in one turn, or more on a starved machine), then the answer.
    answered_at = [m["role"] for m in said].index("assistant")
    question = " ".join(m["content"] for m in said[:answered_at]).lower()
    answer = said[answered_at]
    assert "capital" in question
    assert "failure" not in answer
    assert answer["content"].strip() not in ("", DEFAULT_FAILURE_MESSAGE)
    assert {"ttft_ms", "latency_ms", "stt_ms", "llm_ms", "tts_ms"} <= answer.keys()
    # What the caller heard is that answer, as Whisper makes it out ("francis peritz").
    assert SequenceMatcher(None, _letters(answer["content"]), _letters(reply)).ratio() > 0.7
