from datetime import date, datetime, timedelta

from celery import shared_task
from django.utils import timezone


@shared_task
def rollup_agent_daily_stats(day: str | None = None) -> int:
    """Recompute the per-agent daily figures of `day` (an ISO date), or of yesterday and today:
    a session started late yesterday may have ended since the last run."""
    from .services import agent_daily_stats_compute

    today = timezone.localdate()
    days = [date.fromisoformat(day)] if day else [today - timedelta(days=1), today]
    return sum(agent_daily_stats_compute(day=d) for d in days)


@shared_task
def rollup_analytics(hour: str | None = None) -> int:
    """Recompute the analytics rollups of `hour` (an ISO datetime), or of the hours due (this
    one, the one before, and those whose sessions have ended since: services), and their days."""
    from .services import analytics_hours_due, analytics_rollup_hours

    hours = [datetime.fromisoformat(hour)] if hour else analytics_hours_due(now=timezone.now())
    return analytics_rollup_hours(hours=hours)
