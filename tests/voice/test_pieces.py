"""A reply spoken in pieces (voice/pieces.py): the first piece ends sooner than the first
sentence, always between words, and Piper's first sound comes before the rest is made."""

import asyncio

import pytest
from pipecat.frames.frames import (
    AggregatedTextFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from agents.configuration import TTSConfig
from voice.offline import piper_tts
from voice.pieces import FirstPieceSooner
from voice.pipeline import tts_prepared

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def pieces(reply: str, token: int = 3) -> list[str]:
    """The pieces of `reply`, written `token` characters at a time as an LLM streams it."""

    async def aggregated() -> list[str]:
        aggregator, found = FirstPieceSooner(), []
        for start in range(0, len(reply), token):
            async for piece in aggregator.aggregate(reply[start : start + token]):
                found.append(piece.text)
        if (rest := await aggregator.flush()) is not None:
            found.append(rest.text)
        return found

    return asyncio.run(aggregated())


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (  # at the first clause boundary
            "Sure thing, the weather in Paris today is sunny and warm. Anything else?",
            ["Sure thing,", "the weather in Paris today is sunny and warm.", "Anything else?"],
        ),
        (  # before a word that opens a phrase
            "I looked up your order number and it shipped yesterday from our warehouse.",
            ["I looked up your order number", "and it shipped yesterday from our warehouse."],
        ),
        (  # after a few words, when nothing better comes
            "Our friendly support team members can certainly help everybody here today.",
            ["Our friendly support team members can certainly help", "everybody here today."],
        ),
        (  # a short sentence is a piece of its own, as before
            "Paris is the capital. It sits on the Seine, a river.",
            ["Paris is the capital.", "It sits on the Seine, a river."],
        ),
        (  # abbreviations, decimals and thousands do not end a piece
            "It costs $29.99 for Dr. Smith and 3,000 people at the venue. Thanks.",
            ["It costs $29.99 for Dr. Smith", "and 3,000 people at the venue.", "Thanks."],
        ),
    ],
)
def test_the_first_piece_ends_sooner_than_the_first_sentence(
    reply: str, expected: list[str]
) -> None:
    assert pieces(reply) == expected
    assert pieces(reply, token=1) == expected  # however the text is streamed
    assert " ".join(expected) == reply  # no word cut or lost


def test_each_reply_has_its_own_first_piece() -> None:
    async def two_replies() -> list[str]:
        aggregator, found = FirstPieceSooner(), []
        for reply in ["Well then, that is all for now.", "Sure thing, here it is."]:
            async for piece in aggregator.aggregate(reply):
                found.append(piece.text)
            if (rest := await aggregator.flush()) is not None:
                found.append(rest.text)
        return found

    assert asyncio.run(two_replies()) == [
        "Well then,",
        "that is all for now.",
        "Sure thing,",
        "here it is.",
    ]


def test_piper_starts_speaking_before_the_first_sentence_is_made() -> None:
    tts = tts_prepared(piper_tts(TTSConfig()))
    frames: list[Frame] = [
        LLMFullResponseStartFrame(),
        LLMTextFrame("The weather in Paris today is sunny with a high of twenty two degrees"),
        LLMTextFrame(" and a light wind. Anything else?"),
        LLMFullResponseEndFrame(),
        SleepFrame(1),
    ]

    down, _ = asyncio.run(run_test(tts, frames_to_send=frames, start_timeout=30))

    spoken = [frame.text for frame in down if isinstance(frame, TTSTextFrame)]
    assert spoken == [
        "The weather in Paris today is sunny",
        "with a high of twenty two degrees and a light wind.",
        "Anything else?",
    ]
    kinds = [type(frame) for frame in down]
    second_piece = [i for i, f in enumerate(down) if isinstance(f, AggregatedTextFrame)][1]
    assert kinds.index(TTSAudioRawFrame) < second_piece
