"""`manage.py localllm`, as the Procfile runs it: it serves until stopped, stops cleanly, and a
model it cannot serve is one line saying why."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.loopback import free_port


def manage(*args: str, **env: str) -> subprocess.Popen[str]:
    environ = os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings.base"} | env
    return subprocess.Popen(
        [sys.executable, "manage.py", "localllm", *args],
        cwd=settings.BASE_DIR,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.local_llm
def test_it_serves_until_stopped_and_stops_cleanly() -> None:
    port = free_port()
    server = manage("--port", str(port))
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"Local LLM at http://127.0.0.1:{port}/v1"
        health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10)
        assert health.json() == {"status": "ok"}
        server.send_signal(signal.SIGTERM)  # as honcho stops it on Ctrl-C
        _, errors = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0
    assert errors == ""


def test_a_model_it_cannot_read_is_one_line_saying_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    server = manage("--port", str(free_port()), LOCAL_LLM_MODEL=str(missing))
    _, errors = server.communicate(timeout=60)
    assert server.returncode == 1
    assert errors.strip() == (
        f"CommandError: The local model {missing} cannot be read (No such file or directory): "
        "check LOCAL_LLM_MODEL."
    )


def test_under_honcho_a_model_it_cannot_read_is_said_and_the_others_keep_running(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere.gguf"
    server = manage("--wait-on-error", "--port", str(free_port()), LOCAL_LLM_MODEL=str(missing))
    try:
        assert server.stderr is not None
        said = server.stderr.readline().strip()
        assert said.startswith(f"Local LLM not started: The local model {missing} cannot be")
        assert server.poll() is None  # still running: honcho would stop everything otherwise
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0
