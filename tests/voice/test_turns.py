"""How a turn ends (by silence alone, or by meaning) and what stops the agent while it speaks
(voice/turns.py). The person's audio goes through the user turn step of a call's pipeline, with
its voice activity and its Smart-Turn."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    TextFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from agents.configuration import AgentConfiguration, TurnDetectionConfig
from localllm import reading
from localllm.selectors import LocalLLMUnavailable
from voice.early import Quiet
from voice.pipeline import Call, TurnClock, user_turn_params
from voice.turns import (
    FINISHED_SILENCE,
    SmartTurn,
    SpeechOverAgent,
    Verdict,
    backchannel_phrases,
    interrupts,
    over_agent_hearing,
    reads_unfinished,
    trails_off,
    transcript_reader,
)

from .peer import speech

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RATE = 16_000
FINISHED = "What is the weather in Paris?"
UNFINISHED = "So I was thinking that maybe"  # Piper says it trailing off
CUT_OFF = "Tell me which platform."  # Piper says it as a whole sentence


def spoken(text: str, *, in_time: bool = False) -> list[Frame]:
    """The person saying `text`, then half a second of silence, 20 ms a frame as a call has it;
    `in_time`: as fast as it is spoken (voice activity's own frames take their turn in the
    queue, so a test that counts audio after them sends it in time)."""
    words = speech(text, rate=RATE)
    words = words[: np.flatnonzero(np.abs(words) > 300)[-1]]  # without the voice's own silence
    audio = np.concatenate([np.zeros(RATE // 2, dtype=np.int16), words, np.zeros(RATE // 2)])
    pcm = audio.astype(np.int16)
    frames: list[Frame] = []
    for i in range(0, len(pcm), 320):
        frames.append(InputAudioRawFrame(pcm[i : i + 320].tobytes(), RATE, num_channels=1))
        if in_time and i % 1600 == 0:
            frames.append(SleepFrame(0.1))
    return frames


def through_the_user_step(step: FrameProcessor, frames: list[Frame]) -> list[Frame]:
    """The frames that came out of `step` (a call's user turn step, or a pipeline of it and
    what follows) as the person's audio and its transcript went in."""
    params = PipelineParams(audio_in_sample_rate=RATE)
    down, _ = asyncio.run(
        run_test(step, frames_to_send=frames, pipeline_params=params, start_timeout=30)
    )
    return list(down)


def turn_ends(text: str, **settings: Any) -> tuple[list[str], list[str]]:
    """What the user turn step did with `text` followed by silence: the verdicts, and the order
    of the turn's end and a marker sent 1.5 s after the transcript (a turn still open when the
    test's pipeline ends is ended then)."""
    verdicts: list[Verdict] = []
    turn = TurnDetectionConfig.model_validate(settings)
    params = user_turn_params(turn, verdicts.append)
    user = LLMContextAggregatorPair(LLMContext(), user_params=params).user()
    frames = [
        *spoken(text),
        TranscriptionFrame(text, "person", "now"),
        SleepFrame(1.5),
        TextFrame("marker"),
    ]
    down = through_the_user_step(user, frames)
    order = [
        "turn ended" if isinstance(frame, LLMContextFrame) else "marker"
        for frame in down
        if isinstance(frame, (LLMContextFrame, TextFrame))
    ]
    return [verdict.rule for verdict in verdicts], order


# append: the turn waits for its silence itself (interrupt answers early and holds the reply).
SLOW = {"interrupt_mode": "append", "silence_duration_ms": 4000}


def test_a_finished_sentence_ends_the_turn_after_a_short_silence() -> None:
    rules, order = turn_ends(FINISHED, mode="semantic", **SLOW)

    assert rules == ["semantic"]
    assert order == ["turn ended", "marker"]


def test_an_unfinished_sentence_waits_for_the_whole_silence() -> None:
    rules, order = turn_ends(UNFINISHED, mode="semantic", **SLOW)

    assert rules == ["max"]
    assert order[0] == "marker"  # 1.5 s after it, the 4 s silence was not over


def test_smart_turn_hears_a_question_cut_off_on_a_noun_as_finished() -> None:
    # Which is why its words are read too (test_call: it waits the whole silence in a call).
    rules, _ = turn_ends(CUT_OFF, mode="semantic", **SLOW)

    assert rules == ["semantic"]


def test_in_silence_mode_a_finished_sentence_waits_for_the_whole_silence() -> None:
    rules, order = turn_ends(FINISHED, mode="silence", **SLOW)

    assert rules == []  # no model heard it
    assert order[0] == "marker"


@pytest.mark.parametrize("eagerness", ["high", "auto", "low"])
def test_eagerness_sets_the_silence_after_a_finished_sentence(eagerness: str) -> None:
    turn = TurnDetectionConfig(mode="semantic", eagerness=eagerness, silence_duration_ms=2000)
    verdicts: list[Verdict] = []
    params = user_turn_params(turn, verdicts.append)
    strategy = params.user_turn_strategies.stop[0]

    assert strategy.finished == Verdict("semantic", FINISHED_SILENCE[eagerness])
    assert strategy.unfinished == Verdict("max", 2.0)
    assert FINISHED_SILENCE["high"] < FINISHED_SILENCE["auto"] < FINISHED_SILENCE["low"]


def test_a_finished_sentence_never_waits_longer_than_the_silence_setting() -> None:
    turn = TurnDetectionConfig(mode="semantic", eagerness="low", silence_duration_ms=250)
    strategy = user_turn_params(turn).user_turn_strategies.stop[0]

    assert strategy.finished.silence == 0.25


@pytest.mark.parametrize(
    ("stop_ms", "silence_ms", "stop"), [(200, 480, 0.2), (100, 480, 0.1), (200, 150, 0.15)]
)
def test_voice_activity_stops_after_the_setting_and_the_turn_waits_the_rest(
    settings: Any, stop_ms: int, silence_ms: int, stop: float
) -> None:
    settings.VOICE_VAD_STOP_MS = stop_ms
    turn = TurnDetectionConfig(interrupt_mode="append", silence_duration_ms=silence_ms)
    params = user_turn_params(turn)

    assert params.vad_analyzer is not None
    assert params.vad_analyzer.params.stop_secs == stop
    strategy = params.user_turn_strategies.stop[0]
    assert strategy._user_speech_timeout == pytest.approx(silence_ms / 1000 - stop)


@pytest.mark.parametrize(
    ("said", "language", "expected"),
    [
        ("Is it possible to", "en-US", True),
        ("I was wondering if...", "en", True),
        ("My order is, uh", "en", True),
        ("Ich wollte fragen, ob", "de-DE", True),
        ("Is it possible to pay by card?", "en-US", False),
        ("Where are you from", "en", True),  # a rare question that waits a little longer
        ("What is the weather in Paris?", "en", False),
        ("", "en", False),
        ("Is it possible to", "ja", False),  # no list: intonation alone
        ("My order number is", "en", True),
        ("My order number is...", "en", True),
        ("I was wondering…", "en", True),  # Whisper heard it trail off
        ("Yes, it is.", "en", False),
        ("That's what it is", "en", False),
        ("I know where you are.", "en", False),
        ("The best one is", "en", True),
        ("Je ne sais pas ce qu'il est", "fr", False),
        ("Is", "en", False),
        ("Mon numéro de commande est", "fr-FR", True),
        ("Je sais où il est", "fr", False),
        ("Mi número es", "es", True),
        ("Sí, lo es.", "es", False),
        ("Ich weiß, dass es wichtig ist", "de", False),
    ],
)
def test_words_that_trail_off(said: str, language: str, expected: bool) -> None:
    assert trails_off(said, language) is expected


def held_until(said: str, verdict: Verdict) -> tuple[float | None, str]:
    """When an early answer to `said`, spoken until t=10 s, may be heard, Smart-Turn having
    given `verdict`; and the rule the turn then records."""
    call = semantic_call()
    call.clock.speech_end = 10.0
    call.verdict_heard(verdict)
    call.answer_begins(said)
    return call.hold_until(), call.verdict().rule


def semantic_call(silence_ms: int = 1200) -> Call:
    config = AgentConfiguration.model_validate(
        {"turn_detection": {"mode": "semantic", "silence_duration_ms": silence_ms}}
    )
    return Call(session=None, config=config)  # type: ignore[arg-type]


FINISHED_VERDICT = Verdict("semantic", FINISHED_SILENCE["auto"])


def test_words_that_trail_off_wait_the_whole_silence_though_they_sounded_finished() -> None:
    assert held_until("Is it possible to", FINISHED_VERDICT) == (11.2, "max")
    assert held_until("Is it possible to pay by card?", FINISHED_VERDICT) == (10.3, "semantic")
    assert held_until("What is the weather", Verdict("max", 1.2)) == (11.2, "max")


@pytest.mark.parametrize(
    ("said", "verdict", "expected"),
    [
        ("Is it possible to pay by card?", FINISHED_VERDICT, (10.3, "semantic")),
        ("Is it possible to", FINISHED_VERDICT, (11.2, "max")),
        ("What is the weather", Verdict("max", 1.2), (11.2, "max")),
    ],
)
def test_an_answer_begun_before_the_verdict_is_held_for_the_silence_the_verdict_asks(
    said: str, verdict: Verdict, expected: tuple[float, str]
) -> None:
    call = semantic_call()
    call.clock.speech_end = 10.0
    call.verdict_heard(None)  # Smart-Turn is judging
    call.answer_begins(said)

    assert call.hold_until() == 11.2  # no sooner than the longest silence, meanwhile
    call.verdict_heard(verdict)
    assert (call.hold_until(), call.verdict().rule) == expected


def test_a_held_answer_is_released_when_the_verdict_comes_not_after_the_longest_silence() -> None:
    call = semantic_call(silence_ms=10_000)
    order: list[str] = []

    async def answer() -> None:
        call.clock.speech_end = call.now()
        call.verdict_heard(None)
        call.answer_begins("What is the weather in Paris?")
        settled = asyncio.create_task(call.settled())
        settled.add_done_callback(lambda _: order.append("released"))
        await asyncio.sleep(0.2)
        order.append("verdict")
        call.verdict_heard(FINISHED_VERDICT)
        await asyncio.wait_for(settled, 5)  # well inside the 10 s the answer waited meanwhile

    asyncio.run(answer())

    assert order == ["verdict", "released"]


def read_as(goes_on: bool, order: list[str]) -> Callable[[str], Awaitable[bool]]:
    """A reader that takes 0.2 s to read words as going on or not, noting when."""

    async def reader(content: str) -> bool:
        order.append("reading")
        await asyncio.sleep(0.2)
        order.append("read")
        return goes_on

    return reader


@pytest.mark.parametrize(
    ("goes_on", "expected"), [(True, (11.2, "max")), (False, (10.3, "semantic"))]
)
def test_words_read_as_going_on_wait_the_whole_silence_though_they_sounded_finished(
    goes_on: bool, expected: tuple[float, str]
) -> None:
    call = semantic_call()
    order: list[str] = []
    call.reader = read_as(goes_on, order)

    async def answer() -> tuple[float | None, tuple[float | None, str]]:
        call.clock.speech_end = 10.0
        call.verdict_heard(FINISHED_VERDICT)
        call.answer_begins("Tell me which platform.")
        meanwhile = call.hold_until()
        await asyncio.wait_for(call.decided.wait(), 5)
        return meanwhile, (call.hold_until(), call.verdict().rule)

    meanwhile, held = asyncio.run(answer())

    assert meanwhile == 11.2  # no sooner than the longest silence while it reads
    assert held == expected
    assert order == ["reading", "read"]


def test_a_held_answer_whose_silence_is_over_waits_for_its_words_to_be_read() -> None:
    call = semantic_call()
    order: list[str] = []
    call.reader = read_as(False, order)

    async def answer() -> None:
        call.clock.speech_end = call.now() - FINISHED_VERDICT.silence
        call.verdict_heard(FINISHED_VERDICT)
        call.answer_begins("What is the weather in Paris?")
        settled = asyncio.create_task(call.settled())
        settled.add_done_callback(lambda _: order.append("released"))
        await asyncio.wait_for(settled, 5)

    asyncio.run(answer())

    assert order == ["reading", "read", "released"]


def test_words_that_trail_off_are_not_read_and_a_new_turn_is_not_read_for_the_last() -> None:
    call = semantic_call()
    order: list[str] = []
    call.reader = read_as(True, order)

    async def answer() -> TurnClock:
        call.clock.speech_end = 10.0
        call.verdict_heard(FINISHED_VERDICT)
        call.answer_begins("Is it possible to")  # trails off: it waits the whole silence anyway
        call.answer_begins("Tell me which platform.")
        call.clock = TurnClock()  # the person began a new turn while it was read
        await asyncio.sleep(0.5)
        return call.clock

    new = asyncio.run(answer())

    assert order == ["reading", "read"]
    assert (new.reading, new.trails, call.decided.is_set()) == (False, False, False)


@pytest.mark.parametrize(
    ("settings", "language", "reads"),
    [
        ({"mode": "semantic"}, "en", True),
        ({"mode": "semantic"}, "en-GB", True),
        ({"mode": "semantic"}, "de", False),  # the packaged model reads English
        ({"mode": "silence"}, "en", False),
    ],
)
def test_transcripts_are_read_in_semantic_mode_in_english(
    settings: dict[str, str], language: str, reads: bool
) -> None:
    turn = TurnDetectionConfig.model_validate(settings)
    assert (transcript_reader(turn, language) is reads_unfinished) is reads


def test_the_packaged_model_reads_a_question_cut_off_as_going_on() -> None:
    assert asyncio.run(reads_unfinished("Tell me which platform.")) is True
    assert asyncio.run(reads_unfinished("Which platform does the train leave from?")) is False


def test_when_the_words_cannot_be_read_smart_turns_verdict_stands(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def not_installed(text: str) -> float:
        raise LocalLLMUnavailable("The packaged model is not installed (a test).")

    monkeypatch.setattr(reading, "sentence_end_probability", not_installed)

    assert asyncio.run(reads_unfinished("Tell me which platform.")) is False
    assert asyncio.run(reads_unfinished("Do you know whether the pharmacy")) is False
    assert caplog.text.count("not installed (a test)") == 1  # said once per process


def voice_over_a_held_answer(*changes: tuple[float, bool]) -> list[str]:
    """What happens to an answer whose silence is just over while Silero hears a voice, which
    then `changes` (each: s after the one before, whether a voice is heard), the agent's
    interrupt_duration_ms 5 s."""
    call = semantic_call()
    call.config.turn_detection.interrupt_duration_ms = 5000
    call.quiet = quiet = Quiet()
    quiet.heard(True)  # Silero hears a voice, perhaps the person going on
    order: list[str] = []

    async def answer() -> None:
        call.clock.speech_end = call.now() - FINISHED_VERDICT.silence
        call.verdict_heard(FINISHED_VERDICT)
        call.answer_begins("What is the weather in Paris?")
        order.append("holding" if call.holding() else "not holding")
        settled = asyncio.create_task(call.settled())
        settled.add_done_callback(lambda _: order.append("released"))
        for after, voice in changes:
            await asyncio.sleep(after)
            order.append("voice" if voice else "quiet")
            quiet.heard(voice)
        await asyncio.wait_for(settled, 15)
        order.append("holding" if call.holding() else "not holding")

    asyncio.run(answer())
    return order


def test_a_held_answer_waits_while_a_voice_is_heard_though_its_silence_is_over() -> None:
    # A noise: it ends without becoming the person's turn.
    assert voice_over_a_held_answer((0.2, False)) == ["holding", "quiet", "released", "not holding"]


def test_a_quiet_moment_in_the_voice_does_not_release_the_answer() -> None:
    # "is open late": a voice, a quiet window or two at the "s", the voice again.
    heard = voice_over_a_held_answer((0.2, False), (0.05, True), (0.3, False))

    assert heard == ["holding", "quiet", "voice", "quiet", "released", "not holding"]


def test_a_voice_that_goes_on_without_becoming_a_turn_holds_the_answer_a_while_only() -> None:
    # interrupt_duration_ms + VOICE_WAIT_SECONDS: 5.5 s, well inside the test's 15
    assert voice_over_a_held_answer() == ["holding", "released", "not holding"]


def heard_by_smart_turn(monkeypatch: Any, *parts: list[Frame]) -> list[float]:
    """The seconds of audio Smart-Turn heard at each verdict, an agent answering early (held
    for its silence) while the person says `parts`."""
    heard: list[float] = []
    predict = SmartTurn._predict_endpoint

    def spied(self: SmartTurn, audio_array: np.ndarray) -> dict[str, Any]:
        heard.append(len(audio_array) / RATE)
        return predict(self, audio_array)

    monkeypatch.setattr(SmartTurn, "_predict_endpoint", spied)
    turn = TurnDetectionConfig(mode="semantic", interrupt_mode="interrupt")
    user = LLMContextAggregatorPair(LLMContext(), user_params=user_turn_params(turn)).user()
    frames = [frame for part in parts for frame in part]
    through_the_user_step(user, frames)
    return heard


def test_words_that_go_on_after_a_held_answer_are_judged_with_the_ones_before(
    monkeypatch: Any,
) -> None:
    first = [*spoken(UNFINISHED, in_time=True), TranscriptionFrame(UNFINISHED, "person", "now")]
    rest = "we could move the meeting to Friday."
    second = [*spoken(rest, in_time=True), TranscriptionFrame(rest, "person", "now")]

    heard = heard_by_smart_turn(monkeypatch, first, second)

    assert len(heard) == 2
    assert heard[1] > heard[0] + seconds_of(rest)  # both parts, not the second alone


def test_once_the_agent_speaks_the_next_words_are_judged_alone(monkeypatch: Any) -> None:
    first = [*spoken(FINISHED, in_time=True), TranscriptionFrame(FINISHED, "person", "now")]
    answered = [BotStartedSpeakingFrame(), SleepFrame(0.2), BotStoppedSpeakingFrame()]
    after = "And tomorrow?"
    second = [*spoken(after, in_time=True), TranscriptionFrame(after, "person", "now")]

    heard = heard_by_smart_turn(monkeypatch, first, answered, second)

    assert len(heard) == 2
    assert heard[1] < seconds_of(FINISHED)


class TurnEnds(FrameProcessor):
    """Notes in `order` each turn that ends (its context goes on to be answered)."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            self.order.append("turn ended")
        await self.push_frame(frame, direction)


def judged(monkeypatch: Any, settings: dict[str, Any], *parts: list[Frame]) -> list[str]:
    """What happened, in order, while the person says `parts`, Smart-Turn taking 2 s over each
    verdict: each verdict's rule ("judging": Smart-Turn began), and each turn's end."""
    predict = SmartTurn._predict_endpoint

    def slow(self: SmartTurn, audio_array: np.ndarray) -> dict[str, Any]:
        time.sleep(2)
        return predict(self, audio_array)

    monkeypatch.setattr(SmartTurn, "_predict_endpoint", slow)
    order: list[str] = []
    turn = TurnDetectionConfig.model_validate({"mode": "semantic", **settings})
    params = user_turn_params(
        turn, lambda verdict: order.append(verdict.rule if verdict else "judging")
    )
    user = LLMContextAggregatorPair(LLMContext(), user_params=params).user()
    frames = [*(frame for part in parts for frame in part), SleepFrame(5)]
    through_the_user_step(Pipeline([user, TurnEnds(order)]), frames)
    return order


def test_a_held_answer_begins_as_soon_as_the_words_are_in_while_smart_turn_judges(
    monkeypatch: Any,
) -> None:
    said = [*spoken(FINISHED), TranscriptionFrame(FINISHED, "person", "now")]

    order = judged(monkeypatch, {"interrupt_mode": "interrupt"}, said)

    assert order == ["judging", "turn ended", "semantic"]


def test_a_turn_whose_answer_is_not_held_ends_after_the_verdict(monkeypatch: Any) -> None:
    said = [*spoken(FINISHED), TranscriptionFrame(FINISHED, "person", "now")]

    order = judged(monkeypatch, {"interrupt_mode": "append"}, said)

    assert order == ["semantic", "turn ended"]


def test_words_that_go_on_while_smart_turn_judges_make_its_verdict_moot(
    monkeypatch: Any,
) -> None:
    first = [*spoken(UNFINISHED, in_time=True), TranscriptionFrame(UNFINISHED, "person", "now")]
    rest = "we could move the meeting to Friday."
    second = [*spoken(rest, in_time=True), TranscriptionFrame(rest, "person", "now")]

    order = judged(monkeypatch, {"interrupt_mode": "interrupt"}, first, second)

    # The first verdict, due after the person went on, was dropped: one verdict, the last.
    assert order[:4] == ["judging", "turn ended", "judging", "turn ended"]
    assert len(order) == 5
    assert order[4] in ("semantic", "max")


def seconds_of(text: str) -> float:
    """How long the voice takes to say `text`, its own silence left out."""
    words = speech(text, rate=RATE)
    loud = np.flatnonzero(np.abs(words) > 300)
    return float(loud[-1] - loud[0]) / RATE


PHRASES = backchannel_phrases(TurnDetectionConfig(), "en-US")


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Mm-hmm.", False),
        ("Okay.", False),
        ("Yeah, yeah.", False),
        ("Okay, mm-hmm, I see.", False),
        ("NMM.", False),  # how Whisper heard one "mm-hmm"
        ("", False),  # a noise Whisper heard nothing in
        ("Stop.", True),
        ("Wait, stop, that's wrong.", True),
        ("Okay, but what about Tuesday?", True),
        ("Yes please", True),
    ],
)
def test_acknowledgements_and_noise_do_not_interrupt_words_do(said: str, expected: bool) -> None:
    assert interrupts(said, min_words=1, phrases=PHRASES) is expected


@pytest.mark.parametrize(
    ("settings", "language", "prompt"),
    [
        ({}, "en-US", "Mm-hmm. Mhm. Mm. Hmm. Uh-huh. Uh huh. Yeah. Yep."),
        ({}, "de", "Mhm. Hm. Ja. Genau. Okay. Ok. Alles klar. Stimmt."),
        (
            {"backchannel_phrases": {"en": ["got it", " ", "sure thing"]}},
            "en",
            "Got it. Sure thing.",
        ),
        ({"interrupt_min_words": 0}, "en", None),  # voice activity alone stops the agent
        ({}, "ja", ""),  # no acknowledgements built in: words are heard once, as words
    ],
)
def test_speech_over_the_agent_is_heard_again_after_the_languages_acknowledgements(
    settings: dict[str, Any], language: str, prompt: str | None
) -> None:
    heard = over_agent_hearing(TurnDetectionConfig.model_validate(settings), language)
    assert (heard and heard.prompt) == prompt
    if heard is not None:
        assert heard.stops_agent("in a month")
        assert not heard.stops_agent(prompt or "")


def test_the_minimum_number_of_words_and_the_agents_own_phrases() -> None:
    assert not interrupts("Stop.", min_words=2, phrases=PHRASES)
    assert interrupts("Stop it.", min_words=2, phrases=PHRASES)
    german = TurnDetectionConfig(backchannel_phrases={"de": ["jawohl", "na klar"]})
    phrases = backchannel_phrases(german, "de-DE")
    assert not interrupts("Na klar, jawohl.", min_words=1, phrases=phrases)
    assert interrupts("Genau.", min_words=1, phrases=phrases)  # the agent's list replaces ours
    assert not interrupts("Jawohl.", min_words=1, phrases=backchannel_phrases(german, "de-AT"))


def test_speech_over_the_agent_is_counted_while_voice_activity_counts_it() -> None:
    heard = SpeechOverAgent()
    tenth = InputAudioRawFrame(bytes(2 * RATE // 10), RATE, num_channels=1)
    before = [BotStartedSpeakingFrame(), tenth, VADUserStartedSpeakingFrame()]
    during = [*[tenth] * 9, BotStoppedSpeakingFrame(), VADUserStoppedSpeakingFrame(), tenth]
    for frame in [*before, *during]:
        heard.track(frame)

    assert (heard.agent_speaking, heard.began_over_agent) == (False, True)
    assert (heard.speaking, round(heard.seconds, 2)) == (False, 0.9)
    assert heard.acknowledgement_long  # 0.8 s is as long as an acknowledgement lasts

    heard.track(VADUserStartedSpeakingFrame())  # after the agent finished: a new count
    assert (heard.began_over_agent, heard.seconds) == (False, 0.0)


def over_the_agent(*said: list[Frame]) -> list[str]:
    """What the user turn step does with speech while the agent speaks: whether each part
    started a turn (and so stopped the agent) or was dropped."""
    return heard_with_the_agent([BotStartedSpeakingFrame()], *said)


def heard_with_the_agent(before: list[Frame], *said: list[Frame]) -> list[str]:
    params = user_turn_params(TurnDetectionConfig(), language="en")
    user = LLMContextAggregatorPair(LLMContext(), user_params=params).user()
    frames: list[Frame] = list(before)
    for part in said:
        frames += [*part, SleepFrame(0.3), TextFrame("next")]
    down, _ = asyncio.run(
        run_test(
            user,
            frames_to_send=frames,
            pipeline_params=PipelineParams(audio_in_sample_rate=RATE),
            start_timeout=30,
        )
    )
    return [
        "stopped" if isinstance(frame, InterruptionFrame) else "next"
        for frame in down
        if isinstance(frame, (InterruptionFrame, TextFrame))
    ]


def test_over_the_agent_an_acknowledgement_is_dropped_and_a_real_interruption_stops_it() -> None:
    mm_hmm = [*spoken("Mm-hmm."), TranscriptionFrame("Mm-hmm.", "person", "now")]
    stop = [*spoken("Stop."), TranscriptionFrame("Stop.", "person", "now")]

    assert over_the_agent(mm_hmm, stop) == ["next", "stopped", "next"]


def test_over_the_agent_long_speech_stops_it_before_its_words_are_in() -> None:
    words = "Wait a moment, I have a question about the museums and the river there"
    long = spoken(words, in_time=True)

    assert over_the_agent(long) == ["stopped", "next"]


def test_an_acknowledgement_transcribed_after_the_agent_finished_is_still_dropped() -> None:
    # On a loaded machine Whisper may take longer than the rest of the reply: the speech
    # began over the agent, so its transcript is judged so.
    stopped = [SleepFrame(0.5), BotStoppedSpeakingFrame()]  # after the audio is through
    okay = [*spoken("Okay."), *stopped, TranscriptionFrame("Okay.", "person", "now")]
    question = [SleepFrame(0.5), *spoken("Why?"), TranscriptionFrame("Why?", "person", "now")]

    assert over_the_agent(okay, question) == ["next", "stopped", "next"]


def test_speech_after_the_agent_finished_is_a_turn_whatever_it_says() -> None:
    finished = [BotStartedSpeakingFrame(), BotStoppedSpeakingFrame()]
    okay = [*spoken("Okay."), TranscriptionFrame("Okay.", "person", "now")]

    assert heard_with_the_agent(finished, okay) == ["stopped", "next"]
