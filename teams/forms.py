from django import forms
from django.contrib.auth import password_validation

from .models import Team, User


class TeamNameField(forms.CharField):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_length=100, label="Team name", **kwargs)  # type: ignore[arg-type]

    def clean(self, value: object) -> str:
        name = str(super().clean(value)).strip()
        if Team.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("A team with this name already exists; choose another.")
        return name


class SignUpForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    team_name = TeamNameField()

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email exists; sign in instead.")
        return email

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if password := cleaned.get("password"):
            user = User(email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(str(password), user)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class TeamCreateForm(forms.Form):
    name = TeamNameField()
