"""The Providers page: every kind with where its credentials come from, masked keys, and the
owners' and admins' forms, with HTMX and without."""

import json
import re
from typing import Any

import pytest
from django.test import Client

from localllm.services import local_llm_refusal_start
from providers.models import Provider
from teams.models import Role
from tests.conftest import Cast, signed_in
from tests.factories import MembershipFactory
from tests.localllm.stand_in import loading_llama
from tests.loopback import free_port

pytestmark = pytest.mark.django_db

KEY = "sk-proj-secret-5e6f7a8b9c0d1e2f3a"
NEW_KEY = "sk-proj-rotated-1a2b3c4d5e6f7a8b9c"
INSTALL_KEY = "gsk_install-default-0a9b8c7d6e5f4"
HTMX = {"HTTP_HX_REQUEST": "true"}


def html(response: Any) -> str:
    return response.content.decode()


def card(response: Any, kind: str) -> str:
    """One kind's card on the page, up to the next card."""
    page = html(response)
    start = page.index(f'id="provider-{kind}"')
    end = page.find('<section id="provider-', start + 1)
    return page[start : end if end > 0 else None]


def field_errors(response: Any, field: str) -> str:
    page = html(response)
    start = page.index(f'id="field-{field}"')
    end = page.find('id="field-', start + 1)
    found = re.search(r'<ul class="errorlist.*?</ul>', page[start : end if end > 0 else None], re.S)
    return found.group(0) if found else ""


def stored(cast: Cast, kind: str = "openai", **fields: Any) -> Provider:
    fields.setdefault("credentials", {"api_key": KEY})
    return Provider.objects.create(team=cast.team, kind=kind, **fields)


def admin_of(cast: Cast) -> Any:
    return MembershipFactory(team=cast.team, role=Role.ADMIN).user


# The page.


def test_each_kind_shows_where_its_credentials_come_from(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"groq": {"api_key": INSTALL_KEY}}
    stored(cast, base_url="https://eu.api.openai.com/v1")
    r = signed_in(cast.viewer).get("/providers/")
    assert r.status_code == 200
    openai, groq, vllm = card(r, "openai"), card(r, "groq"), card(r, "vllm")
    assert "Configured for this team" in openai
    assert "https://eu.api.openai.com/v1" in openai
    assert "sk-…" + KEY[-4:] in openai
    assert "Install default" in groq
    assert "https://api.groq.com/openai/v1" in groq
    assert "set by the operator" in groq
    assert "Not configured" in vllm
    assert "VLLM_BASE_URL" in vllm
    for kind in ("google", "openrouter", "together", "ollama", "llamacpp"):
        assert "Not configured" in card(r, kind)


def test_no_key_ever_reaches_the_page(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"groq": {"api_key": INSTALL_KEY}}
    stored(cast)
    for user in (cast.owner, cast.viewer):
        page = html(signed_in(user).get("/providers/"))
        assert KEY not in page
        assert INSTALL_KEY not in page
        assert INSTALL_KEY[-4:] not in page  # not even a hint of the operator's key


def test_with_nothing_configured_the_page_says_so_and_how_to_fix_it(cast: Cast) -> None:
    owner_page = html(signed_in(cast.owner).get("/providers/"))
    assert "No LLM provider is configured, so agents cannot answer yet." in owner_page
    assert "Add an API key to one of the providers below" in owner_page
    assert "OPENAI_API_KEY" in owner_page
    member_page = html(signed_in(cast.member).get("/providers/"))
    assert "Ask an owner or admin of the team to add an API key" in member_page


def test_the_warning_goes_once_one_provider_serves(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"ollama": {"base_url": "http://localhost:11434/v1"}}
    assert "No LLM provider is configured" not in html(signed_in(cast.owner).get("/providers/"))


def test_owners_and_admins_get_the_forms_and_others_a_note(cast: Cast) -> None:
    stored(cast)
    for user in (cast.owner, admin_of(cast)):
        page = html(signed_in(user).get("/providers/"))
        assert 'action="/providers/openai/#provider-openai"' in page
        assert 'action="/providers/openai/delete/"' in page
        assert 'name="google-api_key"' in page
    for user in (cast.member, cast.viewer):
        page = html(signed_in(user).get("/providers/"))
        assert "only owners and admins change credentials" in page
        assert '<form method="post" action="/providers/' not in page
        assert "sk-…" + KEY[-4:] in page  # the hint is shown to everyone in the team


def test_another_teams_credentials_are_never_shown(cast: Cast) -> None:
    Provider.objects.create(
        team=cast.other_team,
        kind="openai",
        base_url="https://globex-proxy.example.com/v1",
        credentials={"api_key": KEY},
    )
    page = html(signed_in(cast.owner).get("/providers/"))
    assert "globex-proxy" not in page
    assert KEY[-4:] not in page
    assert "Configured for this team" not in page


def test_the_sidebar_links_to_the_page(cast: Cast) -> None:
    page = html(signed_in(cast.viewer).get("/providers/"))
    assert '<a class="nav-link" href="/providers/" aria-current="page">Providers</a>' in page


def test_the_page_costs_the_same_queries_however_many_are_stored(
    cast: Cast, django_assert_num_queries: Any
) -> None:
    client = signed_in(cast.owner)
    # The session, the user, their membership (with its team), the team's providers, and the
    # team switcher's memberships.
    with django_assert_num_queries(5):
        client.get("/providers/")
    for kind in ("openai", "groq", "together"):
        stored(cast, kind=kind)
    with django_assert_num_queries(5):
        client.get("/providers/")


def test_signed_out_people_are_sent_to_sign_in() -> None:
    r = Client().get("/providers/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


# Saving.


def test_an_owner_saves_a_key_without_javascript(cast: Cast) -> None:
    client = signed_in(cast.owner)
    r = client.post("/providers/groq/", {"groq-base_url": "", "groq-api_key": KEY})
    assert r.status_code == 302
    assert r["Location"] == "/providers/"
    provider = Provider.objects.get(team=cast.team)
    assert (provider.kind, provider.api_key, provider.created_by) == ("groq", KEY, cast.owner)
    page = client.get(r["Location"])
    assert "Saved the Groq credentials." in html(page)
    assert "Configured for this team" in card(page, "groq")
    assert KEY not in html(page)


def test_an_admin_saves_with_htmx_and_gets_the_card_back(cast: Cast) -> None:
    r = signed_in(admin_of(cast)).post(
        "/providers/vllm/", {"vllm-base_url": "http://gpu.internal:8000/v1/"}, **HTMX
    )
    assert r.status_code == 200
    assert json.loads(r["HX-Trigger"]) == {"toast": {"value": "Saved the vLLM credentials."}}
    page = html(r)
    assert page.lstrip().startswith('<section id="provider-vllm"')
    assert "Configured for this team" in page
    assert "http://gpu.internal:8000/v1" in page
    assert Provider.objects.get().base_url == "http://gpu.internal:8000/v1"


def test_a_blank_key_keeps_the_stored_one(cast: Cast) -> None:
    stored(cast)
    client = signed_in(cast.owner)
    page = html(client.get("/providers/"))
    assert "•••••• stored — leave blank to keep" in page
    r = client.post(
        "/providers/openai/",
        {"openai-base_url": "https://eu.api.openai.com/v1", "openai-api_key": ""},
    )
    assert r.status_code == 302
    provider = Provider.objects.get()
    assert provider.api_key == KEY
    assert provider.base_url == "https://eu.api.openai.com/v1"


def test_a_new_key_replaces_the_stored_one(cast: Cast) -> None:
    stored(cast)
    signed_in(cast.owner).post("/providers/openai/", {"openai-api_key": NEW_KEY})
    assert Provider.objects.get().api_key == NEW_KEY


def test_a_bad_base_url_is_shown_under_its_field(cast: Cast) -> None:
    r = signed_in(cast.owner).post(
        "/providers/openai/", {"openai-base_url": "ftp://x.example.com", "openai-api_key": KEY}
    )
    assert r.status_code == 200
    assert "Enter an http:// or https:// URL" in field_errors(r, "openai-base_url")
    assert '<details class="min-w-0 flex-1" open>' in card(r, "openai")
    assert 'value="ftp://x.example.com"' in card(r, "openai")  # what was typed, to correct
    assert KEY not in html(r)  # not even the key just typed
    assert not Provider.objects.exists()


def test_a_bad_base_url_with_htmx_comes_back_in_the_card(cast: Cast) -> None:
    r = signed_in(cast.owner).post(
        "/providers/vllm/", {"vllm-base_url": "", "vllm-api_key": KEY}, **HTMX
    )
    assert r.status_code == 200  # htmx swaps only successful responses
    assert "HX-Trigger" not in r
    assert "vLLM has no usual address" in field_errors(r, "vllm-base_url")
    assert KEY not in html(r)


def test_a_missing_key_is_shown_under_its_field(cast: Cast) -> None:
    r = signed_in(cast.owner).post("/providers/together/", {"together-api_key": ""})
    assert "Together AI needs an API key." in field_errors(r, "together-api_key")


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_change_credentials(cast: Cast, role: str) -> None:
    stored(cast)
    client = signed_in(getattr(cast, role))
    assert client.post("/providers/openai/", {"openai-api_key": NEW_KEY}).status_code == 403
    assert client.post("/providers/groq/", {"groq-api_key": NEW_KEY}).status_code == 403
    assert client.post("/providers/openai/delete/").status_code == 403
    assert Provider.objects.get().api_key == KEY


def test_an_unknown_kind_is_404(cast: Cast) -> None:
    client = signed_in(cast.owner)
    assert client.post("/providers/custom/", {"custom-api_key": KEY}).status_code == 404
    assert client.post("/providers/anthropic/delete/").status_code == 404
    assert not Provider.objects.exists()


# Removing.


def test_an_owner_removes_the_teams_credentials(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"api_key": "sk-operator-0000000000000000"}}
    stored(cast)
    client = signed_in(cast.owner)
    r = client.post("/providers/openai/delete/")
    assert r.status_code == 302
    assert not Provider.objects.exists()
    page = client.get("/providers/")
    assert "Removed the OpenAI credentials." in html(page)
    assert "Install default" in card(page, "openai")


def test_removing_with_htmx_swaps_the_card(cast: Cast) -> None:
    stored(cast)
    r = signed_in(cast.owner).post("/providers/openai/delete/", **HTMX)
    assert r.status_code == 200
    assert json.loads(r["HX-Trigger"]) == {"toast": {"value": "Removed the OpenAI credentials."}}
    assert "Not configured" in html(r)


def test_removing_what_the_team_never_stored_is_404(cast: Cast) -> None:
    Provider.objects.create(team=cast.other_team, kind="openai", credentials={"api_key": KEY})
    assert signed_in(cast.owner).post("/providers/openai/delete/").status_code == 404
    assert Provider.objects.filter(team=cast.other_team).exists()


def test_an_outsider_cannot_reach_the_teams_credentials(cast: Cast) -> None:
    stored(cast)
    client = signed_in(cast.outsider)  # owner of Globex
    assert client.post("/providers/openai/delete/").status_code == 404
    assert KEY[-4:] not in html(client.get("/providers/"))
    client.post("/providers/openai/", {"openai-api_key": NEW_KEY})  # saves Globex's own
    assert Provider.objects.get(team=cast.team).api_key == KEY


# Methods.


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/providers/"),
        ("delete", "/providers/"),
        ("get", "/providers/openai/"),
        ("put", "/providers/openai/"),
        ("get", "/providers/openai/delete/"),
    ],
)
def test_wrong_methods_are_405(cast: Cast, method: str, path: str) -> None:
    assert getattr(signed_in(cast.owner), method)(path).status_code == 405


# The activity log.


def test_the_activity_page_shows_the_change_but_not_the_key(cast: Cast) -> None:
    client = signed_in(cast.owner)
    client.post("/providers/openai/", {"openai-api_key": KEY})
    client.post("/providers/openai/", {"openai-api_key": NEW_KEY})
    page = html(client.get("/activity/"))
    assert "updated provider" in page
    assert "OpenAI" in page
    assert KEY not in page
    assert NEW_KEY not in page


# Speech providers.

DEEPGRAM_KEY = "dg-secret-0a1b2c3d4e5f6a7b8c9d"
AZURE_KEY = "az-secret-9f8e7d6c5b4a3f2e1d0c"


def test_speech_providers_have_their_own_section_with_masked_keys(
    cast: Cast, settings: Any
) -> None:
    settings.SPEECH_PROVIDER_DEFAULTS = {"cartesia": {"api_key": "ca-operator-0000000000000"}}
    stored(cast, kind="deepgram", credentials={"api_key": DEEPGRAM_KEY})
    stored(cast, kind="azure_speech", credentials={"api_key": AZURE_KEY, "region": "westeurope"})
    r = signed_in(cast.viewer).get("/providers/")
    page = html(r)
    assert page.index('id="llm-providers"') < page.index('id="provider-llamacpp"')
    assert page.index('id="speech-providers"') < page.index('id="provider-deepgram"')
    assert "OpenAI's speech-to-text and voices use the OpenAI credentials above" in page
    deepgram, azure = card(r, "deepgram"), card(r, "azure_speech")
    assert "Configured for this team" in deepgram
    assert "dg-…" + DEEPGRAM_KEY[-4:] in deepgram
    assert "Base URL" not in deepgram  # nothing to choose
    assert "For speech-to-text and voices (stt.provider or tts.provider deepgram)." in deepgram
    assert "<code>westeurope</code>" in azure
    assert "Install default" in card(r, "cartesia")
    assert "CARTESIA_API_KEY" in card(r, "cartesia")
    elevenlabs = card(r, "elevenlabs")
    assert "Not configured" in elevenlabs
    assert "Calls with agents set to ElevenLabs cannot start until an API key is added" in (
        elevenlabs
    )
    assert "ELEVENLABS_API_KEY" in elevenlabs
    for key in (DEEPGRAM_KEY, AZURE_KEY, "ca-operator-0000000000000"):
        assert key not in page


def test_a_speech_key_alone_leaves_the_llm_warning(cast: Cast) -> None:
    stored(cast, kind="deepgram", credentials={"api_key": DEEPGRAM_KEY})
    assert "No LLM provider is configured" in html(signed_in(cast.owner).get("/providers/"))


def test_the_speech_forms_ask_for_a_key_and_azure_for_its_region(cast: Cast) -> None:
    stored(cast, kind="azure_speech", credentials={"api_key": AZURE_KEY, "region": "westeurope"})
    r = signed_in(cast.owner).get("/providers/")
    deepgram, azure = card(r, "deepgram"), card(r, "azure_speech")
    assert 'name="deepgram-api_key"' in deepgram
    assert 'name="deepgram-base_url"' not in deepgram
    assert 'name="deepgram-region"' not in deepgram
    assert 'name="azure_speech-region"' in azure
    assert 'value="westeurope"' in azure  # the region is no secret: there to correct
    assert "•••••• stored — leave blank to keep" in azure
    assert 'name="openai-region"' not in html(r)


def test_an_owner_saves_a_deepgram_key_without_javascript(cast: Cast) -> None:
    client = signed_in(cast.owner)
    r = client.post("/providers/deepgram/", {"deepgram-api_key": DEEPGRAM_KEY})
    assert r.status_code == 302
    provider = Provider.objects.get(team=cast.team)
    assert (provider.kind, provider.api_key, provider.base_url) == ("deepgram", DEEPGRAM_KEY, "")
    page = client.get(r["Location"])
    assert "Saved the Deepgram credentials." in html(page)
    assert DEEPGRAM_KEY not in html(page)


def test_azure_without_a_region_comes_back_with_htmx_saying_so(cast: Cast) -> None:
    client = signed_in(admin_of(cast))
    r = client.post("/providers/azure_speech/", {"azure_speech-api_key": AZURE_KEY}, **HTMX)
    assert r.status_code == 200
    assert "HX-Trigger" not in r
    assert "needs the region of its key" in field_errors(r, "azure_speech-region")
    assert AZURE_KEY not in html(r)
    assert not Provider.objects.exists()
    r = client.post(
        "/providers/azure_speech/",
        {"azure_speech-api_key": AZURE_KEY, "azure_speech-region": "eastus"},
        **HTMX,
    )
    toast = {"toast": {"value": "Saved the Azure Speech credentials."}}
    assert json.loads(r["HX-Trigger"]) == toast
    assert "<code>eastus</code>" in html(r)
    assert Provider.objects.get().credentials == {"api_key": AZURE_KEY, "region": "eastus"}


def test_members_cannot_store_speech_keys(cast: Cast) -> None:
    client = signed_in(cast.member)
    r = client.post("/providers/deepgram/", {"deepgram-api_key": DEEPGRAM_KEY})
    assert r.status_code == 403
    assert not Provider.objects.exists()


@pytest.mark.parametrize("kind", ["ollama", "vllm", "llamacpp"])
def test_a_self_hosted_kind_not_configured_shows_no_address_as_if_set(
    cast: Cast, kind: str
) -> None:
    shown = card(signed_in(cast.viewer).get("/providers/"), kind)
    assert "Not configured" in shown
    base_url = shown[shown.index(">Base URL<") : shown.index("</dd>", shown.index(">Base URL<"))]
    assert "<code>" not in base_url  # "—": nothing is set
    if kind == "ollama":  # the usual address, named as such
        assert "Ollama usually listens at" in shown
        assert "http://localhost:11434/v1" in shown


def test_a_cloud_kind_not_configured_still_shows_where_it_calls(cast: Cast) -> None:
    shown = card(signed_in(cast.viewer).get("/providers/"), "groq")
    assert "Not configured" in shown
    assert "<code>https://api.groq.com/openai/v1</code>" in shown


# The local model, which Parley runs: nothing for a team to store.


def test_the_local_model_shows_its_address_and_offers_no_form(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": "http://127.0.0.1:8003/v1"}}
    shown = card(signed_in(cast.owner).get("/providers/"), "local")
    assert "Local model (on this server)" in shown
    assert "<code>http://127.0.0.1:8003/v1</code>" in shown
    assert "<code>LOCAL_LLM_URL</code>" in shown
    assert "<form" not in shown
    assert "Store your own" not in shown


def test_a_team_cannot_store_credentials_for_the_local_model(cast: Cast) -> None:
    client = signed_in(cast.owner)
    saved = client.post("/providers/local/", {"local-base_url": "http://evil.example/v1"})
    assert saved.status_code == 404
    assert client.post("/providers/local/delete/").status_code == 404
    assert not Provider.objects.exists()


# The local model's server: whether it serves, which model, how fast.


def local_at(settings: Any, url: str) -> None:
    settings.LOCAL_LLM_URL = url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": url}}


def local_status(cast: Cast, **headers: Any) -> str:
    return html(signed_in(cast.viewer).get("/providers/?status=local", **headers))


def test_the_page_shows_at_once_and_the_local_card_loads_its_status_after(
    cast: Cast, settings: Any
) -> None:
    local_at(settings, f"http://127.0.0.1:{free_port()}/v1")
    shown = card(signed_in(cast.viewer).get("/providers/"), "local")
    assert 'hx-get="?status=local" hx-trigger="load"' in shown
    assert '<a href="?status=local#provider-local">Check whether the model is running</a>' in shown
    assert "Not serving" not in shown  # not asked yet: a server that does not answer waits


def test_a_local_model_not_running_says_where_it_was_sought_and_how_it_runs(
    cast: Cast, settings: Any
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    local_at(settings, url)
    shown = local_status(cast, **HTMX)
    assert shown.lstrip().startswith('<div id="local-status"')  # the region alone
    assert '<span class="badge badge-red">Not serving</span>' in shown
    assert f"does not answer at {url} (ConnectError)" in shown
    assert "`manage.py localllm` (the Procfile&#x27;s llm process)" in shown
    assert "hx-trigger" not in shown  # checked again on request only


def test_a_model_that_could_not_load_is_named_with_its_cause(cast: Cast, settings: Any) -> None:
    port = free_port()
    cause = "The local model /srv/gone.gguf cannot be read (No such file or directory)."
    refusal = local_llm_refusal_start(host="127.0.0.1", port=port, reason=cause)
    try:
        local_at(settings, f"http://127.0.0.1:{port}/v1")
        shown = local_status(cast, **HTMX)
    finally:
        refusal.shutdown()
        refusal.server_close()
    assert '<span class="badge badge-red">Not serving</span>' in shown
    assert f"could not load its model: {cause}" in shown


def test_a_loading_model_says_so_and_is_checked_again_until_it_serves(
    cast: Cast, settings: Any
) -> None:
    with loading_llama(free_port()) as url:
        local_at(settings, url)
        shown = local_status(cast, **HTMX)
    assert '<span class="badge badge-blue">Loading the model</span>' in shown
    assert 'hx-get="?status=local" hx-trigger="every 2s"' in shown


def test_without_javascript_the_link_shows_the_whole_page_with_the_status(
    cast: Cast, settings: Any
) -> None:
    local_at(settings, f"http://127.0.0.1:{free_port()}/v1")
    shown = card(signed_in(cast.viewer).get("/providers/?status=local"), "local")
    assert "Local model (on this server)" in shown
    assert '<span class="badge badge-red">Not serving</span>' in shown


def test_the_status_is_not_changed_by_post(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/providers/?status=local").status_code == 405
