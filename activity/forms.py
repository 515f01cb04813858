from typing import Any
from uuid import UUID

from django import forms
from django.db.models import QuerySet
from django.utils.text import capfirst

from teams.models import User

from .models import TargetType
from .selectors import Cursor


class DateInput(forms.DateInput):
    input_type = "date"


class ActivityFilterForm(forms.Form):
    """The log's filters, read from the query string; every field may be left empty."""

    type = forms.ChoiceField(
        required=False,
        label="Object",
        choices=[
            ("", "All objects"),
            *((value, capfirst(label)) for value, label in TargetType.choices),
        ],
    )
    person = forms.TypedChoiceField(required=False, label="Person", coerce=UUID, empty_value=None)
    since = forms.DateField(required=False, label="From", widget=DateInput)
    until = forms.DateField(required=False, label="To", widget=DateInput)
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, people: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [  # type: ignore[attr-defined]
            ("", "Everyone"),
            *((str(person.pk), person.email) for person in people),
        ]

    def clean_before(self) -> Cursor | None:
        text = self.cleaned_data["before"]
        if not text:
            return None
        cursor = Cursor.parse(text)
        if cursor is None:
            raise forms.ValidationError("This page marker is not valid; start from the newest.")
        return cursor

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned
