from uuid import UUID

from celery import Task, shared_task
from django.utils import timezone

# Above the LLM's timeouts, for a slow local model; a run cut off is taken up by the reconciler.
ANALYSIS_SOFT_TIME_LIMIT, ANALYSIS_TIME_LIMIT = 300, 330


@shared_task(
    bind=True,
    max_retries=None,  # the attempts are counted in the database
    soft_time_limit=ANALYSIS_SOFT_TIME_LIMIT,
    time_limit=ANALYSIS_TIME_LIMIT,
)
def analyse_session(self: Task, analysis_id: str, run: int) -> str | None:
    """Analyse an ended session; a failure of the LLM worth retrying is tried again after
    ANALYSIS_RETRY_BASE_SECONDS, doubling, up to ANALYSIS_MAX_ATTEMPTS attempts."""
    from .services import analysis_run

    analysis = analysis_run(analysis_id=UUID(analysis_id), run=run)
    if analysis is None:
        return None
    if analysis.next_attempt_at is not None:
        wait = (analysis.next_attempt_at - timezone.now()).total_seconds()
        raise self.retry(args=(analysis_id, run), countdown=max(wait, 0))
    return analysis.status


@shared_task
def reconcile_analyses() -> int:
    """Queue again the analyses that were lost on the way, and analyse ended sessions that
    never got one."""
    from .services import analyses_reconcile

    return analyses_reconcile()
