"""A reply spoken in pieces, so that its first sound comes sooner.

Piper makes a whole piece of text before its first sound, and pipecat gives it whole
sentences: the first audio of a reply waited for the LLM to write its whole first sentence and
for Piper to say all of it, which grows with the sentence (real LLMs open with long ones). Here
the first piece of each reply ends sooner, always between words:

- at the first clause boundary (",", ";", ":", a dash) once it has FIRST_CLAUSE_WORDS words;
- else before a word that opens a phrase ("and", "with", "because"…) once it has
  FIRST_PHRASE_WORDS words, where a spoken pause sounds natural;
- else after FIRST_PIECE_WORDS words; or at the end of the sentence, if that comes first.

The rest of the reply goes in whole sentences, as before: by then audio is playing, and Piper
makes each next sentence in a fraction of the time the one before takes to play.
"""

from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator, _LookaheadState

FIRST_CLAUSE_WORDS = 2
FIRST_PHRASE_WORDS = 4
FIRST_PIECE_WORDS = 8
CLAUSE_ENDS = (",", ";", ":", "\u2014", "\u2013")  # the last two: em and en dashes
PHRASE_OPENERS = frozenset(
    {"and", "but", "or", "so", "because", "which", "that", "who", "where", "when", "while"}
    | {"with", "without", "for", "from", "to", "in", "on", "at", "by", "if", "then"}
)


class FirstPieceSooner(SimpleTextAggregator):
    """pipecat's sentence aggregator, ending each reply's first piece sooner (see above)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._first = True  # the reply's first piece is still being written

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            piece = await self._check_sentence_with_lookahead(char)
            if piece is None and self._first and char.isspace():
                piece = self._first_piece()
            if piece is not None:
                self._first = False
                yield piece

    def _first_piece(self) -> Aggregation | None:
        """The first piece, once a word has ended where it may end; None to wait for more."""
        if self._lookahead_state != _LookaheadState.IDLE:
            return None  # a sentence may be ending: the sentence rule decides
        words = self._text.split()
        if len(words) >= FIRST_CLAUSE_WORDS and words[-1].endswith(CLAUSE_ENDS):
            return self._cut(len(words))
        opener = words[-1].lower().strip("\"'(") if words else ""
        if len(words) > FIRST_PHRASE_WORDS and opener in PHRASE_OPENERS:
            return self._cut(len(words) - 1)
        if len(words) >= FIRST_PIECE_WORDS:
            return self._cut(len(words))
        return None

    def _cut(self, count: int) -> Aggregation:
        words = self._text.split()
        rest = " ".join(words[count:])
        self._text = f"{rest} " if rest else ""
        return Aggregation(text=" ".join(words[:count]), type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        self._first = True
        return await super().flush()

    async def handle_interruption(self) -> None:
        self._first = True
        await super().handle_interruption()

    async def reset(self) -> None:
        self._first = True
        await super().reset()
