"""Pytest-django's live server between tests: a door that each test using it opens and shuts,
and the wait, at the test's end, for its requests and their database work to end.

A request that reaches the live server while pytest-django empties the tables after a
transactional test (a page's goodbye, sent with `keepalive` as the test's browser closes)
deadlocks with the emptying on PostgreSQL, and the test fails at its teardown. Behind the shut
door such a request gets a 503 and nothing of Parley runs."""

import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

WAIT_S = 30  # a safety net for a loaded machine, never a measure


class Door:
    """The live server's application behind a door: while it is shut, each request gets a 503."""

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self.application = application
        self.open = threading.Event()

    @classmethod
    def of(cls, httpd: Any) -> "Door":
        """The door of the live server's HTTP server, put in at the first call."""
        if not isinstance(httpd.get_app(), cls):
            httpd.set_app(cls(httpd.get_app()))
        door: Door = httpd.get_app()
        return door

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.open.is_set():
            return self.application(environ, start_response)
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"The test is over; the server takes no more requests for it."]


def shut_and_drained(httpd: Any) -> None:
    """Shut the door, then wait for the requests let in before (a reply still being recorded
    after the browser saw its last words) and for other connections' database work."""
    Door.of(httpd).open.clear()
    # A request let in before the door shut already has its thread in the list.
    for thread in list(getattr(httpd, "_threads", [])):
        thread.join(timeout=WAIT_S)
    database_quiet()


# Other connections to the test database with work under way (PostgreSQL): their state and
# statement.
BUSY = (
    "SELECT state, left(query, 200) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
)


def database_quiet() -> None:
    """Wait for other connections' work on the test database to end (a reply recorded off the
    request's thread, from a thread pool): the emptying that follows would deadlock with it.
    Work still under way when the wait ends is named in a warning, for the failure it causes."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline, busy = time.monotonic() + WAIT_S, []
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(BUSY)
            busy = cursor.fetchall()
            if not busy:
                return
            time.sleep(0.05)
    warnings.warn(f"The test database is still busy after the test: {busy}", stacklevel=1)
