"""The Daily rooms' Celery tasks, named as voice.tasks (the beat schedule's names)."""

from celery import shared_task

__all__ = ["delete_daily_room", "sync_daily_rooms"]


@shared_task(name="voice.tasks.sync_daily_rooms")
def sync_daily_rooms() -> dict[str, int]:
    """End the Daily calls whose room emptied; delete the rooms of ended calls."""
    from .daily_sweep import daily_rooms_sync

    return daily_rooms_sync()


@shared_task(name="voice.tasks.delete_daily_room")
def delete_daily_room(session_id: str) -> bool:
    """Delete the room of a call that has ended (voice.daily.daily_room_release_later)."""
    from .daily_sweep import daily_session_room_delete

    return daily_session_room_delete(session_id=session_id)
