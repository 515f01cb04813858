from typing import Any

from sessions.forms import DateRangeForm


class RerunRangeForm(DateRangeForm):
    """The agent page's "analyse again": a range of days the sessions started in, both given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.check_order(cleaned.get("date_from"), cleaned.get("date_to"))
        return cleaned
