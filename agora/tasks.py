"""Agora's Celery tasks: thin, taking ids; the beat runs the sync (config/settings)."""

from celery import Task, shared_task

from parley.errors import ParleyError

# Leaves that Agora could not take are tried again after 5 s, 10 s, 20 s… (then the sync's).
LEAVE_RETRIES = 5


@shared_task(name="agora.tasks.sync_agora_sessions")
def sync_agora_sessions() -> dict[str, int]:
    """Follow open Agora sessions' remote agents; stop those of ended sessions."""
    from .services import agora_sessions_sync

    return agora_sessions_sync()


@shared_task(name="agora.tasks.leave_agora_agent", bind=True, max_retries=LEAVE_RETRIES)
def leave_agora_agent(self: Task, session_id: str) -> bool:
    """Stop the Agora agent of a session that has ended (agora.services.agora_leave_later)."""
    from .services import agora_session_leave

    try:
        return agora_session_leave(session_id=session_id)
    except ParleyError as exc:
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
