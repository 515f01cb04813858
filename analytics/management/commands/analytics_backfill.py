"""`manage.py analytics_backfill --from 2026-01-01 --to 2026-01-31`: the analytics rollups of
every hour of those days (UTC, both included), then of the days, recomputed whole, so it is
safe to run again or over hours the beat task already did."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.services import analytics_rollup_hours


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date; write it as YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Recompute the analytics rollups of a range of days (UTC, both included)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")

    def handle(self, *args: Any, first: str, last: str, **options: Any) -> None:
        start, end = _day(first), _day(last)
        if end < start:
            raise CommandError("--to is before --from.")
        hour = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
        stop = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        hours = []
        while hour < stop:
            hours.append(hour)
            hour += timedelta(hours=1)
        rows = analytics_rollup_hours(hours=hours)
        self.stdout.write(f"Recomputed {start} to {end}: {rows} rollup rows.")
