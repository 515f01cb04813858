"""The facts about each kind, and the settings that read the install-wide defaults."""

import runpy
from pathlib import Path
from typing import Any, get_args

import pytest
from django.conf import settings
from environs import EnvValidationError

from agents.configuration import LLMProvider
from providers.catalog import (
    CATALOG,
    LLM_KINDS,
    SPEECH_KINDS,
    api_key_hint,
    llm_kind,
    provider_kind,
)

BASE_SETTINGS = Path(settings.BASE_DIR) / "config" / "settings" / "base.py"


def read_settings(monkeypatch: pytest.MonkeyPatch, **environment: str) -> dict[str, Any]:
    """config/settings/base.py run afresh with exactly these provider variables set."""
    for facts in CATALOG.values():
        for name in facts.env_names:
            monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(BASE_SETTINGS))


def test_every_llm_provider_an_agent_can_name_has_an_entry_except_custom() -> None:
    assert set(LLM_KINDS) == set(get_args(LLMProvider)) - {"custom"}
    assert list(CATALOG) == list(LLM_KINDS) + list(SPEECH_KINDS)


def test_speech_kinds_need_a_key_and_no_address() -> None:
    assert list(SPEECH_KINDS) == ["deepgram", "elevenlabs", "azure_speech", "cartesia"]
    for facts in SPEECH_KINDS.values():
        assert facts.speech
        assert facts.needs_api_key
        assert (facts.default_base_url, facts.base_url_env) == (None, None)
    assert provider_kind("azure_speech").env_names == ("AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION")
    assert [kind for kind, facts in CATALOG.items() if facts.needs_region] == ["azure_speech"]


def test_a_speech_kind_is_no_llm_kind() -> None:
    assert llm_kind("groq").label == "Groq"
    with pytest.raises(LookupError, match="speech provider, not an LLM provider"):
        llm_kind("deepgram")


def test_cloud_kinds_need_a_key_and_self_hosted_ones_an_address() -> None:
    for kind in ("openai", "google", "groq", "openrouter", "together"):
        assert provider_kind(kind).needs_api_key
        assert provider_kind(kind).default_base_url.startswith("https://")
    for kind in ("ollama", "vllm", "llamacpp"):
        assert not provider_kind(kind).needs_api_key
    assert provider_kind("vllm").default_base_url is None
    assert provider_kind("llamacpp").default_base_url is None
    assert provider_kind("google").default_base_url == (
        "https://generativelanguage.googleapis.com/v1beta/openai"
    )


def test_an_unknown_kind_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="custom"):
        provider_kind("custom")


def test_settings_read_every_variable_the_catalog_names(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {}
    for facts in CATALOG.values():
        if facts.api_key_env:
            environment[facts.api_key_env] = f"key-for-{facts.kind}"
        if facts.base_url_env:
            environment[facts.base_url_env] = f"http://{facts.kind}.internal:8000/v1/"
        if facts.region_env:
            environment[facts.region_env] = " WestEurope "
    read = read_settings(monkeypatch, **environment)
    defaults = read["LLM_PROVIDER_DEFAULTS"]
    for kind, facts in LLM_KINDS.items():
        expected = {}
        if facts.api_key_env:
            expected["api_key"] = f"key-for-{kind}"
        if facts.base_url_env:
            expected["base_url"] = f"http://{kind}.internal:8000/v1"  # the slash dropped
        assert defaults[kind] == expected
    assert read["SPEECH_PROVIDER_DEFAULTS"] == {
        "deepgram": {"api_key": "key-for-deepgram"},
        "elevenlabs": {"api_key": "key-for-elevenlabs"},
        "azure_speech": {"api_key": "key-for-azure_speech", "region": "westeurope"},
        "cartesia": {"api_key": "key-for-cartesia"},
    }


def test_settings_hold_only_the_kinds_with_something_set(monkeypatch: pytest.MonkeyPatch) -> None:
    read = read_settings(
        monkeypatch, GROQ_API_KEY=" gsk_abc ", OPENAI_API_KEY="", DEEPGRAM_API_KEY=" dg-key "
    )
    assert read["LLM_PROVIDER_DEFAULTS"] == {
        "groq": {"api_key": "gsk_abc"},
        # Parley runs the local model itself, so it always has an address.
        "local": {"base_url": "http://127.0.0.1:8003/v1"},
    }
    assert read["SPEECH_PROVIDER_DEFAULTS"] == {"deepgram": {"api_key": "dg-key"}}


def test_a_base_url_that_is_not_http_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EnvValidationError, match="OLLAMA_BASE_URL"):
        read_settings(monkeypatch, OLLAMA_BASE_URL="ftp://ollama/v1")


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("sk-proj-abcdefghijklmnopqrstuvwxyz0123", "sk-…0123"),
        ("short-key", "••••••"),
        ("", ""),
    ],
)
def test_a_key_is_shown_only_as_a_hint(key: str, shown: str) -> None:
    assert api_key_hint(key) == shown
