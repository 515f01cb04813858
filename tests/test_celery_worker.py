"""The Celery wiring, end to end: a real worker, fed through the real Redis broker, runs a task
against the test database. Runs when REDIS_URL and PostgreSQL are configured (as in CI)."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents.models import Agent, AgentKind
from agents.tasks import sweep_expired_agents
from config.celery import app
from tests.factories import AgentFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server (REDIS_URL)"),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the worker must share the test database, which SQLite keeps in memory",
    ),
]


@pytest.fixture
def worker() -> subprocess.Popen:
    test_db = connection.settings_dict
    url = (
        f"postgres://{test_db['USER']}:{test_db['PASSWORD'] or ''}@{test_db['HOST']}:"
        f"{test_db['PORT']}/{test_db['NAME']}"
    )
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", "celery"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


def test_a_real_worker_sweeps_expired_agents(worker: subprocess.Popen) -> None:
    old = AgentFactory(
        kind=AgentKind.SINGLE_USE,
        expires_at=timezone.now() - settings.SINGLE_USE_AGENT_RETENTION - timedelta(hours=1),
    )
    app.conf.task_always_eager = False
    try:
        sweep_expired_agents.delay()
    finally:
        app.conf.task_always_eager = True
    deadline = time.monotonic() + 30
    while Agent.objects.filter(id=old.id).exists():
        assert time.monotonic() < deadline, "the worker did not run the task within 30 s"
        time.sleep(0.2)
