from django import forms


class LLMKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="Where the key is used, e.g. “Agora production”.",
    )
