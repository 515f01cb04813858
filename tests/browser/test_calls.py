"""Calls in the <live-avatar> widget, in Chromium with its fake microphone: on the hosted page a
visitor picks a voice call, grants the microphone, and the widget starts the call and sends its
WebRTC offer; a refused start, a blocked microphone and the dashboard's test call.

No voice worker runs here (tests/browser/test_spoken_call.py runs one): where a call needs a
worker, a stand-in registers itself as one and answers the offer with pipecat's own
SmallWebRTCConnection, so the browser's offer, data channel and RTVI messages meet the peer a
worker has."""

import asyncio
import json
import os
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agents.configuration import AgentConfiguration
from agents.models import Agent
from sessions.models import Session, SessionStatus
from teams.models import Role
from tests.factories import AgentFactory, MembershipFactory, TeamFactory
from voice.models import VoiceWorker

from .conftest import CHROMIUM, FLAGS, context_closed, screenshot, sign_in

pytestmark = [pytest.mark.django_db(transaction=True)]

FAKE_MICROPHONE = "--use-fake-device-for-media-stream"
GRANT_WITHOUT_ASKING = "--use-fake-ui-for-media-stream"
NO_WORKER = "No voice worker is running, so calls cannot start."


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium`")
    with sync_playwright() as playwright:
        yield playwright


def _launch(playwright: Playwright, *flags: str) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, *flags])
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with a fake microphone that it lets every page use without asking."""
    yield from _launch(playwright, FAKE_MICROPHONE, GRANT_WITHOUT_ASKING)


@pytest.fixture(scope="module")
def refusing_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with a fake microphone, whose permission prompt nobody answers yes to."""
    yield from _launch(playwright, FAKE_MICROPHONE)


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


def _page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture
def refusing_page(refusing_browser: Browser, live_server: Any) -> Iterator[Page]:
    page = _page(refusing_browser, live_server.url)
    yield page
    context_closed(page.context)


class StandInWorker:
    """A registered voice worker whose signalling is answered by pipecat's SmallWebRTCConnection
    (no pipeline behind it): the test speaks RTVI over the data channel as the agent would."""

    def __init__(self, server: HTTPServer) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.offers: list[dict[str, Any]] = []
        self.heard: list[dict[str, Any]] = []
        self.connection: Any = None
        self.video: Callable[[], Any] | None = None  # the agent's face; else a test pattern
        calls = re.compile(r"^/calls/[^/]+/(offer|end)$")
        server.expect_request(calls, method="POST").respond_with_handler(self._answer)
        self.record = VoiceWorker.objects.create(
            name="stand-in", url=server.url_for("/"), capacity=2
        )

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=15)

    def _answer(self, request: Request) -> Response:
        if request.path.endswith("/end"):
            return Response("{}", status=200, content_type="application/json")
        offer = request.get_json()
        self.offers.append(offer)
        answer = self._run(self._connect(offer))
        return Response(json.dumps(answer), status=200, content_type="application/json")

    async def _connect(self, offer: dict[str, Any]) -> dict[str, Any]:
        from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

        connection = SmallWebRTCConnection()

        @connection.event_handler("app-message")
        async def heard(_: Any, message: dict[str, Any]) -> None:
            self.heard.append(message)

        await connection.initialize(sdp=offer["sdp"], type=offer["type"])
        if "m=video" in offer["sdp"]:  # the agent's face: aiortc's test pattern, or `video`
            from aiortc import VideoStreamTrack

            connection.replace_video_track(self.video() if self.video else VideoStreamTrack())
        await connection.connect()
        self.connection = connection
        return dict(connection.get_answer())

    def say(self, kind: str, **data: Any) -> None:
        """One RTVI message to the browser, as a worker's pipeline sends it."""
        message: dict[str, Any] = {"label": "rtvi-ai", "type": kind}
        if data:
            message["data"] = data
        self.loop.call_soon_threadsafe(self.connection.send_app_message, message)

    def stop(self) -> None:
        if self.connection is not None:
            self._run(self.connection.disconnect())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def worker(receiver: HTTPServer) -> Iterator[StandInWorker]:
    stand_in = StandInWorker(receiver)
    yield stand_in
    stand_in.stop()


def avatar_track(worker: StandInWorker, name: str) -> Callable[[], Any]:
    """A maker of video tracks showing the built-in avatar (voice.avatar), silent, drawn on the
    stand-in's loop (this thread's belongs to Playwright)."""
    import av
    import numpy as np
    from aiortc import VideoStreamTrack

    from voice.avatar import face_for
    from voice.runtime import VIDEO_SIZE

    config = AgentConfiguration.model_validate({"video": {"provider": "image"}})
    face = worker._run(face_for(config=config, name=name, size=VIDEO_SIZE))
    image = np.frombuffer(face.frames[2], dtype=np.uint8).reshape(VIDEO_SIZE, VIDEO_SIZE, 3)

    class AvatarTrack(VideoStreamTrack):
        async def recv(self) -> Any:
            pts, time_base = await self.next_timestamp()
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return AvatarTrack


def an_agent(**fields: Any) -> Agent:
    document = AgentConfiguration.model_validate({"llm": {"model": "m"}}).as_document()
    team = fields.pop("team", None) or TeamFactory()
    defaults = {"team": team, "publish_status": "public", "configuration": document}
    return AgentFactory(**(defaults | fields))


def wait_until(page: Page, condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait for something on Parley's side (the browser's side has expect)."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    assert condition()


def test_a_visitor_calls_the_agent_on_its_page(page: Page, worker: StandInWorker) -> None:
    agent = an_agent(name="Harbour help")
    page.goto(f"/meet/{agent.id}")
    widget = page.locator("live-avatar")
    expect(page.get_by_role("button", name="Chat", pressed=True)).to_be_visible()
    page.get_by_role("button", name="Voice call").click()
    expect(page.get_by_role("button", name="Voice call", pressed=True)).to_be_focused()
    expect(widget).to_have_attribute("data-state", "idle")
    expect(widget.get_by_text("The call uses your microphone")).to_be_visible()
    expect(widget.locator(".face")).to_have_text("H")

    page.get_by_role("button", name="Start call").click()
    expect(widget).to_have_attribute("data-state", "listening")
    expect(page.get_by_role("button", name="Hang up")).to_be_focused()
    expect(page.get_by_role("button", name="Chat")).to_be_disabled()  # not mid-call

    # The offer: the microphone, a data channel, and the candidates gathered before it left.
    [offer] = worker.offers
    assert offer["type"] == "offer"
    assert "m=audio" in offer["sdp"]
    assert "m=application" in offer["sdp"]  # the data channel, opened by the browser
    assert "a=candidate:" in offer["sdp"]
    session = Session.objects.get(agent=agent)
    assert (session.type, session.transport) == ("voice", "webrtc")
    assert session.worker_id == worker.record.id

    # Over the data channel: the widget says it is ready, then the agent's messages drive it.
    wait_until(page, lambda: any(m.get("type") == "client-ready" for m in worker.heard))
    ready = next(m for m in worker.heard if m.get("type") == "client-ready")
    assert ready["label"] == "rtvi-ai"

    worker.say("bot-ready", version="2.2.0")
    worker.say("user-started-speaking")
    worker.say("user-transcription", text="When do boats", final=False, user_id="", timestamp="")
    captions = page.get_by_role("log", name="Captions")
    expect(captions.locator("[data-role=user] .interim")).to_have_text("When do boats")
    worker.say(
        "user-transcription", text="When do boats leave?", final=True, user_id="", timestamp=""
    )
    worker.say("user-stopped-speaking")
    expect(widget).to_have_attribute("data-state", "thinking")
    expect(widget.locator(".call-state")).to_have_text("Thinking…")
    worker.say("bot-started-speaking")
    # pipecat announces a sentence before any of it is spoken: no empty caption meanwhile.
    progress = {"accumulated_text": "", "remaining_text": "At nine."}
    worker.say("bot-output", text="At nine.", segment_id=1, spoken_progress=progress)
    expect(widget).to_have_attribute("data-state", "speaking")
    expect(captions.locator("[data-role=agent]")).to_have_count(0)
    worker.say("bot-output", text="At nine.", spoken=True, output_type="sentence")
    expect(captions.locator("[data-role=agent] .text")).to_have_text("At nine.")
    expect(captions.locator("[data-role=user] .text")).to_have_text("When do boats leave?")
    expect(captions.locator("[data-role=user] .interim")).to_have_text("")
    worker.say("bot-stopped-speaking")
    expect(widget).to_have_attribute("data-state", "listening")
    expect(widget.locator(".call-state")).to_have_text("Listening")

    mute = page.get_by_role("button", name="Mute")
    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "true")
    assert (
        page.evaluate(
            "document.querySelector('live-avatar').call.stream.getAudioTracks()[0].enabled"
        )
        is False
    )
    page.wait_for_timeout(300)  # the listening ring's transition, for the picture
    screenshot(page, "meet-call")

    # The agent's side had a problem: the visitor reads what it means for them, not pipecat's
    # words for its log; their next turn clears it.
    worker.say("error", error="TTS context 5e1c completed with no audio", fatal=False)
    status = widget.get_by_role("status")
    expect(status).to_have_text(
        "The assistant had a problem for a moment. If you missed something, ask again."
    )
    worker.say("user-started-speaking")
    expect(status).to_have_text("")

    page.get_by_role("button", name="Hang up").click()
    expect(widget).to_have_attribute("data-state", "ended")
    expect(widget.get_by_text("The call has ended.")).to_be_visible()
    expect(page.get_by_role("button", name="Call again")).to_be_focused()
    expect(page.get_by_role("button", name="Chat")).to_be_enabled()
    wait_until(page, lambda: Session.objects.get(pk=session.pk).status == SessionStatus.STOPPED)


def test_a_video_call_shows_the_agents_video_once_it_arrives(
    page: Page, worker: StandInWorker
) -> None:
    document = AgentConfiguration.model_validate(
        {"llm": {"model": "m"}, "video": {"provider": "image", "character_id": "c1"}}
    ).as_document()
    agent = an_agent(name="Harbour help", configuration=document)
    worker.video = avatar_track(worker, "Harbour help")
    page.goto(f"/meet/{agent.id}")
    page.get_by_role("button", name="Video call").click()
    widget = page.locator("live-avatar")
    stage = widget.locator(".stage")
    expect(stage.locator(".face")).to_be_visible()  # the initial, until frames come
    page.get_by_role("button", name="Start call").click()
    expect(widget).to_have_attribute("data-state", "listening")
    [offer] = worker.offers
    assert re.search(r"m=video[^\n]*\n(.*\n)*?a=recvonly", offer["sdp"])
    expect(stage).to_have_attribute("data-video", "live")
    expect(stage.locator(".face")).to_be_hidden()
    video = "document.querySelector('live-avatar').shadowRoot.querySelector('video')"
    assert page.evaluate(f"{video}.videoWidth")
    # The whole frame shows, letterboxed on the stage: the avatar is never cut into a strip.
    assert page.evaluate(f"getComputedStyle({video}).objectFit") == "contain"
    page.wait_for_timeout(300)  # a few frames, for the picture
    screenshot(page, "meet-video-call")
    assert Session.objects.get(agent=agent).type == "video"
    page.get_by_role("button", name="Hang up").click()
    expect(stage.locator(".face")).to_be_visible()


def test_without_a_voice_worker_the_call_says_so(page: Page) -> None:
    agent = an_agent(name="Harbour help")
    page.goto(f"/meet/{agent.id}")
    page.get_by_role("button", name="Voice call").click()
    page.get_by_role("button", name="Start call").click()
    widget = page.locator("live-avatar")
    expect(widget).to_have_attribute("data-state", "error")
    expect(widget.get_by_role("status")).to_contain_text(NO_WORKER)
    expect(page.get_by_role("button", name="Call again")).to_be_visible()
    assert not Session.objects.filter(agent=agent).exists()
    screenshot(page, "meet-call-no-worker")


def test_a_blocked_microphone_is_explained_and_starts_nothing(refusing_page: Page) -> None:
    page = refusing_page
    agent = an_agent(name="Harbour help")
    page.goto(f"/meet/{agent.id}")
    page.get_by_role("button", name="Voice call").click()
    page.get_by_role("button", name="Start call").click()
    widget = page.locator("live-avatar")
    expect(widget).to_have_attribute("data-state", "error")
    status = widget.get_by_role("status")
    expect(status).to_contain_text("The microphone is blocked. Allow it for this site in your")
    expect(status).to_contain_text("then start the call again.")
    assert not Session.objects.filter(agent=agent).exists()
    screenshot(page, "meet-call-blocked")


def test_a_member_test_calls_a_draft_agent_by_voice(page: Page, worker: StandInWorker) -> None:
    membership = MembershipFactory(role=Role.MEMBER, team__name="Acme")
    agent = an_agent(team=membership.team, name="Order desk", publish_status="draft")
    sign_in(page, membership.user.email)
    page.goto(f"/agents/{agent.id}/")
    panel = page.locator("#test-call")
    panel.get_by_role("button", name="Voice call").click()
    panel.get_by_role("button", name="Start call").click()  # the page's CSRF token goes along
    expect(panel.locator("live-avatar")).to_have_attribute("data-state", "listening")
    events = page.get_by_role("region", name="Transcript and events")
    expect(events.get_by_role("list", name="Timeline")).to_be_visible()
    panel.get_by_role("button", name="Hang up").click()
    expect(events.get_by_role("link", name="Open the recorded session")).to_be_visible()
    assert Session.objects.get(agent=agent).type == "voice"


def test_leaving_the_page_ends_the_call(page: Page, worker: StandInWorker) -> None:
    """The stand-in holds the call whatever the browser does: only the widget's own end, sent
    as the page goes, ends the session."""
    agent = an_agent(name="Harbour help")
    page.goto(f"/meet/{agent.id}")
    page.get_by_role("button", name="Voice call").click()
    page.get_by_role("button", name="Start call").click()
    expect(page.locator("live-avatar")).to_have_attribute("data-state", "listening")
    session = Session.objects.get(agent=agent)
    assert not session.is_over
    page.goto("/accounts/login/")
    wait_until(page, lambda: Session.objects.get(pk=session.pk).is_over, seconds=30)
    assert Session.objects.get(pk=session.pk).status == SessionStatus.STOPPED
