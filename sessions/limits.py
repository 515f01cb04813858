"""Abuse limits. Rates are counted in the cache (Redis when configured, so every web process
shares them): session starts per agent and per client address each calendar minute, and what
other modules count with `window_hit` (bad API keys, sign-ups). Sessions running at once are
counted in the database, which knows: a team's, and of those the anonymous ones (started
without a key or sign-in) per agent, per client address and per team, so that anonymous starts
alone can neither fill the team's cap nor one visitor take an agent's every place."""

import hashlib
import hmac
import ipaddress
import time
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from parley.errors import ParleyError

from .models import Session, SessionStatus

LIVE = (SessionStatus.STARTING, SessionStatus.RUNNING)


class TooManyRequests(ParleyError):
    """429; `retry_after` seconds go out as the Retry-After header and in `details`."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


def client_ip(request: HttpRequest) -> str:
    """The client's address: the connection's, or behind TRUSTED_PROXY_COUNT reverse proxies the
    one the farthest proxy saw. Entries left of that one are the client's to write: never read."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    return hops[-proxies] if len(hops) >= proxies else remote


def address_key(client_ip: str) -> str:
    """What limits count an address by: an IPv6 address by its /64, which one home or one
    server holds whole (counting each address would give an attacker 2**64 of them)."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


def visitor_key(client_ip: str) -> str:
    """How an anonymous session records its starter's address: keyed and cut short, so that
    a team reading its sessions' timelines cannot read its visitors' addresses."""
    address = address_key(client_ip)
    if not address:
        return ""
    digest = hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def window_hit(key: str, *, limit: int, window: int = 60, count: bool = True) -> int:
    """Count one event in this window; the seconds until the window ends if that event is over
    `limit`, else 0. `count`=False only asks whether `limit` events are counted already (so the
    next would be over). A cache that is down limits nothing."""
    now = time.time()
    bucket = f"parley:limit:{key}:{int(now // window)}"
    try:
        if count:
            cache.add(bucket, 0, timeout=window * 2)
            seen = cache.incr(bucket)
        else:
            seen = int(cache.get(bucket) or 0) + 1
    except Exception:  # a cache that is down must not stop conversations or sign-ins
        return 0
    return int(window - now % window) + 1 if seen > limit else 0


def session_start_limits_check(*, agent_id: str, client_ip: str) -> None:
    limit = settings.SESSION_STARTS_PER_AGENT_PER_MINUTE
    if wait := window_hit(f"agent:{agent_id}", limit=limit):
        raise TooManyRequests(
            "This agent is starting too many sessions right now; try again in a minute.",
            retry_after=wait,
        )
    address = address_key(client_ip)
    limit = settings.SESSION_STARTS_PER_ADDRESS_PER_MINUTE
    if address and (wait := window_hit(f"ip:{address}", limit=limit)):
        raise TooManyRequests(
            "Too many sessions were started from your address; try again in a minute.",
            retry_after=wait,
        )


def _anonymous_live(**where: object) -> int:
    """How many running sessions an anonymous visitor started (their first event names the
    visitor), among those `where` picks. One filter() call: one join, to that first event."""
    return Session.objects.filter(
        status__in=LIVE, events__seq=1, events__data__has_key="visitor", **where
    ).count()


def _anonymous_capacity_check(*, team_id: int, agent_id: UUID, visitor: str) -> None:
    if _anonymous_live(team_id=team_id) >= settings.SESSION_ANONYMOUS_MAX_PER_TEAM:
        raise TooManyRequests(
            "This team has as many conversations with visitors running as it may have at "
            "once; try again when one has ended."
        )
    if _anonymous_live(agent_id=agent_id) >= settings.SESSION_ANONYMOUS_MAX_PER_AGENT:
        raise TooManyRequests(
            "This agent has as many conversations with visitors running as it may have at "
            "once; try again when one has ended."
        )
    limit = settings.SESSION_ANONYMOUS_MAX_PER_ADDRESS
    if visitor and _anonymous_live(events__data__visitor=visitor) >= limit:
        raise TooManyRequests(
            "You have as many conversations open as one address may have at once; "
            "end one, or try again when one has ended."
        )


def session_capacity_check(*, team_id: int, agent_id: UUID, visitor: str | None) -> None:
    """Refuse a start when the team has as many sessions running as it may (429). `visitor`:
    an anonymous starter's address key ("" when unknown), None for a keyed or signed-in one."""
    running = Session.objects.filter(team_id=team_id, status__in=LIVE).count()
    if running >= settings.SESSION_MAX_CONCURRENT_PER_TEAM:
        raise TooManyRequests(
            "This team has as many conversations running as it may have at once; "
            "try again when one has ended."
        )
    if visitor is not None:
        _anonymous_capacity_check(team_id=team_id, agent_id=agent_id, visitor=visitor)
