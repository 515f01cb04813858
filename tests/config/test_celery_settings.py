"""How background jobs are wired from the environment: a file broker under var/ for the embedded
default, Redis with short timeouts otherwise, and the callbacks' signing secret."""

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

PRINT_CELERY = (
    "import json, django; django.setup(); from django.conf import settings; "
    "from config.celery import app; c = app.conf; "
    "print(json.dumps({'broker': c.broker_url, 'eager': c.task_always_eager, "
    "'options': c.broker_transport_options, 'retry': c.task_publish_retry_policy, "
    "'beat': c.beat_schedule_filename, 'secret': settings.CALLBACK_SIGNING_SECRET}))"
)


def celery_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_"))}
    clean.pop("CALLBACK_SIGNING_SECRET", None)
    return subprocess.run(
        [sys.executable, "-c", PRINT_CELERY],
        env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings.base"} | env,
        capture_output=True,
        text=True,
        check=False,
    )


def _conf(**env: str) -> dict[str, Any]:
    result = celery_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_redis_jobs_go_through_files_to_a_real_worker() -> None:
    conf = _conf()
    assert conf["broker"] == "filesystem://localhost/"
    assert conf["eager"] is False
    queue = conf["options"]["data_folder_in"]
    assert queue == conf["options"]["data_folder_out"]
    assert queue.endswith(os.path.join("var", "celery", "queue"))
    assert os.path.isdir(queue)
    assert conf["beat"].endswith(os.path.join("var", "celerybeat-schedule"))


def test_with_redis_a_publish_gives_up_quickly() -> None:
    conf = _conf(REDIS_URL="redis://redis.internal:6379/0")
    assert conf["broker"] == "redis://redis.internal:6379/0"
    assert conf["eager"] is False
    assert conf["options"] == {"socket_connect_timeout": 2, "socket_timeout": 2}
    assert conf["retry"] == {"max_retries": 0}


def test_the_callback_secret_is_derived_from_the_secret_key_unless_set() -> None:
    derived = _conf(SECRET_KEY="one key")["secret"]
    assert derived.startswith("whsec_")
    Webhook(derived).sign("msg_1", datetime.now(UTC), "{}")  # a key the library accepts
    assert _conf(SECRET_KEY="another key")["secret"] != derived
    chosen = "whsec_" + base64.b64encode(b"k" * 32).decode()
    assert _conf(CALLBACK_SIGNING_SECRET=chosen)["secret"] == chosen


def test_a_callback_secret_that_is_not_base64_stops_start_up() -> None:
    result = celery_settings(CALLBACK_SIGNING_SECRET="not a secret!")
    assert result.returncode != 0
    assert "CALLBACK_SIGNING_SECRET" in result.stderr
