from collections.abc import Collection
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils.functional import lazy

from .models import ApiKeyScope, Role, Team, User

INVITATION_DAYS_MIN, INVITATION_DAYS_DEFAULT, INVITATION_DAYS_MAX = 1, 7, 30


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
        help_text=lazy(
            lambda: " ".join(password_validation.password_validators_help_texts()), str
        )(),
    )
    team_name = TeamNameField()

    def __init__(self, *args: Any, joining: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if joining:  # someone on their way to accept an invitation joins that team instead
            del self.fields["team_name"]

    def clean_email(self) -> str:
        # Whether an account uses it is not said here: the email sent to it says (services).
        return str(self.cleaned_data["email"]).lower()

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if password := cleaned.get("password"):
            user = User(email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(str(password), user)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
                # The errors name the rules it broke: the rules again as help would say it twice.
                self["password"].help_text = ""  # the bound field, made before clean(), copied it
        return cleaned


class TeamCreateForm(forms.Form):
    name = TeamNameField()


class RoleField(forms.ChoiceField):
    """A role among those the person filling the form may hand out."""

    def __init__(self, *, roles: Collection[str], **kwargs: Any) -> None:
        choices = [(value, label) for value, label in Role.choices if value in roles]
        super().__init__(choices=choices, **kwargs)


class MembershipRoleForm(forms.Form):
    def __init__(self, *args: Any, roles: Collection[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"] = RoleField(roles=roles)


class InvitationForm(forms.Form):
    email = forms.EmailField(
        required=False,
        label="For (optional)",
        help_text="A note of whom the link is for. Anyone who opens the link can use it, once.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=INVITATION_DAYS_MIN,
        max_value=INVITATION_DAYS_MAX,
        initial=INVITATION_DAYS_DEFAULT,
    )

    field_order = ["role", "email", "expires_in_days"]

    def __init__(self, *args: Any, roles: Collection[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"] = RoleField(roles=roles, initial=Role.MEMBER)
        self.order_fields(self.field_order)

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).lower()


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Where the key is used, e.g. “CI” or “billing service”.",
    )
    scope = forms.ChoiceField(
        choices=ApiKeyScope.choices, initial=ApiKeyScope.READ_WRITE, label="Access"
    )
