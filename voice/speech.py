"""Which speech-to-text and text-to-speech service a call uses: the agent's `stt` and `tts`
settings pick them. whisper and piper run here, offline (voice.offline); the others are cloud
services that need the team's key (voice.cloud)."""

from typing import Any

from agents.configuration import AgentConfiguration
from teams.models import Team

from . import cloud

OFFLINE_STT = frozenset({"whisper"})
OFFLINE_TTS = frozenset({"piper"})


def speech_check(*, team: Team, config: AgentConfiguration) -> None:
    """Raise a ParleyError naming what to configure when a cloud provider the agent uses has no
    key, or an offline model is missing or cannot do the agent's language."""
    from .offline import piper_voice_path, whisper_check

    if config.stt.provider in OFFLINE_STT:
        whisper_check(config.stt)
    if config.tts.provider in OFFLINE_TTS:
        piper_voice_path(config.tts)
    cloud.cloud_speech_check(team=team, config=config)


def stt_service(*, team: Team, config: AgentConfiguration) -> Any:
    """A new pipecat STT service for one call."""
    if config.stt.provider in OFFLINE_STT:
        from .offline import whisper_stt
        from .turns import over_agent_hearing

        over_agent = over_agent_hearing(config.turn_detection, config.stt.language)
        return whisper_stt(config.stt, over_agent)
    return cloud.cloud_stt(team=team, config=config)


def tts_service(*, team: Team, config: AgentConfiguration) -> Any:
    """A new pipecat TTS service for one call."""
    if config.tts.provider in OFFLINE_TTS:
        from .offline import piper_tts

        return piper_tts(config.tts)
    return cloud.cloud_tts(team=team, config=config)
