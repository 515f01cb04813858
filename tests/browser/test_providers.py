from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from providers.models import Provider
from teams.models import Role
from tests.factories import MembershipFactory
from tests.localllm.conftest import local_llm_url  # noqa: F401 - the real model's server

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-proj-browser-7d8e9f0a1b2c3d4e5f"


@pytest.fixture(autouse=True)
def _no_install_defaults(settings: Any) -> None:
    """Whatever the environment running the tests holds, no provider has an install default."""
    settings.LLM_PROVIDER_DEFAULTS = {}
    settings.SPEECH_PROVIDER_DEFAULTS = {}


def test_an_owner_adds_a_key_sees_it_masked_and_fixes_a_bad_address(page: Page) -> None:
    owner = MembershipFactory(role=Role.OWNER)
    sign_in(page, owner.user.email)
    page.get_by_role("link", name="Providers").click()
    expect(page.get_by_role("alert")).to_contain_text("No LLM provider is configured")

    openai = page.locator("#provider-openai")
    openai.get_by_text("Add credentials").click()
    openai.get_by_label("API key").fill(KEY)
    openai.get_by_role("button", name="Save OpenAI").click()
    expect(page.locator("#toasts")).to_contain_text("Saved the OpenAI credentials.")
    expect(openai).to_contain_text("Configured for this team")
    expect(openai.locator("[data-api-key]")).to_have_text("sk-…4e5f")
    assert KEY not in page.content()
    assert Provider.objects.get().api_key == KEY

    vllm = page.locator("#provider-vllm")
    vllm.get_by_text("Add credentials").click()
    vllm.get_by_role("button", name="Save vLLM").click()
    expect(vllm.locator("#field-vllm-base_url")).to_contain_text("vLLM has no usual address")
    vllm.get_by_label("Base URL").fill("http://gpu.internal:8000/v1")
    vllm.get_by_role("button", name="Save vLLM").click()
    expect(vllm).to_contain_text("Configured for this team")
    expect(vllm).to_contain_text("http://gpu.internal:8000/v1")

    page.reload()  # the warning went with the first provider
    expect(page.get_by_role("alert")).to_have_count(0)


def test_the_page_without_javascript_saves_and_removes(browser: Browser, live_server: Any) -> None:
    owner = MembershipFactory(role=Role.OWNER)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, owner.user.email)
    page.goto("/providers/")
    groq = page.locator("#provider-groq")
    groq.get_by_text("Add credentials").click()
    groq.get_by_label("API key").fill(KEY)
    groq.get_by_role("button", name="Save Groq").click()
    expect(page.locator("#toasts")).to_contain_text("Saved the Groq credentials.")
    expect(groq).to_contain_text("Configured for this team")
    groq.locator("summary", has_text="Remove").click()
    groq.get_by_role("button", name="Remove credentials").click()
    expect(page.locator("#toasts")).to_contain_text("Removed the Groq credentials.")
    expect(groq).to_contain_text("Not configured")
    assert not Provider.objects.exists()
    context.close()


def test_an_owner_adds_an_azure_speech_key_and_region(page: Page) -> None:
    owner = MembershipFactory(role=Role.OWNER)
    sign_in(page, owner.user.email)
    page.goto("/providers/")
    expect(page.get_by_role("heading", name="Speech providers")).to_be_visible()
    azure = page.locator("#provider-azure_speech")
    expect(azure).to_contain_text("AZURE_SPEECH_REGION")
    azure.get_by_text("Add credentials").click()
    expect(azure.get_by_label("Base URL")).to_have_count(0)
    azure.get_by_label("API key").fill(KEY)
    azure.get_by_role("button", name="Save Azure Speech").click()
    expect(azure.locator("#field-azure_speech-region")).to_contain_text("needs the region")
    azure.get_by_label("API key").fill(KEY)  # never put back into the page, even when refused
    azure.get_by_label("Region").fill("westeurope")
    azure.get_by_role("button", name="Save Azure Speech").click()
    expect(page.locator("#toasts")).to_contain_text("Saved the Azure Speech credentials.")
    expect(azure.locator("[data-region]")).to_have_text("westeurope")
    expect(azure.locator("[data-api-key]")).to_have_text("sk-…4e5f")
    assert KEY not in page.content()
    assert Provider.objects.get().credentials == {"api_key": KEY, "region": "westeurope"}


def test_the_page_with_every_status_fits_a_phone(page: Page, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {
        "groq": {"api_key": "gsk_operator-0000000000000000"},
        "ollama": {"base_url": "http://ollama.internal:11434/v1"},
    }
    owner = MembershipFactory(role=Role.OWNER, team__name="Acme")
    Provider.objects.create(
        team=owner.team,
        kind="openai",
        base_url="https://eu.api.openai.com/v1",
        credentials={"api_key": KEY},
    )
    Provider.objects.create(team=owner.team, kind="deepgram", credentials={"api_key": KEY})
    sign_in(page, owner.user.email)
    page.goto("/providers/")
    expect(page.locator("#provider-openai")).to_contain_text("Configured for this team")
    expect(page.locator("#provider-groq")).to_contain_text("Install default")
    expect(page.locator("#provider-ollama")).to_contain_text("http://ollama.internal:11434/v1")
    expect(page.locator("#provider-google")).to_contain_text("Not configured")
    expect(page.locator("#provider-deepgram")).to_contain_text("Configured for this team")
    assert KEY not in page.content()
    page.locator("#provider-vllm").get_by_text("Add credentials").click()  # a form, open
    page.set_viewport_size({"width": 375, "height": 740})
    assert not has_horizontal_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "providers")


def test_a_member_reads_the_page_without_controls(page: Page) -> None:
    member = MembershipFactory(role=Role.MEMBER)
    Provider.objects.create(team=member.team, kind="openai", credentials={"api_key": KEY})
    sign_in(page, member.user.email)
    page.goto("/providers/")
    expect(page.get_by_text("only owners and admins change credentials")).to_be_visible()
    expect(page.locator("#provider-openai [data-api-key]")).to_have_text("sk-…4e5f")
    expect(page.get_by_text("Add credentials")).to_have_count(0)
    expect(page.get_by_text("Edit")).to_have_count(0)
    assert KEY not in page.content()


@pytest.mark.local_llm
def test_the_local_models_card_says_it_is_loaded_and_how_fast_it_writes(
    page: Page,
    settings: Any,
    local_llm_url: str,  # noqa: F811
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": local_llm_url}}
    settings.LOCAL_LLM_URL = local_llm_url
    hello = [{"role": "user", "content": "Say hello in one short sentence."}]
    body = {"messages": hello, "max_tokens": 16, "temperature": 0}
    httpx.post(f"{local_llm_url}/chat/completions", json=body, timeout=60).raise_for_status()
    owner = MembershipFactory(role=Role.OWNER)
    sign_in(page, owner.user.email)
    page.goto("/providers/")
    local = page.locator("#provider-local")
    expect(local.locator("[data-local-state]")).to_have_text("Model loaded")
    expect(local).to_contain_text("SmolLM2-135M-Instruct")
    expect(local.locator("[data-local-speed]")).to_contain_text("tokens/s writing")
    expect(local.locator("[data-local-limits]")).to_contain_text("does not call tools")
    local.scroll_into_view_if_needed()
    screenshot(page, "providers-local")
