"""Cloud speech services for calls (voice.cloud): each provider an agent can pick builds its
pipecat service with the team's key, else the install-wide default, and the agent's model,
voice, language and params; a missing key or a setting the provider cannot take is a 409 at
start that says what to fix. The services are built, never connected: no network here."""

import asyncio
import socket
from dataclasses import fields
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from agents.configuration import AgentConfiguration
from parley.errors import Conflict
from providers.models import Provider
from providers.selectors import ProviderMissing
from sessions.models import Session
from teams.models import Team
from tests.conftest import Cast
from tests.factories import AgentFactory
from voice import cloud
from voice.cloud import SpeechSettingsInvalid, cloud_speech_check, cloud_stt, cloud_tts
from voice.models import VoiceWorker

pytestmark = pytest.mark.django_db

TEAM_KEY = "team-key-0123456789abcdef"
INSTALL_KEY = "install-key-fedcba9876543210"
VOICE_UUID = "a0e99841-438c-4a64-b679-ae501e7d6091"


@pytest.fixture(autouse=True)
def _nothing_configured(settings: Any) -> None:
    """No install-wide key, whatever the environment running the tests holds; and the start
    limits, which count per address in the cache, cleared."""
    settings.LLM_PROVIDER_DEFAULTS = {}
    settings.SPEECH_PROVIDER_DEFAULTS = {}
    cache.clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a service must not connect anywhere, nor look a name up."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a network call while building a service: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def config(**sections: Any) -> AgentConfiguration:
    return AgentConfiguration.model_validate(sections)


def store(team: Team, kind: str, **credentials: str) -> Provider:
    credentials.setdefault("api_key", TEAM_KEY)
    return Provider.objects.create(team=team, kind=kind, credentials=credentials)


def stored_keys(team: Team) -> None:
    """The team has every key a cloud provider needs."""
    for kind in ("deepgram", "elevenlabs", "cartesia", "openai"):
        store(team, kind)
    store(team, "azure_speech", region="westeurope")


# Which key reaches which service.


def stt_key(service: Any) -> tuple[str, ...]:
    """The key (and region or address) a built STT service will present."""
    name = type(service).__name__
    if name == "DeepgramSTTService":
        return (service._client._client_wrapper.api_key,)
    if name == "OpenAISTTService":
        return (service._client.api_key, str(service._client.base_url))
    speech = service._speech_config
    return (speech.subscription_key, speech.region)


def tts_key(service: Any) -> tuple[str, ...]:
    name = type(service).__name__
    if name == "OpenAITTSService":
        return (service._client.api_key, str(service._client.base_url))
    if name == "AzureTTSService":
        return (service._api_key, service._region)
    return (service._api_key,)


@pytest.mark.parametrize(
    ("provider", "service", "key"),
    [
        ("deepgram", "DeepgramSTTService", (TEAM_KEY,)),
        ("openai", "OpenAISTTService", (TEAM_KEY, "https://api.openai.com/v1/")),
        ("azure", "AzureSTTService", (TEAM_KEY, "westeurope")),
    ],
)
def test_each_stt_provider_builds_its_service_with_the_teams_key(
    cast: Cast, no_network: None, provider: str, service: str, key: tuple[str, ...]
) -> None:
    stored_keys(cast.team)
    built = cloud_stt(team=cast.team, config=config(stt={"provider": provider}))
    assert type(built).__name__ == service
    assert stt_key(built) == key


@pytest.mark.parametrize(
    ("provider", "service", "key"),
    [
        ("elevenlabs", "ElevenLabsTTSService", (TEAM_KEY,)),
        ("azure", "AzureTTSService", (TEAM_KEY, "westeurope")),
        ("openai", "OpenAITTSService", (TEAM_KEY, "https://api.openai.com/v1/")),
        ("deepgram", "DeepgramTTSService", (TEAM_KEY,)),
        ("cartesia", "CartesiaTTSService", (TEAM_KEY,)),
    ],
)
def test_each_tts_provider_builds_its_service_with_the_teams_key(
    cast: Cast, no_network: None, provider: str, service: str, key: tuple[str, ...]
) -> None:
    stored_keys(cast.team)
    built = cloud_tts(team=cast.team, config=config(tts={"provider": provider}))
    assert type(built).__name__ == service
    assert tts_key(built) == key


def test_the_install_default_serves_a_team_without_its_own(cast: Cast, settings: Any) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {
        "deepgram": {"api_key": INSTALL_KEY},
        "azure_speech": {"api_key": INSTALL_KEY, "region": "eastus"},
    }
    agent = config(stt={"provider": "deepgram"}, tts={"provider": "azure"})
    cloud_speech_check(team=cast.team, config=agent)
    assert stt_key(cloud_stt(team=cast.team, config=agent)) == (INSTALL_KEY,)
    assert tts_key(cloud_tts(team=cast.team, config=agent)) == (INSTALL_KEY, "eastus")
    store(cast.team, "deepgram")  # the team's own wins
    assert stt_key(cloud_stt(team=cast.team, config=agent)) == (TEAM_KEY,)


def test_openai_speech_uses_the_openai_llm_providers_key_and_address(
    cast: Cast, settings: Any
) -> None:
    """The operator's address may be private: it is theirs (like an LLM's install default)."""
    settings.LLM_PROVIDER_DEFAULTS = {
        "openai": {"api_key": INSTALL_KEY, "base_url": "http://10.0.0.5:4000/v1"}
    }
    agent = config(stt={"provider": "openai"}, tts={"provider": "openai"})
    cloud_speech_check(team=cast.team, config=agent)
    assert stt_key(cloud_stt(team=cast.team, config=agent)) == (
        INSTALL_KEY,
        "http://10.0.0.5:4000/v1/",
    )
    Provider.objects.create(
        team=cast.team,
        kind="openai",
        base_url="https://8.8.4.4/v1",
        credentials={"api_key": TEAM_KEY},
    )
    cloud_speech_check(team=cast.team, config=agent)  # a public address: no lookup needed
    assert tts_key(cloud_tts(team=cast.team, config=agent)) == (TEAM_KEY, "https://8.8.4.4/v1/")


def test_a_teams_openai_address_is_held_to_the_outbound_rules(cast: Cast, settings: Any) -> None:
    """pipecat's client calls it from the voice worker, outside parley.outbound."""
    Provider.objects.create(
        team=cast.team,
        kind="openai",
        base_url="http://10.0.0.5:4000/v1",
        credentials={"api_key": TEAM_KEY},
    )
    agent = config(tts={"provider": "openai"})
    with pytest.raises(SpeechSettingsInvalid) as caught:
        cloud_speech_check(team=cast.team, config=agent)
    assert caught.value.status == 409
    assert caught.value.message == (
        'Text-to-speech (tts.provider "openai") would call the OpenAI base URL stored under '
        "Providers, http://10.0.0.5:4000/v1, but 10.0.0.5 is a private address; ask your "
        "operator to allow it (OUTBOUND_ALLOWED_NETWORKS)."
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    cloud_speech_check(team=cast.team, config=agent)


def test_another_teams_key_is_never_used(cast: Cast) -> None:
    store(cast.other_team, "deepgram")
    with pytest.raises(ProviderMissing):
        cloud_stt(team=cast.team, config=config(stt={"provider": "deepgram"}))


# The agent's settings, mapped.


def test_the_stt_model_and_language_reach_the_service(cast: Cast) -> None:
    stored_keys(cast.team)
    deepgram = cloud_stt(
        team=cast.team,
        config=config(stt={"provider": "deepgram", "model": "nova-2-phonecall", "language": "es"}),
    )
    assert (deepgram._settings.model, deepgram._settings.language) == ("nova-2-phonecall", "es")
    openai = cloud_stt(
        team=cast.team,
        config=config(stt={"provider": "openai", "model": "whisper-1", "language": "de_DE"}),
    )
    assert (openai._settings.model, openai._settings.language) == ("whisper-1", "de")
    azure = cloud_stt(
        team=cast.team,
        config=config(stt={"provider": "azure", "model": VOICE_UUID, "language": "fr"}),
    )
    assert azure._speech_config.speech_recognition_language == "fr-FR"
    assert azure._speech_config.endpoint_id == VOICE_UUID  # a Custom Speech model


@pytest.mark.parametrize("model", ["", "tiny.en", "small", "large-v3"])
def test_an_empty_or_whisper_model_is_the_providers_usual_one(cast: Cast, model: str) -> None:
    """stt.model's default is Whisper's "tiny.en", left behind when the provider changes."""
    store(cast.team, "deepgram")
    store(cast.team, "openai")
    agent = config(stt={"provider": "deepgram", "model": model})
    assert cloud_stt(team=cast.team, config=agent)._settings.model == "nova-3-general"
    agent = config(stt={"provider": "openai", "model": model})
    assert cloud_stt(team=cast.team, config=agent)._settings.model == "gpt-transcribe"


def test_azure_stt_refuses_a_model_it_cannot_have(cast: Cast) -> None:
    store(cast.team, "azure_speech", region="westeurope")
    with pytest.raises(SpeechSettingsInvalid) as caught:
        cloud_speech_check(team=cast.team, config=config(stt={"provider": "azure", "model": "x"}))
    assert caught.value.message == (
        "stt.model is 'x', but Azure's speech-to-text has no models to pick: leave stt.model "
        "empty, or give the endpoint id of a Custom Speech model."
    )


def settings_of(service: Any) -> dict[str, Any]:
    return {f.name: getattr(service._settings, f.name) for f in fields(service._settings)}


def test_elevenlabs_takes_the_voice_model_language_and_its_settings(cast: Cast) -> None:
    store(cast.team, "elevenlabs")
    tts = {
        "provider": "elevenlabs",
        "voice_id": "pNInz6obpgDQGcFmaJgB",
        "params": {"model": "eleven_turbo_v2_5", "stability": 0.3, "speed": 1, "style": 0},
    }
    built = cloud_tts(team=cast.team, config=config(tts=tts, stt={"language": "de"}))
    given = {name: settings_of(built)[name] for name in ("voice", "model", "language")}
    assert given == {
        "voice": "pNInz6obpgDQGcFmaJgB",
        "model": "eleven_turbo_v2_5",
        "language": "de",  # the agent's language, stt.language
    }
    assert (built._settings.stability, built._settings.speed, built._settings.style) == (
        0.3,
        1.0,
        0.0,
    )
    assert isinstance(built._settings.speed, float)


def test_azure_voices_get_a_locale_and_their_ssml_settings(cast: Cast) -> None:
    store(cast.team, "azure_speech", region="westeurope")
    tts = {
        "provider": "azure",
        "voice_id": "de-DE-KatjaNeural",
        "params": {"rate": 1.2, "style": "cheerful", "language": "de"},
    }
    built = cloud_tts(team=cast.team, config=config(tts=tts))
    assert built._settings.voice == "de-DE-KatjaNeural"
    assert built._settings.language == "de-DE"  # Azure wants a locale
    assert (built._settings.rate, built._settings.style) == ("1.2", "cheerful")


def test_openai_voices_take_a_model_and_instructions_at_24_khz(cast: Cast) -> None:
    store(cast.team, "openai")
    tts = {"provider": "openai", "voice_id": "nova", "params": {"model": "tts-1", "speed": 1.2}}
    built = cloud_tts(team=cast.team, config=config(tts=tts))
    assert (built._settings.voice, built._settings.model, built._settings.speed) == (
        "nova",
        "tts-1",
        1.2,
    )
    assert built._init_sample_rate == 24000


def test_deepgram_and_cartesia_voices(cast: Cast) -> None:
    store(cast.team, "deepgram")
    store(cast.team, "cartesia")
    deepgram = cloud_tts(
        team=cast.team,
        config=config(tts={"provider": "deepgram", "voice_id": "aura-2-thalia-en"}),
    )
    assert deepgram._settings.voice == "aura-2-thalia-en"
    tts = {
        "provider": "cartesia",
        "voice_id": VOICE_UUID,
        "params": {"speed": 1.1, "emotion": "content"},
    }
    cartesia = cloud_tts(team=cast.team, config=config(tts=tts, stt={"language": "fr"}))
    assert (cartesia._settings.voice, cartesia._settings.language) == (VOICE_UUID, "fr")
    generation = cartesia._settings.generation_config
    assert (generation.speed, generation.emotion, generation.volume) == (1.1, "content", None)


@pytest.mark.parametrize("voice_id", ["", "en_US-joe-medium"])
def test_an_empty_or_piper_voice_is_the_providers_usual_one(cast: Cast, voice_id: str) -> None:
    stored_keys(cast.team)
    usual = {
        "elevenlabs": cloud.ELEVENLABS_VOICE,
        "azure": cloud.AZURE_VOICE,
        "openai": "alloy",
        "deepgram": "aura-2-helena-en",
        "cartesia": cloud.CARTESIA_VOICE,
    }
    for provider, voice in usual.items():
        agent = config(tts={"provider": provider, "voice_id": voice_id})
        assert cloud_tts(team=cast.team, config=agent)._settings.voice == voice, provider


@pytest.mark.parametrize("language", ["EN", "en-us", "en_US"])
def test_a_language_is_matched_whatever_its_case(cast: Cast, language: str) -> None:
    store(cast.team, "azure_speech", region="westeurope")
    agent = config(stt={"provider": "azure", "language": language})
    assert cloud_stt(team=cast.team, config=agent)._speech_config.speech_recognition_language == (
        "en-US"
    )


def test_an_unknown_tts_param_is_refused_naming_what_the_provider_takes(cast: Cast) -> None:
    store(cast.team, "elevenlabs")
    agent = config(tts={"provider": "elevenlabs", "params": {"stabilty": 0.5}})
    with pytest.raises(SpeechSettingsInvalid) as caught:
        cloud_speech_check(team=cast.team, config=agent)
    assert caught.value.message == (
        "tts.params has stabilty, which tts.provider 'elevenlabs' does not take. It takes: "
        "apply_text_normalization, language, model, similarity_boost, speed, stability, style, "
        "use_speaker_boost."
    )
    assert (caught.value.status, caught.value.code) == (409, "speech_settings_invalid")


def test_a_tts_param_of_the_wrong_type_is_refused(cast: Cast) -> None:
    store(cast.team, "deepgram")
    agent = config(tts={"provider": "deepgram", "params": {"speed": "fast"}})
    with pytest.raises(SpeechSettingsInvalid, match=r"tts.params.speed must be a number"):
        cloud_speech_check(team=cast.team, config=agent)


def test_the_params_named_are_the_pipecat_services_settings() -> None:
    """TTS_PARAMS is written out so that the web processes need no pipecat to check an agent;
    this holds it to the services it feeds."""
    from pipecat.services.azure.tts import AzureTTSService
    from pipecat.services.cartesia.tts import CartesiaTTSService, GenerationConfig
    from pipecat.services.deepgram.tts import DeepgramTTSService
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
    from pipecat.services.openai.tts import OpenAITTSService

    services = {
        "elevenlabs": ElevenLabsTTSService,
        "azure": AzureTTSService,
        "openai": OpenAITTSService,
        "deepgram": DeepgramTTSService,
        "cartesia": CartesiaTTSService,
    }
    generation = set(GenerationConfig.model_fields)
    for provider, service in services.items():
        names = {f.name for f in fields(service.Settings)} | generation
        assert set(cloud.TTS_PARAMS[provider]) <= names - {"voice", "extra"}, provider
    assert set(cloud.CARTESIA_GENERATION) == generation


# Missing keys.


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        (
            {"stt": {"provider": "deepgram"}},
            'Speech-to-text (stt.provider "deepgram") needs a Deepgram API key: an owner or '
            "admin can add one under Providers (/providers/), or the operator can set "
            "DEEPGRAM_API_KEY.",
        ),
        (
            {"tts": {"provider": "elevenlabs"}},
            'Text-to-speech (tts.provider "elevenlabs") needs an ElevenLabs API key: an owner '
            "or admin can add one under Providers (/providers/), or the operator can set "
            "ELEVENLABS_API_KEY.",
        ),
        (
            {"tts": {"provider": "azure"}},
            'Text-to-speech (tts.provider "azure") needs an Azure Speech key and its region: an '
            "owner or admin can add them under Providers (/providers/), or the operator can set "
            "AZURE_SPEECH_KEY and AZURE_SPEECH_REGION.",
        ),
        (
            {"stt": {"provider": "openai"}},
            'Speech-to-text (stt.provider "openai") needs an OpenAI API key (the one OpenAI\'s '
            "LLM uses): an owner or admin can add one under Providers (/providers/), or the "
            "operator can set OPENAI_API_KEY.",
        ),
        (
            {"tts": {"provider": "cartesia"}},
            'Text-to-speech (tts.provider "cartesia") needs a Cartesia API key: an owner or '
            "admin can add one under Providers (/providers/), or the operator can set "
            "CARTESIA_API_KEY.",
        ),
        (
            {"tts": {"provider": "deepgram"}},
            'Text-to-speech (tts.provider "deepgram") needs a Deepgram API key: an owner or '
            "admin can add one under Providers (/providers/), or the operator can set "
            "DEEPGRAM_API_KEY.",
        ),
    ],
)
def test_a_missing_key_is_a_conflict_saying_where_to_add_it(
    cast: Cast, agent: dict[str, Any], message: str
) -> None:
    with pytest.raises(Conflict) as caught:
        cloud_speech_check(team=cast.team, config=config(**agent))
    assert caught.value.message == message
    assert (caught.value.status, caught.value.code) == (409, "provider_not_configured")
    part = next(iter(agent))
    assert caught.value.details["setting"] == f"{part}.provider"
    assert caught.value.details["page"] == "/providers/"
    with pytest.raises(Conflict, match="needs"):  # building the service says the same
        (cloud_stt if part == "stt" else cloud_tts)(team=cast.team, config=config(**agent))


def test_an_azure_key_without_its_region_does_not_serve(cast: Cast, settings: Any) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {"azure_speech": {"api_key": INSTALL_KEY}}
    with pytest.raises(ProviderMissing, match="AZURE_SPEECH_REGION"):
        cloud_speech_check(team=cast.team, config=config(stt={"provider": "azure"}))


def test_offline_providers_need_no_key(cast: Cast) -> None:
    cloud_speech_check(team=cast.team, config=config())  # whisper and piper
    cloud_speech_check(
        team=cast.team, config=config(tts={"provider": "piper", "params": {"length_scale": 1}})
    )


# The caller's side: starting a call.


def start_call(agent_id: Any) -> Any:
    return Client().post(
        "/v1/start-agent-session",
        {"agentId": str(agent_id), "mode": "voice"},
        content_type="application/json",
    )


def test_a_call_with_a_keyless_cloud_provider_is_refused_at_start(cast: Cast) -> None:
    """A live worker with room: only the key is missing."""
    VoiceWorker.objects.create(name="w", url="http://127.0.0.1:9", capacity=2)
    agent = AgentFactory(
        team=cast.team,
        publish_status="public",
        configuration=config(stt={"provider": "deepgram"}).as_document(),
    )
    refused = start_call(agent.id)
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "provider_not_configured"
    assert body["error"].startswith(
        'Speech-to-text (stt.provider "deepgram") needs a Deepgram API key'
    )
    assert "DEEPGRAM_API_KEY" in body["error"]
    assert not Session.objects.exists()

    store(cast.team, "deepgram")
    started = start_call(agent.id)
    assert started.status_code == 200, started.content
    assert started.json()["transport"] == "webrtc"


def test_a_keyless_provider_is_named_before_a_missing_worker(cast: Cast) -> None:
    """The key is the team's to fix, the worker the operator's: the team hears of its part."""
    VoiceWorker.objects.create(
        name="gone",
        url="http://127.0.0.1:9",
        capacity=2,
        last_seen_at=timezone.now() - timedelta(hours=1),
    )
    agent = AgentFactory(
        team=cast.team,
        publish_status="public",
        configuration=config(tts={"provider": "elevenlabs"}).as_document(),
    )
    assert start_call(agent.id).status_code == 409


# In the voice worker, which builds a call's services inside its event loop.


@pytest.mark.django_db(transaction=True)
def test_services_build_inside_an_event_loop(cast: Cast) -> None:
    stored_keys(cast.team)
    agent = config(stt={"provider": "deepgram"}, tts={"provider": "azure"})

    async def build() -> tuple[Any, Any]:
        return cloud_stt(team=cast.team, config=agent), cloud_tts(team=cast.team, config=agent)

    stt, tts = asyncio.run(build())
    assert stt_key(stt) == (TEAM_KEY,)
    assert tts_key(tts) == (TEAM_KEY, "westeurope")
