from django import forms

STORED = "•••••• stored — paste a new key to replace it"


class AccountForm(forms.Form):
    api_key = forms.CharField(
        label="iwy Service API key",
        max_length=1000,
        help_text="From app.iwy.ai/settings. Stored encrypted, never shown again.",
        # PasswordInput never renders a value, not even the one just typed.
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: object, connected: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if connected:
            self.fields["api_key"].widget.attrs["placeholder"] = STORED


class ResolveForm(forms.Form):
    keep = forms.ChoiceField(choices=[("parley", "Keep Parley's"), ("iwy", "Take iwy's")])
