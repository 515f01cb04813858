"""An agent's configuration as the `properties` of Agora's join request.

Parley stays the agent's brain: `llm.url` is the agent's own chat-completions endpoint, with a
secret good for this one session, so that every turn Agora hears runs through Parley's engine
(prompt, tools, failure message) and is recorded in the session. Agora does the listening
(`asr`), the speaking (`tts`, with the team's key for the agent's voice provider) and the
turn-taking (`turn_detection`)."""

from dataclasses import dataclass, field
from typing import Any

from agents.configuration import AgentConfiguration
from parley.errors import Conflict
from providers.selectors import provider_resolve, speech_key_resolve
from teams.models import Team

# Parley's voice providers, and the vendor Agora knows each as.
TTS_VENDORS = {"elevenlabs": "elevenlabs", "azure": "microsoft", "openai": "openai"}
TTS_VENDORS |= {"cartesia": "cartesia"}
# A bare language code as Agora's ASR names it (it wants a region).
LANGUAGES = {
    "en": "en-US",
    "es": "es-ES",
    "fr": "fr-FR",
    "de": "de-DE",
    "it": "it-IT",
    "pt": "pt-PT",
    "ja": "ja-JP",
    "ko": "ko-KR",
    "zh": "zh-CN",
    "ar": "ar-AE",
    "hi": "hi-IN",
    "ru": "ru-RU",
}
SAMPLE_RATE = 24000
# Agora's session is over this long after everyone has left the channel, whatever the agent's
# own idle timeout: an empty channel is billed.
EMPTY_CHANNEL_SECONDS = 30


class UnsupportedOnAgora(Conflict):
    """The agent's configuration asks for something Agora's engine cannot do."""

    code = "agora_unsupported"


@dataclass(frozen=True)
class Channel:
    """Where the agent meets the person: the channel, both uids, the agent's RTC token."""

    name: str
    agent_uid: str
    user_uid: str
    agent_token: str = field(default="", repr=False)


def asr_language(language: str) -> str:
    code = language.replace("_", "-")
    return LANGUAGES.get(code.lower(), code)


def _tts_params(team: Team, provider: str, voice: str) -> dict[str, Any]:
    if provider == "elevenlabs":
        key = speech_key_resolve(team=team, kind="elevenlabs").api_key
        return {"key": key, "voice_id": voice, "model_id": "eleven_flash_v2_5"} | {
            "sample_rate": SAMPLE_RATE
        }
    if provider == "azure":
        speech = speech_key_resolve(team=team, kind="azure_speech")
        voice = voice or "en-US-AndrewMultilingualNeural"
        return {"key": speech.api_key, "region": speech.region, "voice_name": voice} | {
            "sample_rate": SAMPLE_RATE
        }
    if provider == "openai":
        key = provider_resolve(team=team, kind="openai").api_key or ""
        return {"api_key": key, "model": "gpt-4o-mini-tts", "voice": voice or "alloy"}
    key = speech_key_resolve(team=team, kind="cartesia").api_key
    return {"api_key": key, "model_id": "sonic-2", "voice": {"mode": "id", "id": voice}} | {
        "sample_rate": SAMPLE_RATE
    }


def tts_section(team: Team, config: AgentConfiguration) -> dict[str, Any]:
    """Agora's `tts`: its vendor for the agent's voice provider, the team's key for it, and the
    agent's own `tts.params` over Parley's defaults. UnsupportedOnAgora for a provider Agora
    has no vendor for; ProviderMissing when the team has no key for it."""
    provider = config.tts.provider
    if provider not in TTS_VENDORS:
        choices = ", ".join(sorted(TTS_VENDORS))
        raise UnsupportedOnAgora(
            f"Agora cannot speak with the {provider} voice; set tts.provider to one of {choices}.",
            details={"field": "configuration.tts.provider"},
        )
    params = _tts_params(team, provider, config.tts.voice_id) | config.tts.params
    return {"vendor": TTS_VENDORS[provider], "params": params}


def _asr_section(team: Team, config: AgentConfiguration) -> dict[str, Any]:
    """The language always; Deepgram or Azure as the recognizer when the agent uses them (with
    the team's key), else Agora's own."""
    language = asr_language(config.stt.language)
    if config.stt.provider == "deepgram":
        key = speech_key_resolve(team=team, kind="deepgram").api_key
        params = {"key": key, "model": config.stt.model or "nova-3", "language": language}
        return {"language": language, "vendor": "deepgram", "params": params}
    if config.stt.provider == "azure":
        speech = speech_key_resolve(team=team, kind="azure_speech")
        params = {"key": speech.api_key, "region": speech.region, "language": language}
        return {"language": language, "vendor": "microsoft", "params": params}
    return {"language": language}


def _turn_detection(config: AgentConfiguration) -> tuple[dict[str, Any], dict[str, Any]]:
    """`turn_detection` and the older `vad`, which engines before it read instead. An agent
    whose turns end by meaning (`mode: semantic`) gets Agora's `semantic_vad`, at its
    eagerness; the voice-activity values keep their meaning there."""
    turn = config.turn_detection
    vad = {
        "interrupt_duration_ms": turn.interrupt_duration_ms,
        "prefix_padding_ms": turn.prefix_padding_ms,
        "silence_duration_ms": turn.silence_duration_ms,
        "threshold": turn.threshold,
    }
    kind = "semantic_vad" if turn.mode == "semantic" else "agora_vad"
    detection = {"type": kind, "interrupt_mode": turn.interrupt_mode} | vad
    if turn.mode == "semantic":
        detection["eagerness"] = turn.eagerness
    return detection, vad


def _llm_section(config: AgentConfiguration, url: str, key: str, model: str) -> dict[str, Any]:
    return {
        "url": url,
        "api_key": key,
        # Parley adds the agent's system prompt itself; Agora sends the conversation.
        "system_messages": [],
        "params": {"model": model},
        "max_history": config.llm.max_history,
        "greeting_message": config.llm.first_message,
        "failure_message": config.llm.failure_message,
        "input_modalities": list(config.llm.input_modalities),
        "style": "openai",
    }


def join_properties(
    *,
    team: Team,
    config: AgentConfiguration,
    channel: Channel,
    llm_url: str,
    llm_key: str,
    model: str,
) -> dict[str, Any]:
    """The `properties` of the join request for one session of an agent."""
    detection, vad = _turn_detection(config)
    properties: dict[str, Any] = {
        "channel": channel.name,
        "agent_rtc_uid": channel.agent_uid,
        "remote_rtc_uids": [channel.user_uid],
        "idle_timeout": min(config.idle_timeout_seconds, EMPTY_CHANNEL_SECONDS),
        "advanced_features": {"enable_aivad": False, "enable_rtm": False},
        "asr": _asr_section(team, config),
        "llm": _llm_section(config, llm_url, llm_key, model),
        "tts": tts_section(team, config),
        "turn_detection": detection,
        "vad": vad,
        "parameters": {"enable_error_message": True},
    }
    if channel.agent_token:
        properties["token"] = channel.agent_token
    return properties
