from typing import Any

from django import forms

from sessions.forms import DATE_BOUNDS


class RerunRangeForm(forms.Form):
    """The agent page's "analyse again": a range of days the sessions started in."""

    date_from = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=DATE_BOUNDS
    )
    date_to = forms.DateField(
        label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=DATE_BOUNDS
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The to date is before the from date.")
        return cleaned
