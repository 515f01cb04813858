from celery import shared_task


@shared_task
def sweep_expired_agents() -> int:
    """Delete single-use agents long expired. Expiry itself is enforced when an agent is read."""
    from .services import agents_delete_expired

    return agents_delete_expired()
