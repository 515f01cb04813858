"""Cloud speech services for calls, with the team's keys (the Providers page), else the
operator's install-wide defaults. The agent's settings pick and shape them:

    stt.provider  deepgram | openai | azure             with stt.model and stt.language
    tts.provider  elevenlabs | azure | openai | deepgram | cartesia
                  with tts.voice_id, and tts.params: "model", "language" (else stt.language)
                  and the service's own settings (TTS_PARAMS)

Deepgram, ElevenLabs, Azure Speech and Cartesia keys are speech kinds of their own. OpenAI's
speech-to-text and voices use the OpenAI LLM provider's key and address: one OpenAI account
serves both, and a team that stored it once should not store it twice.

An empty model or voice is the service's usual one. So is a model or voice named for Whisper or
Piper (stt.model's default is Whisper's "tiny.en"), left over from before the provider changed.

Building a service opens no connection (pipecat connects when the call's pipeline starts), and
pipecat is imported only to build one, so the web processes check keys without loading it."""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

import httpx
from django.db import connections
from django.urls import reverse

from agents.configuration import AgentConfiguration, STTConfig, TTSConfig
from parley.errors import Conflict
from parley.outbound import Policy
from providers.catalog import provider_kind
from providers.selectors import ProviderMissing, provider_resolve, speech_key_resolve
from teams.models import Team

T = TypeVar("T")

OFFLINE = frozenset({"whisper", "piper"})
# The agent's provider value → the kind of credentials it needs (providers.catalog).
CREDENTIALS = {
    "deepgram": "deepgram",
    "elevenlabs": "elevenlabs",
    "azure": "azure_speech",
    "cartesia": "cartesia",
    "openai": "openai",
}
STT_PROVIDERS = frozenset({"deepgram", "openai", "azure"})
TTS_PROVIDERS = frozenset({"elevenlabs", "azure", "openai", "deepgram", "cartesia"})
PART_NAMES = {"stt": "Speech-to-text", "tts": "Text-to-speech"}

# faster-whisper's model names: with another provider, the usual model instead.
WHISPER_SIZES = ("tiny", "base", "small", "medium")
WHISPER_MODELS = frozenset(
    {
        *WHISPER_SIZES,
        *(f"{size}.en" for size in WHISPER_SIZES),
        *("large", "large-v1", "large-v2", "large-v3", "large-v3-turbo", "turbo"),
        *("distil-small.en", "distil-medium.en", "distil-large-v2", "distil-large-v3"),
    }
)
# Piper's voice names, such as en_US-joe-medium: with another provider, the usual voice.
PIPER_VOICE = re.compile(r"[a-z]{2,3}_[A-Z]{2}-[\w.]+-(x_low|low|medium|high)")

# What tts.params each provider takes, and of what type: its pipecat Settings' fields (the
# tests hold them to that), less the voice, which is tts.voice_id. A str setting takes a number
# too (Azure's rate: 1.2). Cartesia's speed, volume and emotion are its generation_config.
Kind = type[float] | type[bool] | type[str]
TTS_PARAMS: dict[str, dict[str, Kind]] = {
    "elevenlabs": {
        "model": str,
        "language": str,
        "stability": float,
        "similarity_boost": float,
        "style": float,
        "use_speaker_boost": bool,
        "speed": float,
        "apply_text_normalization": str,
    },
    "azure": {
        "language": str,
        "effect": str,
        "emphasis": str,
        "force_locale": bool,
        "pitch": str,
        "rate": str,
        "role": str,
        "style": str,
        "style_degree": str,
        "voice_parameters": str,
        "volume": str,
    },
    "openai": {"model": str, "instructions": str, "speed": float},
    "deepgram": {"speed": float},
    "cartesia": {
        "model": str,
        "language": str,
        "speed": float,
        "volume": float,
        "emotion": str,
        "pronunciation_dict_id": str,
    },
}
CARTESIA_GENERATION = ("speed", "volume", "emotion")
# The usual voices where pipecat has none, or one that speaks only English.
ELEVENLABS_VOICE = "21m00Tcm4TlvDq8ikWAM"  # Rachel, a premade voice every account has
AZURE_VOICE = "en-US-AvaMultilingualNeural"  # speaks the language of the text it is given
CARTESIA_VOICE = "71a7ad14-091c-4e8e-a314-022ece01c121"
OPENAI_SAMPLE_RATE = 24000  # OpenAI's voices come at 24 kHz only


class SpeechSettingsInvalid(Conflict):
    """The agent's speech settings do not fit the provider it picked; editing them fixes it."""

    code = "speech_settings_invalid"


@dataclass(frozen=True)
class _Key:
    api_key: str = field(repr=False)
    region: str = ""  # Azure Speech's
    base_url: str | None = None  # OpenAI's, the team's or the operator's
    trusted: bool = True  # False for an address a team typed, which the outbound rules check


# Credentials.


def _missing(part: str, provider: str, error: ProviderMissing) -> ProviderMissing:
    """The selectors' error, said from the agent's side: which setting needs which key."""
    facts = provider_kind(CREDENTIALS[provider])
    page = reverse("providers:list")
    article = "an" if facts.label[0] in "AEIOU" else "a"
    env: str | None = facts.api_key_env
    if facts.needs_region:
        needs, add = f"{article} {facts.label} key and its region", "them"
        env = f"{facts.api_key_env} and {facts.region_env}"
    elif provider == "openai":
        needs, add = "an OpenAI API key (the one OpenAI's LLM uses)", "one"
    else:
        needs, add = f"{article} {facts.label} API key", "one"
    message = (
        f'{PART_NAMES[part]} ({part}.provider "{provider}") needs {needs}: an owner or admin '
        f"can add {add} under Providers ({page}), or the operator can set {env}."
    )
    details = error.details | {"setting": f"{part}.provider", "value": provider}
    return ProviderMissing(message, details=details)


def _lookup(team: Team, provider: str) -> _Key:
    if provider == "openai":
        resolved = provider_resolve(team=team, kind="openai")
        return _Key(resolved.api_key or "", base_url=resolved.base_url, trusted=resolved.trusted)
    found = speech_key_resolve(team=team, kind=CREDENTIALS[provider])
    return _Key(found.api_key, region=found.region)


def _off_the_loop(read: Callable[[], T]) -> T:
    """Run a database read where Django allows one. The voice worker builds a call's services
    inside its event loop, where Django refuses queries; there the read runs in a thread of its
    own, whose connection is closed after it. It is one indexed row, at the start of a call."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return read()

    def in_thread() -> T:
        try:
            return read()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(in_thread).result()


def _key(*, team: Team, part: str, provider: str) -> _Key:
    known = STT_PROVIDERS if part == "stt" else TTS_PROVIDERS
    if provider not in known:
        raise SpeechSettingsInvalid(
            f"{part}.provider {provider!r} is not a speech provider Parley knows.",
            details={"setting": f"{part}.provider", "value": provider},
        )
    try:
        return _off_the_loop(lambda: _lookup(team, provider))
    except ProviderMissing as exc:
        raise _missing(part, provider, exc) from None


def _address_problem(url: str) -> str | None:
    """Why the outbound rules would refuse `url`, which a team typed; None when they allow it.
    pipecat's OpenAI client calls it from the voice worker, outside parley.outbound, so the
    rules are checked before the call: a team's base URL must not reach private addresses."""
    policy = Policy.from_settings()
    parsed = httpx.URL(url)
    if refusal := policy.url_refusal(parsed):
        return refusal
    if policy.host_allowed(parsed.host):
        return None
    try:
        found = socket.getaddrinfo(parsed.host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"the host {parsed.host} could not be found (DNS lookup failed)"
    for info in found:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if refusal := policy.address_refusal(parsed.host, ip):
            return refusal
    return None


def _check_address(part: str, key: _Key) -> None:
    if key.trusted or key.base_url is None:
        return
    if problem := _address_problem(key.base_url):
        raise SpeechSettingsInvalid(
            f'{PART_NAMES[part]} ({part}.provider "openai") would call the OpenAI base URL '
            f"stored under Providers, {key.base_url}, but {problem}.",
            details={"setting": f"{part}.provider", "value": "openai"},
        )


# Settings.


def _stt_model(stt: STTConfig) -> str | None:
    """The agent's model for a cloud provider; None for the provider's usual one."""
    model = stt.model.strip()
    if not model or model in WHISPER_MODELS:
        return None
    if stt.provider == "azure":
        try:
            UUID(model)
        except ValueError:
            raise SpeechSettingsInvalid(
                f"stt.model is {model!r}, but Azure's speech-to-text has no models to pick: "
                "leave stt.model empty, or give the endpoint id of a Custom Speech model.",
                details={"setting": "stt.model", "value": model},
            ) from None
    return model


def _param(provider: str, name: str, value: Any, kind: Kind) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is float and number:
        return float(value)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and (isinstance(value, str) or number):
        return str(value)
    wanted = {float: "a number", bool: "true or false", str: "text"}[kind]
    raise SpeechSettingsInvalid(
        f"tts.params.{name} must be {wanted} for {provider}, not {value!r}.",
        details={"setting": f"tts.params.{name}", "value": value},
    )


def _tts_params(tts: TTSConfig) -> dict[str, Any]:
    """tts.params checked against what the provider takes: an unknown name is refused, not
    dropped, so that a typo does not silently leave a voice as it was."""
    takes = TTS_PARAMS[tts.provider]
    unknown = sorted(set(tts.params) - set(takes))
    if unknown:
        raise SpeechSettingsInvalid(
            f"tts.params has {', '.join(unknown)}, which tts.provider {tts.provider!r} does not "
            f"take. It takes: {', '.join(sorted(takes))}.",
            details={"setting": "tts.params", "unknown": unknown, "allowed": sorted(takes)},
        )
    return {name: _param(tts.provider, name, v, takes[name]) for name, v in tts.params.items()}


def _voice(tts: TTSConfig) -> str | None:
    voice = tts.voice_id.strip()
    return None if not voice or PIPER_VOICE.fullmatch(voice) else voice


@cache
def _languages() -> dict[str, Any]:
    from pipecat.transcriptions.language import Language

    return {language.value.lower(): language for language in Language}


def _language(code: str) -> Any:
    """ "en", "en-US", "en_us" → pipecat's Language, which each service turns into its own
    code (Azure's "en" is "en-US"); a code pipecat does not know goes as written."""
    code = code.strip().replace("_", "-")
    return _languages().get(code.lower(), code)


def _given(**values: Any) -> dict[str, Any]:
    """Only the settings the agent gave: the others keep the service's defaults."""
    return {name: value for name, value in values.items() if value is not None}


# Speech-to-text services.


def _deepgram_stt(key: _Key, stt: STTConfig) -> Any:
    from pipecat.services.deepgram.stt import DeepgramSTTService

    settings = DeepgramSTTService.Settings(
        **_given(model=_stt_model(stt), language=_language(stt.language))
    )
    return DeepgramSTTService(api_key=key.api_key, settings=settings)


def _openai_stt(key: _Key, stt: STTConfig) -> Any:
    from pipecat.services.openai.stt import OpenAISTTService

    settings = OpenAISTTService.Settings(
        **_given(model=_stt_model(stt), language=_language(stt.language))
    )
    return OpenAISTTService(api_key=key.api_key, base_url=key.base_url, settings=settings)


def _azure_stt(key: _Key, stt: STTConfig) -> Any:
    from pipecat.services.azure.stt import AzureSTTService

    return AzureSTTService(
        api_key=key.api_key,
        region=key.region,
        endpoint_id=_stt_model(stt),  # a Custom Speech model, if any
        settings=AzureSTTService.Settings(language=_language(stt.language)),
    )


# Text-to-speech services.


def _elevenlabs_tts(key: _Key, tts: TTSConfig, language: str) -> Any:
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

    params = _tts_params(tts) | {"language": _language(language)}
    settings = ElevenLabsTTSService.Settings(voice=_voice(tts) or ELEVENLABS_VOICE, **params)
    return ElevenLabsTTSService(api_key=key.api_key, settings=settings)


def _azure_tts(key: _Key, tts: TTSConfig, language: str) -> Any:
    from pipecat.services.azure.common import language_to_azure_language
    from pipecat.services.azure.tts import AzureTTSService
    from pipecat.transcriptions.language import Language

    # Azure wants a locale ("de" is "de-DE"); its TTS service would pass "de" through as it is.
    locale = _language(language)
    if isinstance(locale, Language):
        locale = language_to_azure_language(locale)
    params = _tts_params(tts) | {"language": locale}
    settings = AzureTTSService.Settings(voice=_voice(tts) or AZURE_VOICE, **params)
    return AzureTTSService(api_key=key.api_key, region=key.region, settings=settings)


def _openai_tts(key: _Key, tts: TTSConfig, language: str) -> Any:
    from pipecat.services.openai.tts import OpenAITTSService

    # No language: OpenAI's voices speak whatever they are given.
    settings = OpenAITTSService.Settings(**_given(voice=_voice(tts)), **_tts_params(tts))
    return OpenAITTSService(
        api_key=key.api_key,
        base_url=key.base_url,
        sample_rate=OPENAI_SAMPLE_RATE,
        settings=settings,
    )


def _deepgram_tts(key: _Key, tts: TTSConfig, language: str) -> Any:
    from pipecat.services.deepgram.tts import DeepgramTTSService

    # A Deepgram voice (aura-2-helena-en) is its model and language at once.
    settings = DeepgramTTSService.Settings(**_given(voice=_voice(tts)), **_tts_params(tts))
    return DeepgramTTSService(api_key=key.api_key, settings=settings)


def _cartesia_tts(key: _Key, tts: TTSConfig, language: str) -> Any:
    from pipecat.services.cartesia.tts import CartesiaTTSService, GenerationConfig

    params = _tts_params(tts) | {"language": _language(language)}
    generation = {name: params.pop(name) for name in CARTESIA_GENERATION if name in params}
    if generation:
        params["generation_config"] = GenerationConfig(**generation)
    settings = CartesiaTTSService.Settings(voice=_voice(tts) or CARTESIA_VOICE, **params)
    return CartesiaTTSService(api_key=key.api_key, settings=settings)


STT_BUILDERS: dict[str, Callable[[_Key, STTConfig], Any]] = {
    "deepgram": _deepgram_stt,
    "openai": _openai_stt,
    "azure": _azure_stt,
}
TTS_BUILDERS: dict[str, Callable[[_Key, TTSConfig, str], Any]] = {
    "elevenlabs": _elevenlabs_tts,
    "azure": _azure_tts,
    "openai": _openai_tts,
    "deepgram": _deepgram_tts,
    "cartesia": _cartesia_tts,
}


def _tts_language(config: AgentConfiguration) -> str:
    """tts.params.language, else the agent's language (stt.language)."""
    return str(config.tts.params.get("language") or config.stt.language)


# The contract voice.speech calls.


def cloud_speech_check(*, team: Team, config: AgentConfiguration) -> None:
    """Before a call starts: every cloud provider the agent picked has its key (ProviderMissing,
    a 409 naming the setting, the provider, and where to add the key), and its settings fit the
    provider (SpeechSettingsInvalid). Offline providers are voice.offline's to check."""
    for part in ("stt", "tts"):
        provider = getattr(config, part).provider
        if provider not in OFFLINE:
            _check_address(part, _key(team=team, part=part, provider=provider))
    if config.stt.provider not in OFFLINE:
        _stt_model(config.stt)
    if config.tts.provider not in OFFLINE:
        _tts_params(config.tts)


def cloud_stt(*, team: Team, config: AgentConfiguration) -> Any:
    """A new pipecat STT service for one call, with the team's key."""
    key = _key(team=team, part="stt", provider=config.stt.provider)
    return STT_BUILDERS[config.stt.provider](key, config.stt)


def cloud_tts(*, team: Team, config: AgentConfiguration) -> Any:
    """A new pipecat TTS service for one call, with the team's key."""
    key = _key(team=team, part="tts", provider=config.tts.provider)
    return TTS_BUILDERS[config.tts.provider](key, config.tts, _tts_language(config))
