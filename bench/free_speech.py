"""A voice worker whose speech models take no time, for `bench/voice.py --free-speech`: what is
left of a turn when Whisper and Piper cost nothing, a bound on what a GPU (or a fast cloud
service) can give on the same machine. Everything else is the real worker: transport, voice
activity, Smart-Turn, the engine, the reply gate.

- Whisper's stand-in returns at once the sentence the bench wrote to $BENCH_SAYING before it
  played it.
- Piper's returns a text's audio from a cache, made the first time that text is spoken (the
  bench warms it with a turn it does not count).

    python bench/free_speech.py voiceworker --port …   (as manage.py)
"""

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class CachedVoice:
    """A Piper voice that makes each text once."""

    def __init__(self, voice: Any) -> None:
        self.voice = voice
        self.made: dict[str, list[Any]] = {}

    def synthesize(self, text: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if text not in self.made:
            self.made[text] = list(self.voice.synthesize(text, *args, **kwargs))
        return iter(self.made[text])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.voice, name)


def heard_at_once(_whisper: Any, _audio: Any, **_options: Any) -> tuple[list[Any], None]:
    from voice.whisper import Heard

    return [Heard(Path(os.environ["BENCH_SAYING"]).read_text(), 0.0)], None


def main() -> None:
    import django

    django.setup()
    from django.core.management import execute_from_command_line

    import voice.offline
    import voice.whisper

    piper = voice.offline._piper
    voice.offline._piper = functools.cache(lambda path: CachedVoice(piper(path)))
    voice.whisper.SharedWhisper.transcribe = heard_at_once  # type: ignore[method-assign,assignment]
    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
