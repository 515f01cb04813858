from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from django import forms
from django.utils import timezone

from agents.models import Agent
from parley.days import day_start
from sessions.forms import DateRangeForm, ManyOptionsSelect

from .selectors import Bucket

DEFAULT_DAYS = 30  # the range shown before any is chosen: the last 30 days, today included
MAX_DAYS = 366
MAX_HOURLY_DAYS = 14  # hour by hour, 14 days are 336 bars: still readable on a wide screen


@dataclass(frozen=True)
class AnalyticsFilters:
    """What the selector is asked for: [start, end) in the site's time zone."""

    start: datetime
    end: datetime
    agent_id: UUID | None
    version: int | None
    bucket: Bucket


class AnalyticsFilterForm(DateRangeForm):
    """The analytics page's filters, from the query string. Dates are whole days in the site's
    time zone, `date_to` included; the agent is the one the view found (404 for any other), and
    versions are that agent's."""

    agent = forms.ChoiceField(required=False, widget=ManyOptionsSelect)
    version = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": "“%(value)s” is not one of this agent's versions."},
    )
    bucket = forms.ChoiceField(
        required=False,
        label="Sessions by",
        choices=[("day", "Day"), ("hour", "Hour")],
        error_messages={"invalid_choice": "Show sessions by day or by hour."},
    )

    def __init__(
        self,
        *args: Any,
        agents: list[tuple[UUID, str]],
        agent: Agent | None,
        versions: list[int],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.chosen_agent = agent
        agent_field = cast(forms.ChoiceField, self.fields["agent"])
        agent_field.choices = [("", "All agents"), *((str(i), name) for i, name in agents)]
        version_field = cast(forms.TypedChoiceField, self.fields["version"])
        version_field.choices = [("", "All versions"), *((str(n), f"v{n}") for n in versions)]
        if agent is None:
            version_field.disabled = True
            version_field.help_text = "Choose an agent to see one of its versions."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        today = timezone.localdate()
        end = cleaned.get("date_to") or today
        start = cleaned.get("date_from") or end - timedelta(days=DEFAULT_DAYS - 1)
        if self.errors:
            return cleaned
        if self.check_order(start, end):
            days = (end - start).days + 1
            if days > MAX_DAYS:
                self.add_error("date_from", f"Choose at most {MAX_DAYS} days.")
            elif cleaned.get("bucket") == "hour" and days > MAX_HOURLY_DAYS:
                self.add_error("bucket", f"Hour by hour shows at most {MAX_HOURLY_DAYS} days.")
        cleaned["date_from"], cleaned["date_to"] = start, end
        return cleaned

    def filters(self) -> AnalyticsFilters:
        """The cleaned values as the selector's arguments; only for a valid form."""
        data = self.cleaned_data
        return AnalyticsFilters(
            start=day_start(data["date_from"]),
            end=day_start(data["date_to"] + timedelta(days=1)),
            agent_id=self.chosen_agent.id if self.chosen_agent else None,
            version=data["version"] if self.chosen_agent else None,
            bucket="hour" if data["bucket"] == "hour" else "day",
        )
