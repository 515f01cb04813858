"""Cloud speech services, with the team's keys. (Being built: only offline providers so far.)"""

from typing import Any

from agents.configuration import AgentConfiguration
from parley.errors import Conflict
from teams.models import Team


def cloud_speech_check(*, team: Team, config: AgentConfiguration) -> None:
    for part, provider in (("stt", config.stt.provider), ("tts", config.tts.provider)):
        if provider not in ("whisper", "piper"):
            raise Conflict(f"{part}.provider {provider!r} is not available yet.")


def cloud_stt(*, team: Team, config: AgentConfiguration) -> Any:
    raise NotImplementedError


def cloud_tts(*, team: Team, config: AgentConfiguration) -> Any:
    raise NotImplementedError
