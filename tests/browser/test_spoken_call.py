"""One spoken turn through the widget, for real: Chromium's fake microphone plays a question
(synthesized offline by Piper) into a call on the hosted page, held by a real voice worker
(Whisper, the scripted LLM, Piper); the widget shows what the visitor said and what the agent
answered, and the session records both."""

import re
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, Page, expect
from pytest_httpserver import HTTPServer

from sessions.models import EventKind, Session
from tests.llm_server import ScriptedLLM, says
from tests.voice.conftest import RunningWorker
from tests.voice.peer import speech

from .conftest import CHROMIUM, FLAGS, screenshot
from .test_calls import _launch, _page, an_agent

pytestmark = [pytest.mark.django_db(transaction=True)]
RATE = 48000


def _question(path: Path) -> Path:
    """Eight seconds of silence (the call connects meanwhile, however loaded the machine: the
    file plays from the moment the widget opens the microphone), the question, then silence."""
    lead_in = np.zeros(RATE * 8, dtype=np.int16)
    silence = np.zeros(RATE * 3, dtype=np.int16)
    pcm = np.concatenate([lead_in, speech("When do the boats leave?", rate=RATE), silence])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def speaking_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium`")
    wav = _question(tmp_path_factory.mktemp("microphone") / "question.wav")
    with sync_playwright() as playwright:
        yield from _launch(
            playwright,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
        )


@pytest.fixture
def voice_worker(settings: Any) -> Iterator[RunningWorker]:
    settings.VOICE_HEARTBEAT_SECONDS = 1
    cache.clear()
    running = RunningWorker(capacity=1)
    yield running
    running.stop()


def test_a_visitor_asks_aloud_and_hears_the_agent_answer(
    speaking_browser: Browser, live_server: Any, receiver: HTTPServer, voice_worker: RunningWorker
) -> None:
    assert FLAGS  # the closed-network flags come with every launch
    llm = ScriptedLLM(receiver).will(says("The boats leave at nine."))
    agent = an_agent(name="Harbour help")
    agent.configuration["llm"] |= {"custom_url": llm.base_url, "first_message": ""}
    agent.save()
    page: Page = _page(speaking_browser, live_server.url)
    page.goto(f"/meet/{agent.id}")
    page.get_by_role("button", name="Voice call").click()
    page.get_by_role("button", name="Start call").click()
    widget = page.locator("live-avatar")
    expect(widget).to_have_attribute("data-state", "listening")

    captions = page.get_by_role("log", name="Captions")
    # Whisper tiny hears "boats leave" or, through a loaded machine's Opus, now and then "boat
    # sleep" or "box leave": one of the two words is enough to know the question was heard.
    heard = re.compile(r"boat|leave", re.IGNORECASE)
    user_caption = captions.locator("[data-role=user] .text")
    expect(user_caption).to_contain_text(heard, timeout=30_000)
    expect(captions.locator("[data-role=agent] .text")).to_have_text(
        "The boats leave at nine.", timeout=30_000
    )
    screenshot(page, "meet-spoken-call")
    question = user_caption.inner_text()
    page.get_by_role("button", name="Hang up").click()
    expect(widget).to_have_attribute("data-state", "ended")

    session = Session.objects.get(agent=agent)
    said = [e.data for e in session.events.filter(kind=EventKind.MESSAGE).order_by("seq")]
    assert said[0]["role"] == "user"
    assert said[0]["content"].strip() == question.strip()
    assert said[1]["content"] == "The boats leave at nine."
    assert "latency_ms" in said[1]
    page.context.close()
