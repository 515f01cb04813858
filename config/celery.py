"""The Celery app, and how the rest of Parley hands it work: after the commit, and never letting
a broker that is down fail or stall the request that asked. A job that could not be queued is
still in the database (a pending call, an ended session without a callback attempt), and the
periodic reconciler (sessions.tasks.reconcile_queued_jobs) queues it again."""

import logging
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, Task
from django.db import transaction
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "control_folder", "processed_folder")
# After a failed publish, this process leaves jobs to the reconciler for this long rather than
# making each request wait out the broker's timeout again.
BROKER_BACKOFF_SECONDS = 10.0
_broker_down_until = 0.0


@app.on_after_configure.connect
def _make_folders(sender: Celery, **kwargs: Any) -> None:
    """The embedded default's file broker and beat's schedule file need their folders."""
    conf = sender.conf
    folders = [Path(conf.beat_schedule_filename).parent]
    if str(conf.broker_url).startswith("filesystem:"):
        options = conf.broker_transport_options or {}
        folders += [Path(options[key]) for key in FOLDER_OPTIONS if key in options]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


def enqueue(task: Task, *args: Any) -> bool:
    """Send the task to the broker now. False, and logged, when the broker cannot take it: the
    caller carries on, and the reconciler queues the job again from the database."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until and not task.app.conf.task_always_eager:
        logger.warning(
            "The broker was down a moment ago; %s%r is left to the reconciler", task.name, args
        )
        return False
    try:
        task.apply_async(args)
    except OperationalError as exc:  # kombu's word for "could not reach the broker"
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("Could not queue %s%r (%s); the reconciler will", task.name, args, exc)
        return False
    return True


def enqueue_on_commit(task: Task, *args: Any) -> None:
    """Queue the task once the current transaction commits (at once outside one), so a worker
    never looks for rows that are not there yet."""
    transaction.on_commit(lambda: enqueue(task, *args))
