from datetime import date, timedelta
from typing import Any, cast
from uuid import UUID

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.utils import flatatt
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from parley.days import day_start

from .models import SessionStatus, SessionType
from .selectors import SessionFilters

# Far enough from date.min and date.max that a day's start converts to UTC in any time zone.
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
DATE_BOUNDS = [
    MinValueValidator(EARLIEST, "Enter a date from 1970 on."),
    MaxValueValidator(LATEST, "Enter a date before the year 9999."),
]


class ManyOptionsSelect(forms.Select):
    """The same <select> as Django's, built in Python: Django renders every option through a
    template, about 50 µs each, which made a team's 1,000 agents cost 50 ms a page."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        chosen = "" if value is None else str(value)
        options = "".join(
            f'<option value="{escape(v)}"{" selected" if str(v) == chosen else ""}>'
            f"{escape(label)}</option>"
            for v, label in self.choices
        )
        attrs = self.build_attrs(self.attrs, attrs)
        # Safe: every value above is escaped, and flatatt escapes the attributes.
        return mark_safe(f'<select name="{escape(name)}"{flatatt(attrs)}>{options}</select>')  # noqa: S308


class DateRangeForm(forms.Form):
    """A filter form's range of whole days, both optional: `date_from`, and `date_to` with its
    day included. The sessions list's and the analytics page's filters."""

    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_BOUNDS,
        error_messages={"invalid": "Enter the from date as YYYY-MM-DD."},
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_BOUNDS,
        error_messages={"invalid": "Enter the to date as YYYY-MM-DD."},
    )

    def check_order(self, start: date | None, end: date | None) -> bool:
        """False, with the error on `date_to`, when both days are given and `start` is after
        `end`."""
        if start and end and start > end:
            self.add_error("date_to", "The to date is before the from date.")
            return False
        return True


class SessionFilterForm(DateRangeForm):
    """The sessions list's filters, read from the query string. Dates are whole days in the
    site's time zone; `date_to` includes its day."""

    # The inherited dates after the type, not first: the order the template lays them out in.
    field_order = ["agent", "status", "type", "date_from", "date_to"]

    agent = forms.ChoiceField(
        required=False,
        widget=ManyOptionsSelect,
        error_messages={"invalid_choice": "That agent is not one of this team's agents."},
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *SessionStatus.choices],
        error_messages={"invalid_choice": "“%(value)s” is not a session status."},
    )
    type = forms.ChoiceField(
        required=False,
        choices=[("", "Any type"), *SessionType.choices],
        error_messages={"invalid_choice": "“%(value)s” is not a session type."},
    )

    # The post-call analysis (docs/analysis.md): a criterion judged "fail", a field extracted.
    failed = forms.CharField(
        required=False, max_length=100, label="Failed criterion", help_text="Its exact name."
    )
    field = forms.CharField(required=False, max_length=100, label="Extracted field")
    value = forms.CharField(
        required=False, max_length=500, label="Equal to", help_text="Text, a number, true or false."
    )

    def __init__(self, *args: Any, agents: list[tuple[UUID, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent = cast(forms.ChoiceField, self.fields["agent"])
        agent.choices = [("", "Any agent"), *((str(i), name) for i, name in agents)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.check_order(cleaned.get("date_from"), cleaned.get("date_to"))
        if cleaned.get("value") and not cleaned.get("field"):
            self.add_error("field", "Name the extracted field the value is for.")
        return cleaned

    def filters(self) -> SessionFilters:
        """The cleaned values as the selector's filters; only for a valid form."""
        data, end = self.cleaned_data, self.cleaned_data["date_to"]
        return SessionFilters(
            agent_id=UUID(data["agent"]) if data["agent"] else None,
            status=data["status"],
            type=data["type"],
            started_from=day_start(data["date_from"]) if data["date_from"] else None,
            started_before=day_start(end + timedelta(days=1)) if end else None,
            failed_criterion=data["failed"],
            data_field=data["field"],
            data_value=data["value"],
        )
