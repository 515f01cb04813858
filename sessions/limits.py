"""Abuse limits on starting sessions, counted in the cache (Redis when configured, so every web
process shares them): starts per agent and per client address in a sliding minute, and a cap on
a team's sessions running at once (counted in the database, which knows)."""

import time

from django.conf import settings
from django.core.cache import cache

from parley.errors import ParleyError


class TooManyRequests(ParleyError):
    status = 429
    code = "rate_limited"


def _hit(key: str, limit: int, window: int = 60) -> bool:
    """Count one start in this minute's window; True if it is over the limit."""
    bucket = f"parley:limit:{key}:{int(time.time() // window)}"
    try:
        cache.add(bucket, 0, timeout=window * 2)
        return cache.incr(bucket) > limit
    except Exception:  # a cache that is down must not stop conversations: no limit then
        return False


def session_start_limits_check(*, agent_id: str, client_ip: str) -> None:
    if _hit(f"agent:{agent_id}", settings.SESSION_STARTS_PER_AGENT_PER_MINUTE):
        raise TooManyRequests(
            "This agent is starting too many sessions right now; try again in a minute."
        )
    if client_ip and _hit(f"ip:{client_ip}", settings.SESSION_STARTS_PER_ADDRESS_PER_MINUTE):
        raise TooManyRequests(
            "Too many sessions were started from your address; try again in a minute."
        )
