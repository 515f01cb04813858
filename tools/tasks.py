from uuid import UUID

from asgiref.sync import async_to_sync
from celery import shared_task
from django.conf import settings
from django.utils import timezone

# A tool may take up to 300 s (Tool.timeout_seconds), longer than other tasks' limits. A call cut
# off by the hard limit is left running, and the recovery sweep makes it again.
TOOL_CALL_SOFT_TIME_LIMIT = 300 + 30
TOOL_CALL_TIME_LIMIT = 300 + 60


@shared_task(soft_time_limit=TOOL_CALL_SOFT_TIME_LIMIT, time_limit=TOOL_CALL_TIME_LIMIT)
def tool_execution_run(execution_id: str) -> None:
    """Make a queued call of an async tool and record its result."""
    from .execution import tool_execution_complete

    async_to_sync(tool_execution_complete)(execution_id=UUID(execution_id))


@shared_task
def prune_tool_executions() -> int:
    """Delete tool call records older than TOOL_EXECUTION_RETENTION."""
    from .services import tool_executions_prune

    return tool_executions_prune(older_than=timezone.now() - settings.TOOL_EXECUTION_RETENTION)


@shared_task
def recover_tool_executions() -> int:
    """Queue again the async tool calls whose worker died mid-call, and record as failed those
    tried TOOL_EXECUTION_MAX_ATTEMPTS times. The number of calls queued or given up."""
    from .services import tool_executions_recover

    recovery = tool_executions_recover()
    return len(recovery.requeued) + len(recovery.given_up)
