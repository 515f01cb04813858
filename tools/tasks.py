from uuid import UUID

from asgiref.sync import async_to_sync
from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task
def tool_execution_run(execution_id: str) -> None:
    """Make a queued call of an async tool and record its result."""
    from .execution import tool_execution_complete

    async_to_sync(tool_execution_complete)(execution_id=UUID(execution_id))


@shared_task
def prune_tool_executions() -> int:
    """Delete tool call records older than TOOL_EXECUTION_RETENTION."""
    from .services import tool_executions_prune

    return tool_executions_prune(older_than=timezone.now() - settings.TOOL_EXECUTION_RETENTION)
