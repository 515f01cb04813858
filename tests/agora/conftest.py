"""Agora's REST API as a loopback stand-in, a team with Agora credentials, and an agent that
runs on Agora with an ElevenLabs voice (the team's key)."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from agents.configuration import AgentConfiguration
from agents.models import Agent, Runtime
from agora.models import AgoraAccount
from providers.models import Provider
from tests.conftest import Cast
from tests.factories import AgentFactory

from .agora_standin import AgoraStandIn

ELEVENLABS_KEY = "el_" + "k" * 30
STANDIN: list[AgoraStandIn] = []  # the running one, for helpers that take no fixture


@pytest.fixture
def standin(settings: Any) -> Iterator[AgoraStandIn]:
    server = AgoraStandIn().start()
    settings.AGORA_API_URL = server.url
    settings.AGORA_RETRY_BASE_SECONDS = 0.01
    settings.AGORA_TIMEOUT_SECONDS = 2
    settings.CHAT_BASE_URL = "https://parley.example.com"
    cache.clear()  # the session start limits count per address
    STANDIN[:] = [server]
    yield server
    server.stop()


@pytest.fixture
def account(cast: Cast, standin: AgoraStandIn) -> AgoraAccount:
    credentials = {
        "app_id": standin.app_id,
        "customer_id": standin.customer_id,
        "customer_secret": standin.customer_secret,
        "app_certificate": "",
    }
    return AgoraAccount.objects.create(team=cast.team, credentials=credentials)


def an_agora_agent(cast: Cast, **config: Any) -> Agent:
    config.setdefault("tts", {"provider": "elevenlabs", "voice_id": "voice-1"})
    document = AgentConfiguration.model_validate(config).as_document()
    return AgentFactory(
        team=cast.team,
        name="Ada",
        publish_status="private",
        runtime=Runtime.AGORA,
        configuration=document,
    )


@pytest.fixture
def agent(cast: Cast) -> Agent:
    Provider.objects.create(
        team=cast.team, kind="elevenlabs", credentials={"api_key": ELEVENLABS_KEY}
    )
    return an_agora_agent(
        cast,
        llm={"first_message": "Hello, Ada here.", "failure_message": "Sorry.", "max_history": 12},
        stt={"language": "fr"},
        turn_detection={"silence_duration_ms": 600, "interrupt_mode": "append"},
        idle_timeout_seconds=20,
    )
