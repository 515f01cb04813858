"""Parley's ASGI process as `make run` starts it (uvicorn, config.asgi), for tests that need the
real server: on a free port of 127.0.0.1, on the test database, until the block ends."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.loopback import free_port

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The test database, as DATABASE_URL says it to another process."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_for(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


@contextmanager
def asgi_server(log: Path, **env: str) -> Iterator[str]:
    """Its base URL. Loopback is allowed as an outbound address, for the scripted LLM."""
    port = free_port()
    environ = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1",
    }
    environ.pop("DB_POOL", None)  # config.asgi's default: on
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env=environ | env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(server, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
