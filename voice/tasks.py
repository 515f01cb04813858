"""The voice runtime's background jobs: giving up on silent workers, hanging up calls that
ended elsewhere, and keeping Daily rooms in step (voice.daily_tasks)."""

from celery import shared_task
from django.db import transaction

from sessions.models import Session

from .daily_tasks import delete_daily_room, sync_daily_rooms
from .services import workers_reap
from .signalling import call_hang_up as hang_up

__all__ = ["call_hang_up", "delete_daily_room", "reap_silent_workers", "sync_daily_rooms"]


@shared_task(name="voice.tasks.reap_silent_workers")
def reap_silent_workers() -> int:
    """Workers that stopped saying they are alive: their calls are marked failed."""
    return workers_reap()


@shared_task(name="voice.tasks.call_hang_up")
def call_hang_up(session_id: str, reason: str) -> None:
    """The session ended in Parley (by the API, or its limits): the worker ends the call."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        return
    hang_up(session=session, reason=reason)
    with transaction.atomic():
        Session.objects.filter(pk=session_id).update(worker=None)
