"""Saving and removing a team's provider credentials: validation, the kept key, encryption at
rest, and the activity log that never holds a key."""

from typing import Any

import pytest
from django.db import connection

from activity.models import ActivityEntry
from activity.services import Actor
from parley.errors import InvalidInput
from providers.models import Provider
from providers.selectors import provider_resolve, speech_key_resolve
from providers.services import provider_delete, provider_save
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

KEY = "sk-proj-first-7c1d0e9f2a3b4c5d6e"
NEW_KEY = "sk-proj-second-8a2b3c4d5e6f7a8b9c"


def save(cast: Cast, kind: str = "openai", **changes: Any) -> Provider:
    arguments: dict[str, Any] = {"base_url": "", "api_key": KEY} | changes
    return provider_save(team=cast.team, actor=Actor(user=cast.owner), kind=kind, **arguments)


def raw_credentials(kind: str) -> str:
    """The credentials column as the database holds it, not decrypted."""
    table = Provider._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {table} WHERE kind = %s", [kind])  # noqa: S608
        return str(cursor.fetchone()[0])


def logged(cast: Cast) -> str:
    return str(list(ActivityEntry.objects.filter(team=cast.team).values_list("changes", flat=True)))


def test_saving_creates_the_teams_credentials(cast: Cast) -> None:
    provider = save(cast)
    assert (provider.team, provider.kind, provider.api_key) == (cast.team, "openai", KEY)
    assert provider.base_url == ""
    assert provider.created_by == cast.owner
    assert provider_resolve(team=cast.team, kind="openai").api_key == KEY


def test_the_key_is_encrypted_at_rest(cast: Cast) -> None:
    save(cast)
    column = raw_credentials("openai")
    assert KEY not in column
    assert "api_key" not in column
    assert Provider.objects.get().api_key == KEY


def test_saving_again_updates_the_same_row(cast: Cast) -> None:
    save(cast)
    provider = save(cast, base_url=" https://eu.api.openai.com/v1/ ", api_key=NEW_KEY)
    assert Provider.objects.get() == provider
    assert provider.base_url == "https://eu.api.openai.com/v1"
    assert provider.api_key == NEW_KEY


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_blank_key_on_update_keeps_the_stored_one(cast: Cast, blank: str | None) -> None:
    save(cast)
    provider = save(cast, base_url="https://eu.api.openai.com/v1", api_key=blank)
    provider.refresh_from_db()
    assert provider.api_key == KEY
    assert provider.base_url == "https://eu.api.openai.com/v1"


def test_a_cloud_kinds_first_save_needs_a_key(cast: Cast) -> None:
    with pytest.raises(InvalidInput) as caught:
        save(cast, kind="groq", api_key="")
    assert caught.value.details["errors"] == [
        {"field": "api_key", "message": "Groq needs an API key."}
    ]
    assert not Provider.objects.exists()


def test_a_self_hosted_kind_needs_no_key_but_vllm_needs_an_address(cast: Cast) -> None:
    ollama = save(cast, kind="ollama", api_key=None)
    assert (ollama.base_url, ollama.credentials) == ("", {})
    with pytest.raises(InvalidInput, match="base_url: vLLM has no usual address"):
        save(cast, kind="vllm", api_key=None)
    vllm = save(cast, kind="vllm", base_url="http://gpu-box:8000/v1", api_key=None)
    assert vllm.base_url == "http://gpu-box:8000/v1"  # an intranet name is fine here


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://files.example.com/v1", "Enter an http:// or https:// URL"),
        ("not a url", "Enter an http:// or https:// URL"),
        ("https://user:secret@api.example.com/v1", "Leave the credentials out of the URL"),
        ("https://api.example.com/" + "v" * 2000, "Use at most 2000 characters"),
        ("https://api.example.com/v1?key=1", "Leave out ? and #"),
        (
            "https://api.example.com/v1/chat/completions",
            "Leave out /chat/completions (Parley adds it): https://api.example.com/v1",
        ),
    ],
)
def test_a_bad_base_url_is_refused_on_its_field(cast: Cast, base_url: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        save(cast, base_url=base_url)
    problem = caught.value.details["errors"][0]
    assert problem["field"] == "base_url"
    assert message in problem["message"]
    assert not Provider.objects.exists()


def test_a_key_with_a_line_break_is_refused(cast: Cast) -> None:
    with pytest.raises(InvalidInput, match="api_key: An API key has no spaces"):
        save(cast, api_key="sk-abc\r\nX-Injected: 1")


def test_an_unknown_kind_is_refused(cast: Cast) -> None:
    with pytest.raises(InvalidInput, match="kind:"):
        save(cast, kind="custom")


# The activity log.


def test_the_log_shows_the_changes_with_the_key_only_masked(cast: Cast) -> None:
    save(cast)
    save(cast, base_url="https://eu.api.openai.com/v1", api_key=NEW_KEY)
    created, updated = ActivityEntry.objects.filter(team=cast.team).order_by("id")
    assert (created.action, created.target_type, created.target_label) == (
        "created",
        "provider",
        "OpenAI",
    )
    assert created.changes["api_key"] == [None, "sk-…" + KEY[-4:]]
    assert updated.action == "updated"
    assert updated.changes == {
        "base_url": ["", "https://eu.api.openai.com/v1"],
        "api_key": ["sk-…" + KEY[-4:], "sk-…" + NEW_KEY[-4:]],
    }
    assert KEY not in logged(cast)
    assert NEW_KEY not in logged(cast)


def test_a_new_key_that_masks_alike_is_logged_as_changed(cast: Cast) -> None:
    save(cast)
    lookalike = "sk-other-middle-000000" + KEY[-4:]
    save(cast, api_key=lookalike)
    updated = ActivityEntry.objects.filter(action="updated").get()
    assert updated.changes == {"api_key": ["sk-…" + KEY[-4:], "sk-…" + KEY[-4:] + " (changed)"]}


def test_deleting_forgets_the_credentials_and_logs_it(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"api_key": "sk-install-default-0000000000"}}
    provider = save(cast)
    provider_delete(provider=provider, actor=Actor(user=cast.owner))
    assert not Provider.objects.exists()
    assert ActivityEntry.objects.filter(action="deleted", target_label="OpenAI").exists()
    assert provider_resolve(team=cast.team, kind="openai").source == "install"


# Speech providers.

DEEPGRAM_KEY = "dg-first-0a1b2c3d4e5f6a7b8c9d"
AZURE_KEY = "az-first-9f8e7d6c5b4a3f2e1d0c"


def test_a_speech_key_is_saved_encrypted_with_no_address(cast: Cast) -> None:
    provider = save(cast, kind="deepgram", api_key=DEEPGRAM_KEY)
    assert (provider.kind, provider.base_url, provider.credentials) == (
        "deepgram",
        "",
        {"api_key": DEEPGRAM_KEY},
    )
    assert DEEPGRAM_KEY not in raw_credentials("deepgram")
    assert speech_key_resolve(team=cast.team, kind="deepgram").api_key == DEEPGRAM_KEY


def test_a_speech_kind_has_no_address_to_set(cast: Cast) -> None:
    with pytest.raises(InvalidInput) as caught:
        save(cast, kind="elevenlabs", base_url="https://api.elevenlabs.io")
    assert caught.value.details["errors"] == [
        {"field": "base_url", "message": "ElevenLabs has no address to set."}
    ]


def test_a_speech_kinds_first_save_needs_a_key(cast: Cast) -> None:
    with pytest.raises(InvalidInput, match=r"api_key: Cartesia needs an API key\."):
        save(cast, kind="cartesia", api_key="")


def test_azure_speech_stores_its_region_with_the_key(cast: Cast) -> None:
    provider = save(cast, kind="azure_speech", api_key=AZURE_KEY, region=" WestEurope ")
    assert provider.credentials == {"api_key": AZURE_KEY, "region": "westeurope"}
    assert "westeurope" not in raw_credentials("azure_speech")  # encrypted along with the key
    moved = save(cast, kind="azure_speech", api_key="", region="eastus2")  # the key is kept
    assert moved.credentials == {"api_key": AZURE_KEY, "region": "eastus2"}
    assert speech_key_resolve(team=cast.team, kind="azure_speech").region == "eastus2"


@pytest.mark.parametrize(
    ("region", "message"),
    [
        (None, "Azure Speech needs the region of its key, such as westeurope."),
        ("  ", "Azure Speech needs the region of its key, such as westeurope."),
        ("west europe", "Enter the region's name as Azure writes it"),
        ("https://westeurope.api.cognitive.microsoft.com", "Enter the region's name"),
        ("a" * 41, "Enter the region's name"),
    ],
)
def test_a_missing_or_bad_region_is_refused_on_its_field(
    cast: Cast, region: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        save(cast, kind="azure_speech", api_key=AZURE_KEY, region=region)
    problem = caught.value.details["errors"][0]
    assert problem["field"] == "region"
    assert message in problem["message"]
    assert not Provider.objects.exists()


def test_the_log_shows_a_region_change_and_only_the_masked_key(cast: Cast) -> None:
    save(cast, kind="azure_speech", api_key=AZURE_KEY, region="westeurope")
    save(cast, kind="azure_speech", api_key=None, region="eastus")
    created, updated = ActivityEntry.objects.filter(team=cast.team).order_by("id")
    assert (created.target_label, created.changes["region"]) == (
        "Azure Speech",
        [None, "westeurope"],
    )
    assert updated.changes == {"region": ["westeurope", "eastus"]}
    assert AZURE_KEY not in logged(cast)
