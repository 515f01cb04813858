"""Two starts of one single-use agent at the same moment: the database lets exactly one win."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from agents.configuration import AgentConfiguration
from agents.models import AgentKind
from sessions.models import Session
from tests.factories import AgentFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="a race between connections needs a server database (PostgreSQL)",
    ),
]


@pytest.mark.parametrize("attempt", range(5))
def test_concurrent_starts_of_a_single_use_agent_let_exactly_one_through(
    attempt: int, settings: Any
) -> None:
    settings.SESSION_STARTS_PER_ADDRESS_PER_MINUTE = 1000  # every start comes from 127.0.0.1
    config = AgentConfiguration.model_validate({"llm": {"first_message": ""}}).as_document()
    agent = AgentFactory(
        publish_status="public",
        kind=AgentKind.SINGLE_USE,
        expires_at=timezone.now() + timedelta(minutes=5),
        configuration=config,
    )
    barrier, statuses = threading.Barrier(4), []

    def start() -> None:
        barrier.wait()
        try:
            r = Client().post(
                "/v1/start-agent-session",
                {"agentId": str(agent.id), "mode": "chat"},
                "application/json",
            )
            statuses.append(r.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 410, 410, 410]
    assert Session.objects.filter(agent=agent).count() == 1
