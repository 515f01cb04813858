"""A real Celery worker for tests that queue tasks for real, as CI runs them: a process of its
own on the test database (PostgreSQL: SQLite's test database is not shared that way) with Redis
as the broker. Such tests are skipped without both."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

REAL_WORKER_MARKS = (
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server (REDIS_URL)"),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the worker must share the test database, which SQLite keeps in memory",
    ),
)


def through_a_real_worker(test: Callable[..., None]) -> Callable[..., None]:
    """Marks a test that needs the `celery_process` fixture its module defines."""
    for mark in (*REAL_WORKER_MARKS, pytest.mark.usefixtures("celery_process")):
        test = mark(test)
    return test


@contextmanager
def celery_worker(**env: str) -> Iterator[subprocess.Popen[bytes]]:
    """The worker, with these settings in its environment; tasks are queued meanwhile."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    environ = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    proc = subprocess.Popen(
        [*command, "-Q", "celery"],
        env=environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    celery_app.conf.task_always_eager = False
    try:
        yield proc
    finally:
        celery_app.conf.task_always_eager = True
        proc.terminate()
        proc.wait(timeout=20)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"the worker did not {what} within 30 s"
        time.sleep(0.2)
