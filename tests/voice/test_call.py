"""Calls end to end, offline: a Python WebRTC peer speaks synthesized questions into a call held
by a real voice worker (Whisper and Piper models from their packages, a scripted LLM, a local
webhook receiver for tools), records the agent's reply and transcribes it."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.test import Client
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from sessions.models import EventKind, Session, SessionStatus
from tests.factories import AgentFactory, ToolFactory
from tests.llm_server import ScriptedLLM, calls, says
from voice import runtime

from .conftest import RunningWorker, send_offer, start_call
from .peer import RATE, Peer, speech, transcribe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def agent_for(scripted: ScriptedLLM, team: Any, **configuration: Any) -> Any:
    llm_config = {"custom_url": scripted.base_url, "model": "m", "first_message": ""}
    document = AgentConfiguration.model_validate(
        {"llm": llm_config | configuration.pop("llm", {}), **configuration}
    ).as_document()
    return AgentFactory(team=team, publish_status="public", configuration=document)


async def until(check: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    """Wait for `check()` (run on a thread: it may read the database) to be true."""
    deadline = time.monotonic() + timeout
    while not (result := await asyncio.to_thread(check)):
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)
    return result


async def connect(agent: Any, mode: str = "voice") -> tuple[Peer, dict[str, Any]]:
    started = await asyncio.to_thread(lambda: start_call(Client(), agent.id, mode))
    assert started.status_code == 200, started.content
    body = started.json()
    peer = Peer(video=mode == "video")
    offer = await peer.offer()
    answer = await asyncio.to_thread(lambda: send_offer(Client(), body, offer))
    assert answer.status_code == 200, answer.content
    await peer.answer(answer.json())
    await until(lambda: peer.pc.connectionState == "connected", what="the connection")
    return peer, body


def events(session_id: str, kind: str = EventKind.MESSAGE) -> list[dict[str, Any]]:
    rows = Session.objects.get(pk=session_id).events.filter(kind=kind).order_by("seq")
    return [row.data for row in rows]


async def quiet_after(peer: Peer, moment: float, silence: float = 1.5) -> None:
    """Wait for the agent's reply after `moment`, then for it to finish."""
    # A safety net for a loaded machine: Whisper and Smart-Turn share its CPUs with everything.
    await until(lambda: peer.heard.first_sound_after(moment), timeout=60, what="the agent's reply")
    while (last := peer.heard.last_sound()) is None or time.monotonic() - last < silence:
        await asyncio.sleep(0.1)


def test_a_spoken_question_is_transcribed_answered_with_a_tool_and_spoken_back(
    voice_worker: RunningWorker, llm: ScriptedLLM, receiver: HTTPServer, cast: Any
) -> None:
    receiver.expect_request("/weather", method="POST").respond_with_json({"sky": "sunny"})
    tool = ToolFactory(team=cast.team, name="weather", server_url=receiver.url_for("/weather"))
    agent = agent_for(
        llm,
        cast.team,
        llm={"first_message": "Hello! Ask me anything."},
        tool_calling={"selected_tool_ids": [str(tool.id)]},
    )
    llm.will(
        calls(("weather", {"city": "Paris"})),
        says("The weather in Paris is sunny", " and twenty two degrees."),
    )

    async def call() -> tuple[str, dict[str, Any], float]:
        peer, started = await connect(agent)
        greeted = await until(lambda: peer.heard.first_sound_after(0), what="the greeting")
        await quiet_after(peer, greeted)
        spoken = peer.mic.say(speech("What is the weather in Paris?"))
        await quiet_after(peer, spoken)
        reply = transcribe(peer.heard.audio(since=spoken))
        latency = peer.heard.first_sound_after(spoken) - spoken
        await peer.close()
        return reply, started, latency

    reply, started, latency = asyncio.run(call())

    assert "sunny" in reply.lower()
    assert latency < 5
    said = events(started["sessionId"])
    assert said[0] == {"role": "assistant", "content": "Hello! Ask me anything."}
    assert said[1]["role"] == "user"
    assert "weather in paris" in said[1]["content"].lower()
    assert said[2]["role"] == "assistant"
    assert said[2]["content"] == "The weather in Paris is sunny and twenty two degrees."
    assert {"latency_ms", "stt_ms", "llm_ms", "tts_ms", "turn_detection_ms"} <= said[2].keys()
    assert said[2]["turn_end"] == "silence"  # the agent's mode: silence, the default
    # Answered early, and held until the user's silence reached silence_duration_ms (480)
    assert said[2]["held_ms"] >= 0
    assert said[2]["latency_ms"] >= 480
    tool_calls = events(started["sessionId"], EventKind.TOOL_CALL)
    assert tool_calls[0]["tool_name"] == "weather"
    first_request = llm.requests[0]
    assert first_request["messages"][-1]["role"] == "user"
    assert "paris" in first_request["messages"][-1]["content"].lower()


def test_hanging_up_ends_the_session(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    agent = agent_for(llm, cast.team)

    async def call() -> str:
        peer, started = await connect(agent)
        await until(
            lambda: Session.objects.get(pk=started["sessionId"]).status == SessionStatus.RUNNING
        )
        await peer.close()
        await until(lambda: Session.objects.get(pk=started["sessionId"]).is_over, what="the end")
        return started["sessionId"]

    session = Session.objects.get(pk=asyncio.run(call()))
    assert session.status == SessionStatus.STOPPED
    assert session.end_reason == "the caller hung up"


LONG_REPLY = (
    "Paris is the capital of France. ",
    "It sits on the river Seine. ",
    "It has many museums, the Louvre among them. ",
    "The Eiffel Tower was built for a world fair. ",
    "Its cafes are famous all over the world. ",
    "Millions of people visit it every year.",
)


INTERRUPTION = "Hold on I have a question about the museums and the river there"


def test_speaking_over_the_agent_stops_it_and_the_unspoken_rest_is_not_recorded(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    agent = agent_for(llm, cast.team)
    llm.will(says(*LONG_REPLY), says("Sure, ask away."))

    async def call() -> tuple[dict[str, Any], float, float, float]:
        peer, started = await connect(agent)
        await asyncio.sleep(0.5)
        asked = peer.mic.say(speech("Tell me about Paris."))
        await until(lambda: peer.heard.first_sound_after(asked), what="the reply")
        await asyncio.sleep(2.5)
        interrupting = time.monotonic()
        done = peer.mic.say(speech(INTERRUPTION))
        await quiet_after(peer, done)
        # When the agent's long reply fell silent, after the interruption began.
        stopped = peer.heard.gaps_after(interrupting)[0][0]
        await peer.close()
        return started, interrupting, stopped, done

    started, interrupting, stopped, done = asyncio.run(call())

    # At once: the agent fell silent while it was being spoken over, not once the caller had
    # finished (the interruption is long, so this is an order, not a race).
    assert interrupting < stopped < done

    said = events(started["sessionId"])
    cut = said[1]
    assert cut["role"] == "assistant"
    assert cut["interrupted"] is True
    assert cut["content"].startswith("Paris is the capital of France.")
    assert "Millions of people" not in cut["content"]
    # What the person said next is heard and answered (in one turn, or two if they paused).
    after = said[2:]
    assert after[0]["role"] == "user"
    heard = " ".join(m["content"] for m in after if m["role"] == "user").lower()
    assert "question" in heard
    assert {"role": "assistant", "content": "Sure, ask away."}.items() <= after[1].items()


def test_an_acknowledgement_over_the_agent_does_not_stop_it(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    agent = agent_for(llm, cast.team)  # interrupt_min_words: 1, the default
    llm.will(says(*LONG_REPLY[:3]))

    async def call() -> tuple[dict[str, Any], float, float]:
        peer, started = await connect(agent)
        await asyncio.sleep(0.5)
        asked = peer.mic.say(speech("Tell me about Paris."))
        await until(lambda: peer.heard.first_sound_after(asked), what="the reply")
        await asyncio.sleep(1)
        acknowledged = peer.mic.say(speech("Okay."))
        await quiet_after(peer, asked)
        await peer.close()
        return started, acknowledged, peer.heard.last_sound() or 0

    started, acknowledged, finished = asyncio.run(call())

    assert acknowledged < finished  # said while the agent spoke
    said = events(started["sessionId"])
    assert [m["role"] for m in said] == ["user", "assistant"]  # "okay" was not a turn
    assert said[1]["content"] == " ".join(piece.strip() for piece in LONG_REPLY[:3])
    assert "interrupted" not in said[1]
    assert len(llm.requests) == 1


def test_going_on_within_the_silence_setting_drops_the_early_answer_unheard(
    voice_worker: RunningWorker, llm: ScriptedLLM, receiver: HTTPServer, cast: Any
) -> None:
    receiver.expect_request("/book", method="POST").respond_with_json({"booked": True})
    tool = ToolFactory(team=cast.team, name="book", server_url=receiver.url_for("/book"))
    agent = agent_for(
        llm,
        cast.team,
        turn_detection={"silence_duration_ms": 3000},
        tool_calling={"selected_tool_ids": [str(tool.id)]},
    )
    booking = calls(("book", {"people": 2}))
    llm.will(booking, booking, says("Booked for two."))
    # Over voice activity's stop, under 3 s, and long enough for the first part's transcript to
    # come in before the person goes on, even on a loaded machine (else the two parts are heard
    # as one turn, with no early answer to drop).
    pause = np.zeros(int(RATE * 2), dtype=np.int16)

    async def call() -> tuple[dict[str, Any], float, float]:
        peer, started = await connect(agent)
        await asyncio.sleep(0.5)
        first = speech("Can you book a table")
        paused = peer.mic.say(first)
        done = peer.mic.say(np.concatenate([pause, speech("for two people tonight?")]))
        await quiet_after(peer, done)
        heard = peer.heard.first_sound_after(paused)
        await peer.close()
        return started, heard, done

    started, heard, done = asyncio.run(call())

    assert heard > done  # nothing was said in the pause
    said = events(started["sessionId"])
    assert [m["role"] for m in said] == ["user", "user", "assistant"]
    assert "book a table" in said[0]["content"].lower()
    assert "two" in said[1]["content"].lower()
    assert said[2]["content"] == "Booked for two."
    # The early answer asked the LLM, whose tool call was held, then dropped: the tool ran
    # once, for the turn that held, which the LLM was asked with both parts.
    assert len(llm.requests) == 3
    assert llm.requests[0]["messages"][-1]["role"] == "user"
    assert [m["role"] for m in llm.requests[1]["messages"][-2:]] == ["user", "user"]
    assert [request.path for request, _ in receiver.log].count("/book") == 1


def said_in_semantic_mode(llm: ScriptedLLM, team: Any, *sentences: str) -> list[dict[str, Any]]:
    """The messages of a call to a semantic agent (1.5 s of silence at most) in which each
    sentence is said, then answered (or not) before the next."""
    agent = agent_for(llm, team, turn_detection={"mode": "semantic", "silence_duration_ms": 1500})

    async def call() -> dict[str, Any]:
        peer, started = await connect(agent)
        await asyncio.sleep(0.5)
        for sentence in sentences:
            await quiet_after(peer, peer.mic.say(speech(sentence)))
        await peer.close()
        return started

    return events(asyncio.run(call())["sessionId"])


def test_in_semantic_mode_a_finished_sentence_is_answered_sooner_than_an_unfinished_one(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    llm.will(says("Go on."), says("It is sunny."))
    trailing_off, finished = "So I was thinking that maybe", "What is the weather in Paris?"

    said = said_in_semantic_mode(llm, cast.team, trailing_off, finished)

    assert [m["role"] for m in said] == ["user", "assistant", "user", "assistant"]
    trailing, answered = said[1], said[3]
    assert (trailing["content"], trailing["turn_end"]) == ("Go on.", "max")
    assert (answered["content"], answered["turn_end"]) == ("It is sunny.", "semantic")
    # The unfinished sentence waited for the whole silence; the finished one did not.
    assert trailing["latency_ms"] >= 1500
    assert answered["latency_ms"] < trailing["latency_ms"]


def test_in_semantic_mode_words_read_as_going_on_wait_though_they_sound_finished(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    llm.will(says("Go on."))

    # Smart-Turn hears it finished (test_turns); the packaged model reads it going on.
    said = said_in_semantic_mode(llm, cast.team, "Tell me which platform.")

    assert [m["role"] for m in said] == ["user", "assistant"]
    assert (said[1]["content"], said[1]["turn_end"]) == ("Go on.", "max")
    assert said[1]["latency_ms"] >= 1500


def test_a_silent_call_ends_at_the_idle_timeout(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    agent = agent_for(llm, cast.team, idle_timeout_seconds=10)

    async def call() -> str:
        peer, started = await connect(agent)
        await until(
            lambda: Session.objects.get(pk=started["sessionId"]).is_over, timeout=30, what="end"
        )
        await peer.close()
        return started["sessionId"]

    session = Session.objects.get(pk=asyncio.run(call()))
    assert session.status == SessionStatus.STOPPED
    assert session.end_reason == "idle timeout"


def test_a_video_call_shows_the_agents_face(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any
) -> None:
    agent = agent_for(
        llm, cast.team, llm={"first_message": "Hi there."}, video={"provider": "image"}
    )

    async def call() -> tuple[int, str]:
        peer, started = await connect(agent, "video")
        greeted = await until(lambda: peer.heard.first_sound_after(0), what="the greeting")
        await quiet_after(peer, greeted)
        await until(lambda: peer.video_frames > 10, what="video frames")
        frames = peer.video_frames
        await peer.close()
        return frames, started["type"]

    frames, kind = asyncio.run(call())
    assert kind == "video"
    assert frames > 10


def test_a_call_ends_at_the_agents_max_duration(
    voice_worker: RunningWorker, llm: ScriptedLLM, cast: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = agent_for(llm, cast.team)
    configured = runtime._config
    # The shortest max_duration_seconds an agent may have is 30 s; the test shortens it.
    monkeypatch.setattr(
        runtime,
        "_config",
        lambda session: configured(session).model_copy(update={"max_duration_seconds": 2}),
    )

    async def call() -> str:
        peer, started = await connect(agent)
        await until(
            lambda: Session.objects.get(pk=started["sessionId"]).is_over, timeout=15, what="end"
        )
        await peer.close()
        return started["sessionId"]

    session = Session.objects.get(pk=asyncio.run(call()))
    assert session.end_reason == "max duration reached"
    assert session.ended_at is not None
    assert (session.ended_at - session.started_at).total_seconds() < 10
