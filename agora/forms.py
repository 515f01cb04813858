from django import forms

from parley.errors import ParleyError


class AgoraAccountForm(forms.Form):
    """The team's Agora credentials. Secrets are never shown back: left blank, the stored one
    stays."""

    app_id = forms.CharField(
        label="App ID", max_length=200, help_text="32 characters, from Agora Console → Projects."
    )
    customer_id = forms.CharField(
        label="Customer ID",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="From Agora Console → Developer Toolkit → RESTful API. Stored encrypted; "
        "leave blank to keep the stored one.",
    )
    customer_secret = forms.CharField(
        label="Customer secret",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Stored encrypted. Leave blank to keep the stored one.",
    )
    app_certificate = forms.CharField(
        label="App certificate",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Optional: with it, Parley signs RTC tokens for each call's channel. Leave "
        "blank to keep the stored one.",
    )
    remove_certificate = forms.BooleanField(label="Remove the stored certificate", required=False)

    def add_service_error(self, error: ParleyError) -> None:
        for problem in error.details.get("errors") or [{"field": "", "message": error.message}]:
            field = problem["field"] if problem["field"] in self.fields else None
            self.add_error(field, problem["message"])


class SpeakForm(forms.Form):
    text = forms.CharField(label="Say", max_length=512)
    priority = forms.ChoiceField(
        choices=[("INTERRUPT", "Now, interrupting"), ("APPEND", "After"), ("IGNORE", "If silent")]
    )
    interruptable = forms.BooleanField(
        label="The caller can interrupt", required=False, initial=True
    )
