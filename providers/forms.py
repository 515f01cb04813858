"""The Providers page's form: one per kind, its inputs prefixed with the kind so that the page's
forms never share an id. The stored key is never put back into the page. An LLM kind has a base
URL and a key; a speech kind a key only, and Azure Speech its region too."""

from typing import Any

from django import forms

from parley.errors import ParleyError

from .catalog import ProviderKind
from .models import Provider

STORED = "•••••• stored — leave blank to keep"
PRIVATE_ADDRESSES = (
    "Parley reaches a private address, or its own machine, only where the operator allows it "
    "(OUTBOUND_ALLOWED_NETWORKS)."
)


class ProviderForm(forms.Form):
    base_url = forms.CharField(
        label="Base URL", required=False, max_length=2000, widget=forms.URLInput
    )
    api_key = forms.CharField(
        label="API key",
        required=False,
        max_length=1000,
        # PasswordInput never renders a value, not even the one just typed.
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    region = forms.CharField(
        label="Region",
        required=False,
        max_length=40,
        help_text="The Azure region of the Speech resource the key belongs to.",
        widget=forms.TextInput(attrs={"placeholder": "westeurope", "spellcheck": "false"}),
    )

    def __init__(
        self, *args: Any, facts: ProviderKind, provider: Provider | None, **kwargs: Any
    ) -> None:
        initial = {"base_url": provider.base_url, "region": provider.region} if provider else {}
        kwargs.setdefault("initial", initial)
        kwargs["prefix"] = facts.kind
        super().__init__(*args, **kwargs)
        if not facts.needs_region:
            del self.fields["region"]
        if facts.speech:
            del self.fields["base_url"]  # a speech service has no address to choose
        else:
            self._base_url_help(facts)
        api_key = self.fields["api_key"]
        if provider is not None and provider.api_key:
            api_key.widget.attrs["placeholder"] = STORED
        api_key.help_text = (
            "Stored encrypted, never shown again."
            if facts.needs_api_key
            else "Only if your server asks for one. Stored encrypted, never shown again."
        )

    def _base_url_help(self, facts: ProviderKind) -> None:
        base_url = self.fields["base_url"]
        base_url.widget.attrs["placeholder"] = facts.default_base_url or facts.example_base_url
        base_url.help_text = (
            f"Blank: {facts.default_base_url}."
            if facts.default_base_url
            else "Required: the address of your server's OpenAI-compatible API."
        )
        if facts.self_hosted:
            base_url.help_text += f" {PRIVATE_ADDRESSES}"

    def add_service_error(self, exc: ParleyError) -> None:
        """Put what the services refused under the field it is about."""
        for problem in exc.details.get("errors") or [{"field": None, "message": exc.message}]:
            field = problem["field"] if problem["field"] in self.fields else None
            self.add_error(field, problem["message"])
