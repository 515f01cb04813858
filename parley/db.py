"""Database work from async code.

An async request that waits on the network (an LLM's stream, a webhook) should not hold a database
connection while it waits. With PostgreSQL's connection pool (`DB_POOL`, on in the ASGI process),
`database(fn)` hands the connection back to the pool as soon as `fn` is done, so a few connections
serve many conversations at once; without a pool it is plain `sync_to_async`, and the request
keeps its connection as Django's request cycle decides.
"""

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

P = ParamSpec("P")
R = TypeVar("R")


def connection_release() -> None:
    """Give this thread's pooled connection back, unless a transaction still needs it."""
    if connection.settings_dict["OPTIONS"].get("pool") and not connection.in_atomic_block:
        connection.close()


def database(fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`fn` run through `sync_to_async`, its pooled connection given back when it returns."""

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            connection_release()

    return sync_to_async(run)
