"""Who is calling the JSON API: an API key (x-api-key or Bearer) or a signed-in team member.

Bad keys are counted per client address: past API_KEY_FAILURES_PER_ADDRESS_PER_MINUTE in a
minute, every key from that address, right or wrong, is answered 429 until the minute ends, so
that a guesser cannot tell a hit from a miss while refused, and cannot guess faster than that."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, APIKeyHeader, HttpBearer
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from activity.services import Actor
from parley.errors import Forbidden, Unauthorized
from sessions.limits import TooManyRequests, address_key, client_ip, window_hit

from .models import ApiKey, Team, User
from .selectors import api_key_for_secret, membership_current
from .services import api_key_touch

READ_ONLY_KEY = "This API key is read-only; create a read-write key to make changes."
VIEWER = "Your role in this team is viewer, which can read but not change anything."


@dataclass(frozen=True)
class Caller:
    team: Team
    can_write: bool
    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def actor(self) -> Actor:
        return Actor(user=self.user, api_key=self.api_key)


class ApiRequest(HttpRequest):
    auth: Caller


TOO_MANY_BAD_KEYS = (
    "Too many requests with a wrong API key came from your address; "
    "check the key, and try again in a minute."
)


def _bad_key_count(address: str, *, count: bool) -> None:
    """Count a bad key from `address` (or only look, `count`=False); 429 once over the limit."""
    limit = settings.API_KEY_FAILURES_PER_ADDRESS_PER_MINUTE
    if address and (wait := window_hit(f"bad-key:{address}", limit=limit, count=count)):
        raise TooManyRequests(TOO_MANY_BAD_KEYS, retry_after=wait)


def _caller_for_key(secret: str, *, write: bool, client_ip: str = "") -> Caller:
    address = address_key(client_ip)
    _bad_key_count(address, count=False)
    api_key = api_key_for_secret(secret.strip())
    if api_key is None or api_key.is_revoked:
        _bad_key_count(address, count=True)
    if api_key is None:
        raise Unauthorized("The API key is not valid. Check that it was copied whole.")
    if api_key.is_revoked:
        raise Unauthorized("This API key has been revoked; create a new one.")
    if write and not api_key.can_write:
        raise Forbidden(READ_ONLY_KEY)
    api_key_touch(api_key=api_key)
    return Caller(team=api_key.team, can_write=api_key.can_write, api_key=api_key)


@contextmanager
def bad_keys_counted(request: HttpRequest) -> Iterator[None]:
    """For secrets checked elsewhere (an agent's ak_ keys): 429 for an address over the limit,
    and an Unauthorized raised inside counted as one more bad key from it."""
    address = address_key(client_ip(request))
    _bad_key_count(address, count=False)
    try:
        yield
    except Unauthorized:
        _bad_key_count(address, count=True)
        raise


def caller_for_key(secret: str, *, write: bool, client_ip: str = "") -> Caller:
    """The caller an API key stands for; raises Unauthorized or Forbidden with the reason, or
    TooManyRequests when `client_ip` sent too many bad keys lately."""
    return _caller_for_key(secret, write=write, client_ip=client_ip)


class ApiKeyAuth(APIKeyHeader):
    """`x-api-key: pk_live_…`, as Agent Human's API takes it."""

    param_name = "x-api-key"

    def __init__(self, *, write: bool) -> None:
        super().__init__()
        self.write = write

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        if not key:
            return None
        return _caller_for_key(key, write=self.write, client_ip=client_ip(request))


class BearerAuth(HttpBearer):
    """`Authorization: Bearer pk_live_…`, as iwy's API takes it."""

    def __init__(self, *, write: bool) -> None:
        super().__init__()
        self.write = write

    def __call__(self, request: HttpRequest) -> Caller | None:
        # Parsed here rather than by the base class, which logs unexpected header values.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        if not token.strip():
            raise Unauthorized("The Authorization header has no key after 'Bearer'.")
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        return _caller_for_key(token, write=self.write, client_ip=client_ip(request))


class TeamSessionAuth(APIKeyCookie):
    """A person signed in to the dashboard, acting for their current team."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, *, write: bool) -> None:
        super().__init__(csrf=True)
        self.write = write

    def _get_key(self, request: HttpRequest) -> str | None:
        if self.param_name not in request.COOKIES:
            return None  # no session at all: let the 401 say a key is missing
        if check_csrf(request) is not None:
            raise Forbidden("CSRF check failed: send the X-CSRFToken header with your session.")
        return request.COOKIES[self.param_name]

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        user = request.user
        if not key or not user.is_authenticated:
            return None
        membership = membership_current(user=user, team_id=request.session.get("team_id"))
        if membership is None:
            raise Forbidden("You are not a member of any team yet.")
        if self.write and not membership.can_write:
            raise Forbidden(VIEWER)
        return Caller(team=membership.team, can_write=membership.can_write, user=user)


def api_auth(*, write: bool) -> list[AuthBase]:
    """The ways to call the API, tried in order; `write` refuses read-only callers with 403."""
    return [ApiKeyAuth(write=write), BearerAuth(write=write), TeamSessionAuth(write=write)]


READ = api_auth(write=False)
WRITE = api_auth(write=True)
