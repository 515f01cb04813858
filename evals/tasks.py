from uuid import UUID

from celery import shared_task

# A scenario is up to 50 turns, each an LLM's answer or two: generous, for a slow local model.
# A result cut off is settled as an error by the reconciler.
EVAL_SOFT_TIME_LIMIT, EVAL_TIME_LIMIT = 900, 960


@shared_task(soft_time_limit=EVAL_SOFT_TIME_LIMIT, time_limit=EVAL_TIME_LIMIT)
def play_eval_result(result_id: str) -> str | None:
    """Play one scenario x trial of an eval run and record how it went."""
    from .services import eval_result_play

    result = eval_result_play(result_id=UUID(result_id))
    return result.status if result is not None else None


@shared_task
def reconcile_evals() -> int:
    """Queue again the results whose message was lost; settle those whose worker died."""
    from .services import evals_reconcile

    return evals_reconcile()
