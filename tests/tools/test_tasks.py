from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import ToolFactory
from tools.models import ExecutionOutcome, ExecutionSource, ToolExecution
from tools.tasks import prune_tool_executions

pytestmark = pytest.mark.django_db


def test_the_periodic_prune_keeps_the_configured_retention(settings: Any) -> None:
    settings.TOOL_EXECUTION_RETENTION = timedelta(days=7)
    tool = ToolFactory()
    for days in (6, 8):
        ToolExecution.objects.create(
            team=tool.team,
            tool=tool,
            tool_name=tool.name,
            source=ExecutionSource.AGENT,
            outcome=ExecutionOutcome.SUCCESS,
            started_at=timezone.now() - timedelta(days=days),
        )
    assert prune_tool_executions.delay().get() == 1
    assert ToolExecution.objects.get().started_at > timezone.now() - timedelta(days=7)


def test_the_prune_is_scheduled(settings: Any) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert any(e["task"] == "tools.tasks.prune_tool_executions" for e in schedule.values())
