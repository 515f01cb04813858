"""How the engine (and a call's speech services) find an agent's provider: the team's own
credentials, else the install-wide default, else an error that says what to do."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from parley.errors import Conflict
from providers.models import Provider
from providers.selectors import (
    ProviderMissing,
    ResolvedProvider,
    SpeechKey,
    aprovider_resolve,
    llm_default,
    llm_problems,
    provider_problem,
    provider_resolve,
    providers_overview,
    speech_key_resolve,
)
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

TEAM_KEY = "sk-team-0123456789abcdefghij"
INSTALL_KEY = "sk-install-9876543210zyxwvu"


def stored(cast: Cast, kind: str = "openai", **fields: Any) -> Provider:
    fields.setdefault("credentials", {"api_key": TEAM_KEY})
    return Provider.objects.create(team=cast.team, kind=kind, **fields)


# Resolution order.


def test_the_teams_own_credentials_win_over_the_install_default(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"api_key": INSTALL_KEY}}
    stored(cast)
    resolved = provider_resolve(team=cast.team, kind="openai")
    assert resolved == ResolvedProvider(
        kind="openai",
        label="OpenAI",
        base_url="https://api.openai.com/v1",
        api_key=TEAM_KEY,
        source="team",
        trusted=False,
    )


def test_the_install_default_serves_a_team_without_its_own(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {
        "openai": {"api_key": INSTALL_KEY, "base_url": "http://10.0.0.5:4000/v1"}
    }
    stored(cast, kind="groq")  # another kind does not count
    resolved = provider_resolve(team=cast.team, kind="openai")
    assert resolved.api_key == INSTALL_KEY
    assert resolved.base_url == "http://10.0.0.5:4000/v1"
    assert resolved.source == "install"
    assert resolved.trusted  # the operator's own address, private or not


def test_another_teams_credentials_are_never_used(cast: Cast) -> None:
    Provider.objects.create(team=cast.other_team, kind="openai", credentials={"api_key": TEAM_KEY})
    with pytest.raises(ProviderMissing):
        provider_resolve(team=cast.team, kind="openai")


def test_the_teams_row_never_borrows_the_operators_address(cast: Cast, settings: Any) -> None:
    """A team's key goes to the team's address (or the usual one), never the operator's proxy."""
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"base_url": "http://proxy.internal/v1"}}
    stored(cast)
    assert provider_resolve(team=cast.team, kind="openai").base_url == "https://api.openai.com/v1"


def test_a_teams_own_base_url_is_used_and_untrusted(cast: Cast) -> None:
    stored(cast, kind="vllm", base_url="http://gpu.internal:8000/v1", credentials={})
    resolved = provider_resolve(team=cast.team, kind="vllm")
    assert resolved.base_url == "http://gpu.internal:8000/v1"
    assert resolved.api_key is None
    assert not resolved.trusted  # the outbound guard checks it like any typed URL


def test_a_self_hosted_install_default_needs_no_key(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"ollama": {"base_url": "http://localhost:11434/v1"}}
    resolved = provider_resolve(team=cast.team, kind="ollama")
    assert (resolved.base_url, resolved.api_key, resolved.trusted) == (
        "http://localhost:11434/v1",
        None,
        True,
    )


def test_the_async_form_resolves_the_same(cast: Cast, settings: Any) -> None:
    stored(cast)
    resolved = async_to_sync(aprovider_resolve)(team=cast.team, kind="openai")
    assert resolved == provider_resolve(team=cast.team, kind="openai")


def test_the_key_stays_out_of_the_printed_form(cast: Cast) -> None:
    stored(cast)
    resolved = provider_resolve(team=cast.team, kind="openai")
    assert TEAM_KEY not in repr(resolved)
    assert "api.openai.com" in repr(resolved)


# When nothing serves.


def test_no_credentials_anywhere_says_where_to_add_them(cast: Cast) -> None:
    with pytest.raises(ProviderMissing) as caught:
        provider_resolve(team=cast.team, kind="openai")
    error = caught.value
    assert error.message == (
        "No OpenAI credentials: an owner or admin can add an API key on the Providers page "
        "(/providers/), or the operator can set OPENAI_API_KEY."
    )
    assert (error.status, error.code) == (409, "provider_not_configured")
    assert error.details == {"provider": "openai", "page": "/providers/", "env": "OPENAI_API_KEY"}


def test_a_cloud_default_with_an_address_but_no_key_does_not_serve(
    cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"base_url": "http://proxy.internal/v1"}}
    with pytest.raises(ProviderMissing, match="OPENAI_API_KEY"):
        provider_resolve(team=cast.team, kind="openai")


def test_a_self_hosted_kind_without_an_address_names_its_variable(cast: Cast) -> None:
    with pytest.raises(ProviderMissing) as caught:
        provider_resolve(team=cast.team, kind="vllm")
    assert caught.value.message == (
        "No vLLM server: an owner or admin can add its base URL on the Providers page "
        "(/providers/), or the operator can set VLLM_BASE_URL."
    )


def test_a_stored_row_without_a_key_says_what_it_lacks(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"groq": {"api_key": INSTALL_KEY}}
    stored(cast, kind="groq", credentials={})  # not something the services save
    with pytest.raises(ProviderMissing, match="Groq on the Providers page is missing an API key"):
        provider_resolve(team=cast.team, kind="groq")


def test_custom_is_not_a_provider_kind(cast: Cast) -> None:
    with pytest.raises(LookupError):
        provider_resolve(team=cast.team, kind="custom")


def test_provider_problem_is_the_message_or_none(cast: Cast) -> None:
    assert "Providers page" in (provider_problem(team=cast.team, kind="groq") or "")
    stored(cast, kind="groq")
    assert provider_problem(team=cast.team, kind="groq") is None


# What pages show about many agents or every kind at once.


def test_llm_problems_names_the_kinds_not_ready_from_one_query(
    cast: Cast, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": "http://127.0.0.1:8003/v1"}}
    stored(cast, kind="groq")
    with django_assert_num_queries(1):  # the team's providers
        problems = llm_problems(team=cast.team)
    assert "groq" not in problems
    assert "local" not in problems
    not_ready = {"openai", "google", "openrouter", "together", "ollama", "vllm", "llamacpp"}
    assert set(problems) == not_ready
    openai = problems["openai"]
    assert openai.need == "needs an API key"
    assert openai.fix_url == "/providers/"
    # The page links to the Providers page itself: its address is not spelled out in the words.
    assert openai.message == (
        "No OpenAI credentials: an owner or admin can add an API key on the Providers page, "
        "or the operator can set OPENAI_API_KEY."
    )
    assert problems["vllm"].need == "needs a server address"


def test_llm_problems_says_when_the_local_model_is_not_set_up(cast: Cast) -> None:
    local = llm_problems(team=cast.team)["local"]
    assert local.need == "not set up on this server"
    # No team can fix it on the Providers page: only the operator.
    assert local.message == (
        "Local model (on this server) is not set up: the operator can set LOCAL_LLM_URL."
    )


def test_the_api_error_still_spells_out_the_providers_page(cast: Cast) -> None:
    with pytest.raises(ProviderMissing, match=r"on the Providers page \(/providers/\)"):
        provider_resolve(team=cast.team, kind="openai")


# The LLM a new agent gets when nobody names one.


def test_with_no_openai_key_new_agents_get_the_local_model(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {
        "local": {"base_url": "http://127.0.0.1:8003/v1"},
        "groq": {"api_key": INSTALL_KEY},  # another cloud key is no reason to pick OpenAI
    }
    assert llm_default(team=cast.team) == ("local", "local")


def test_the_operators_openai_key_makes_openai_the_default(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"api_key": INSTALL_KEY}}
    assert llm_default(team=cast.team) == ("openai", "gpt-4o-mini")


def test_the_teams_own_openai_key_makes_openai_the_default(cast: Cast) -> None:
    stored(cast)
    assert llm_default(team=cast.team) == ("openai", "gpt-4o-mini")
    assert llm_default(team=cast.other_team) == ("local", "local")


# The overview the page shows.


def test_the_overview_lists_every_kind_with_where_it_comes_from(
    cast: Cast, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"groq": {"api_key": INSTALL_KEY}, "openai": {"api_key": "k"}}
    stored(cast)
    with django_assert_num_queries(1):  # the team's providers
        overview = {status.kind: status for status in providers_overview(team=cast.team)}
    assert list(overview) == [
        "openai",
        "google",
        "groq",
        "openrouter",
        "together",
        "ollama",
        "vllm",
        "llamacpp",
        "local",
        "deepgram",
        "elevenlabs",
        "azure_speech",
        "cartesia",
    ]
    assert overview["openai"].status == "team"
    assert overview["openai"].has_install_default
    assert overview["openai"].api_key_hint == "sk-…ghij"
    assert overview["groq"].status == "install"
    assert overview["groq"].api_key_hint == ""  # the operator's key is not hinted at
    assert overview["google"].status == "missing"
    assert overview["vllm"].base_url == ""


# Speech providers' keys, for voice calls.

DEEPGRAM_KEY = "dg-team-0123456789abcdefghij"


def test_a_speech_key_is_the_teams_own_else_the_install_default(cast: Cast, settings: Any) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {"deepgram": {"api_key": "dg-operator-key"}}
    install = speech_key_resolve(team=cast.team, kind="deepgram")
    assert (install.api_key, install.region, install.source) == ("dg-operator-key", "", "install")
    stored(cast, kind="deepgram", credentials={"api_key": DEEPGRAM_KEY})
    team = speech_key_resolve(team=cast.team, kind="deepgram")
    assert team == SpeechKey("deepgram", "Deepgram", DEEPGRAM_KEY, "", "team")
    assert DEEPGRAM_KEY not in repr(team)


def test_azure_speech_needs_a_key_and_a_region_from_one_place(cast: Cast, settings: Any) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {"azure_speech": {"api_key": "az-operator-key"}}
    with pytest.raises(ProviderMissing) as caught:  # a key without its region does not serve
        speech_key_resolve(team=cast.team, kind="azure_speech")
    assert caught.value.message == (
        "No Azure Speech credentials: an owner or admin can add a key and its region on the "
        "Providers page (/providers/), or the operator can set AZURE_SPEECH_KEY and "
        "AZURE_SPEECH_REGION."
    )
    assert caught.value.details == {
        "provider": "azure_speech",
        "page": "/providers/",
        "env": "AZURE_SPEECH_KEY",
        "region_env": "AZURE_SPEECH_REGION",
    }
    settings.SPEECH_PROVIDER_DEFAULTS["azure_speech"]["region"] = "eastus"
    assert speech_key_resolve(team=cast.team, kind="azure_speech").region == "eastus"
    stored(cast, kind="azure_speech", credentials={"api_key": "az-team", "region": "westeurope"})
    resolved = speech_key_resolve(team=cast.team, kind="azure_speech")
    assert (resolved.api_key, resolved.region) == ("az-team", "westeurope")


def test_no_speech_key_anywhere_says_where_to_add_one(cast: Cast) -> None:
    stored(cast, kind="elevenlabs", credentials={"api_key": "el-key"})  # another kind
    with pytest.raises(ProviderMissing) as caught:
        speech_key_resolve(team=cast.team, kind="deepgram")
    error = caught.value
    assert isinstance(error, Conflict)
    assert (error.status, error.code) == (409, "provider_not_configured")
    assert error.message == (
        "No Deepgram credentials: an owner or admin can add an API key on the Providers page "
        "(/providers/), or the operator can set DEEPGRAM_API_KEY."
    )


def test_another_teams_speech_key_is_never_used(cast: Cast) -> None:
    Provider.objects.create(team=cast.other_team, kind="deepgram", credentials={"api_key": "k"})
    with pytest.raises(ProviderMissing):
        speech_key_resolve(team=cast.team, kind="deepgram")


def test_speech_and_llm_kinds_do_not_resolve_as_each_other(cast: Cast, settings: Any) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {"deepgram": {"api_key": "dg-operator-key"}}
    stored(cast, kind="deepgram", credentials={"api_key": DEEPGRAM_KEY})
    with pytest.raises(LookupError, match="not an LLM provider"):
        provider_resolve(team=cast.team, kind="deepgram")
    with pytest.raises(LookupError, match="not an LLM provider"):
        async_to_sync(aprovider_resolve)(team=cast.team, kind="deepgram")
    with pytest.raises(LookupError, match="not a speech provider"):
        speech_key_resolve(team=cast.team, kind="openai")


def test_the_overview_shows_speech_kinds_with_regions_but_no_keys(
    cast: Cast, settings: Any
) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {
        "azure_speech": {"api_key": "az-operator-key", "region": "eastus"},
        "cartesia": {"api_key": "ca-operator-key"},
    }
    stored(cast, kind="deepgram", credentials={"api_key": DEEPGRAM_KEY})
    overview = {status.kind: status for status in providers_overview(team=cast.team)}
    deepgram, azure = overview["deepgram"], overview["azure_speech"]
    assert (deepgram.status, deepgram.api_key_hint, deepgram.base_url) == ("team", "dg-…ghij", "")
    assert (azure.status, azure.region, azure.api_key_hint) == ("install", "eastus", "")
    assert overview["cartesia"].status == "install"
    assert overview["elevenlabs"].status == "missing"
