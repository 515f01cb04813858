"""The voice app's Celery tasks. Celery finds them here (autodiscovery reads <app>.tasks)."""

from .daily_tasks import *  # noqa: F403
