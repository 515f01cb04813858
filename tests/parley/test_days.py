"""Whole days in the site's time zone (parley/days.py)."""

from datetime import UTC, date, datetime, timedelta

from django.test import override_settings

from parley.days import day_start


def test_a_day_starts_at_midnight_in_the_sites_time_zone() -> None:
    assert day_start(date(2026, 12, 7)) == datetime(2026, 12, 7, tzinfo=UTC)
    with override_settings(TIME_ZONE="Europe/Paris"):
        assert day_start(date(2026, 12, 7)) == datetime(2026, 12, 6, 23, tzinfo=UTC)
        # The day the clocks go forward is an hour shorter.
        day = day_start(date(2026, 3, 30)).astimezone(UTC) - day_start(date(2026, 3, 29))
        assert day == timedelta(hours=23)
