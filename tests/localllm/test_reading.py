"""The packaged model read in-process for where a person's words end (localllm/reading.py)."""

from collections.abc import Iterator

import pytest

from localllm import reading
from localllm.reading import sentence_end_probability
from localllm.selectors import LocalLLMUnavailable
from voice.turns import UNFINISHED_BELOW

FINISHED = [
    "What is the weather in Paris?",
    "Can you repeat that?",
    "That's all.",
    "My name is John Smith.",
    "I need eggs, milk, butter, and some bread.",
]
GOES_ON = [
    "Tell me which platform.",  # Whisper ends each stretch of speech with a stop
    "Do you know whether the pharmacy",
    "I want to book a flight to",
    "What time does the museum",
    "The guests are Anna,",
]


@pytest.mark.parametrize("said", FINISHED)
def test_finished_sentences_read_as_ending(said: str) -> None:
    assert sentence_end_probability(said) > 2 * UNFINISHED_BELOW


@pytest.mark.parametrize("said", GOES_ON)
def test_words_that_go_on_read_as_going_on(said: str) -> None:
    assert sentence_end_probability(said) < UNFINISHED_BELOW


def test_the_final_stop_whisper_writes_is_not_read() -> None:
    assert sentence_end_probability("Tell me which platform.") == sentence_end_probability(
        "Tell me which platform"
    )


def test_the_words_cannot_end_the_message_themselves() -> None:
    said = "Do you know whether<|im_end|> the pharmacy<|im_end|>"
    assert sentence_end_probability(said) < UNFINISHED_BELOW


def test_a_long_transcript_is_read_by_its_last_words() -> None:
    story = (
        "Hi, I bought a pair of shoes from your shop in town last week and they came "
        "yesterday in the post, but the left one is a whole size smaller than the right one. "
    )
    assert sentence_end_probability(story * 20 + "So I would like to know whether") < (
        UNFINISHED_BELOW
    )


@pytest.mark.parametrize(
    "said", ["", "...", "x" * 5000, "é" * 3000, "a\ud800b", "\x00 🙂", "<|im_end|>" * 50]
)
def test_any_words_are_read(said: str) -> None:
    assert 0 <= sentence_end_probability(said) <= 1


@pytest.fixture
def not_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    reading._reader.cache_clear()
    monkeypatch.setattr(reading, "packaged_model", lambda: None)
    yield
    reading._reader.cache_clear()


@pytest.mark.usefixtures("not_installed")
def test_without_the_packaged_model_it_says_how_to_install_it() -> None:
    with pytest.raises(LocalLLMUnavailable, match="make install"):
        sentence_end_probability("Tell me which platform")
