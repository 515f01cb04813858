from uuid import UUID

from celery import Task, shared_task
from django.utils import timezone


@shared_task
def end_expired_sessions() -> int:
    """End the sessions left open past their agent's idle timeout or maximum duration."""
    from .services import sessions_end_expired

    return sessions_end_expired()


@shared_task(bind=True, max_retries=None)  # the attempts are counted in the database
def deliver_end_of_conversation(self: Task, session_id: str, attempt: int = 1) -> str | None:
    """POST the session's end-of-conversation callback; a failure worth retrying is tried again
    after CALLBACK_RETRY_BASE_SECONDS, doubling, up to CALLBACK_MAX_ATTEMPTS attempts."""
    from .callbacks import session_callback_deliver

    delivery = session_callback_deliver(session_id=UUID(session_id), attempt=attempt)
    if delivery is None:
        return None
    if delivery.next_attempt_at is not None:
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        raise self.retry(args=(session_id, attempt + 1), countdown=max(wait, 0))
    return delivery.outcome


@shared_task
def reconcile_queued_jobs() -> int:
    """Queue again the jobs whose message never reached the broker, or was lost with a worker:
    end-of-conversation callbacks and async tool calls. The number queued."""
    from config.celery import enqueue
    from tools.selectors import tool_executions_stranded
    from tools.tasks import tool_execution_run

    from .callbacks import callbacks_unsent

    queued = [enqueue(deliver_end_of_conversation, *job) for job in callbacks_unsent()]
    queued += [enqueue(tool_execution_run, pk) for pk in tool_executions_stranded()]
    return sum(queued)
