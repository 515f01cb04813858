"""An agent's configuration as Agora's join `properties`."""

from typing import Any

import pytest

from agents.configuration import AgentConfiguration
from agora.properties import Channel, UnsupportedOnAgora, asr_language, join_properties
from providers.models import Provider
from providers.selectors import ProviderMissing
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

CHANNEL = Channel("parley-x", "1000", "1001", "007token")


def properties(cast: Cast, **config: Any) -> dict[str, Any]:
    return join_properties(
        team=cast.team,
        config=AgentConfiguration.model_validate(config),
        channel=CHANNEL,
        llm_url="https://parley.example.com/v1/agents/a/chat/completions",
        llm_key="sl_secret",
        model="parley-agent-a",
    )


def key(cast: Cast, kind: str, **credentials: str) -> None:
    Provider.objects.create(team=cast.team, kind=kind, credentials=credentials)


def test_the_llm_is_parleys_endpoint_with_the_agents_messages(cast: Cast) -> None:
    key(cast, "elevenlabs", api_key="el-key")
    found = properties(
        cast,
        llm={
            "first_message": "Hi!",
            "failure_message": "Oops.",
            "max_history": 7,
            "input_modalities": ["text", "image"],
        },
        tts={"provider": "elevenlabs", "voice_id": "v1", "params": {"stability": 0.4}},
    )
    assert found["llm"] == {
        "url": "https://parley.example.com/v1/agents/a/chat/completions",
        "api_key": "sl_secret",
        "system_messages": [],
        "params": {"model": "parley-agent-a"},
        "max_history": 7,
        "greeting_message": "Hi!",
        "failure_message": "Oops.",
        "input_modalities": ["text", "image"],
        "style": "openai",
    }
    assert found["channel"] == "parley-x"
    assert found["agent_rtc_uid"] == "1000"
    assert found["remote_rtc_uids"] == ["1001"]
    assert found["token"] == "007token"
    assert found["tts"] == {
        "vendor": "elevenlabs",
        "params": {
            "key": "el-key",
            "voice_id": "v1",
            "model_id": "eleven_flash_v2_5",
            "sample_rate": 24000,
            "stability": 0.4,
        },
    }


def test_turn_detection_vad_idle_timeout_and_language(cast: Cast) -> None:
    key(cast, "elevenlabs", api_key="el-key")
    found = properties(
        cast,
        tts={"provider": "elevenlabs"},
        stt={"language": "de"},
        turn_detection={"threshold": 0.7, "interrupt_mode": "ignore"},
        idle_timeout_seconds=15,
    )
    assert found["turn_detection"] == {
        "type": "agora_vad",
        "interrupt_mode": "ignore",
        "interrupt_duration_ms": 160,
        "prefix_padding_ms": 800,
        "silence_duration_ms": 480,
        "threshold": 0.7,
    }
    assert found["vad"]["threshold"] == 0.7
    assert found["asr"] == {"language": "de-DE"}
    assert found["idle_timeout"] == 15
    assert found["advanced_features"] == {"enable_aivad": False, "enable_rtm": False}


@pytest.mark.parametrize("eagerness", ["auto", "low", "high"])
def test_turns_that_end_by_meaning_use_agoras_semantic_vad(cast: Cast, eagerness: str) -> None:
    key(cast, "elevenlabs", api_key="el-key")
    turn = {"mode": "semantic", "eagerness": eagerness, "silence_duration_ms": 1200}
    found = properties(cast, tts={"provider": "elevenlabs"}, turn_detection=turn)
    assert found["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": eagerness,
        "interrupt_mode": "interrupt",
        "interrupt_duration_ms": 160,
        "prefix_padding_ms": 800,
        "silence_duration_ms": 1200,
        "threshold": 0.5,
    }
    assert found["vad"]["silence_duration_ms"] == 1200  # older engines: silence alone


def test_turns_that_end_by_silence_send_no_eagerness(cast: Cast) -> None:
    key(cast, "elevenlabs", api_key="el-key")
    turn = {"mode": "silence", "eagerness": "high"}
    found = properties(cast, tts={"provider": "elevenlabs"}, turn_detection=turn)
    assert found["turn_detection"]["type"] == "agora_vad"
    assert "eagerness" not in found["turn_detection"]


def test_an_empty_channel_is_left_within_thirty_seconds(cast: Cast) -> None:
    key(cast, "elevenlabs", api_key="el-key")
    assert properties(cast, tts={"provider": "elevenlabs"})["idle_timeout"] == 30


def test_azure_voice_and_deepgram_recognizer_use_the_teams_keys(cast: Cast) -> None:
    key(cast, "azure_speech", api_key="az-key", region="westeurope")
    key(cast, "deepgram", api_key="dg-key")
    found = properties(
        cast,
        tts={"provider": "azure", "voice_id": "en-GB-SoniaNeural"},
        stt={"provider": "deepgram", "model": "nova-3", "language": "en-GB"},
    )
    assert found["tts"]["vendor"] == "microsoft"
    assert found["tts"]["params"]["key"] == "az-key"
    assert found["tts"]["params"]["region"] == "westeurope"
    assert found["tts"]["params"]["voice_name"] == "en-GB-SoniaNeural"
    assert found["asr"] == {
        "language": "en-GB",
        "vendor": "deepgram",
        "params": {"key": "dg-key", "model": "nova-3", "language": "en-GB"},
    }


def test_openai_and_cartesia_voices(cast: Cast) -> None:
    key(cast, "openai", api_key="sk-openai")
    key(cast, "cartesia", api_key="ca-key")
    openai = properties(cast, tts={"provider": "openai", "voice_id": "coral"})["tts"]
    assert openai == {
        "vendor": "openai",
        "params": {"api_key": "sk-openai", "model": "gpt-4o-mini-tts", "voice": "coral"},
    }
    cartesia = properties(cast, tts={"provider": "cartesia", "voice_id": "c-1"})["tts"]
    assert cartesia["vendor"] == "cartesia"
    assert cartesia["params"]["voice"] == {"mode": "id", "id": "c-1"}


def test_a_voice_agora_cannot_use_is_a_conflict_naming_the_choices(cast: Cast) -> None:
    with pytest.raises(UnsupportedOnAgora, match="elevenlabs") as caught:
        properties(cast, tts={"provider": "piper"})
    assert caught.value.status == 409


def test_a_voice_without_a_key_says_so(cast: Cast, settings: Any) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {}
    with pytest.raises(ProviderMissing):
        properties(cast, tts={"provider": "elevenlabs"})


@pytest.mark.parametrize(
    ("given", "sent"), [("en", "en-US"), ("ja", "ja-JP"), ("en_GB", "en-GB"), ("fil", "fil")]
)
def test_asr_language(given: str, sent: str) -> None:
    assert asr_language(given) == sent
