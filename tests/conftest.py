"""The fixed cast: a team with an owner, a member and a viewer, and an outsider in another team."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_httpserver import HTTPServer

from teams.models import ApiKey, ApiKeyScope, Role, Team, User

from .factories import ApiKeyFactory, MembershipFactory, TeamFactory, UserFactory
from .live_server import Door, shut_and_drained


@pytest.fixture(autouse=True)
def _uncounted() -> None:
    """Each test starts with no abuse limit counted: they count per address, in the cache,
    and every test client comes from the same address."""
    cache.clear()


@pytest.fixture(autouse=True)
def _live_server_door(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test using the live server opens its door, and shuts it at its end before its
    database is emptied (`tests/live_server.py`)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    httpd = request.getfixturevalue("live_server").thread.httpd
    Door.of(httpd).open.set()
    yield
    shut_and_drained(httpd)


@dataclass
class Cast:
    team: Team
    owner: User
    member: User
    viewer: User
    other_team: Team
    outsider: User
    key: ApiKey  # read-write, the team's
    read_only_key: ApiKey
    outsider_key: ApiKey  # read-write, the other team's


@pytest.fixture
def cast(db: None) -> Cast:
    team, other = TeamFactory(name="Acme"), TeamFactory(name="Globex")
    people = {role: MembershipFactory(team=team, role=role).user for role in Role}
    outsider = MembershipFactory(team=other, role=Role.OWNER).user
    return Cast(
        team=team,
        owner=people[Role.OWNER],
        member=people[Role.MEMBER],
        viewer=people[Role.VIEWER],
        other_team=other,
        outsider=outsider,
        key=ApiKeyFactory(team=team),
        read_only_key=ApiKeyFactory(team=team, scope=ApiKeyScope.READ_ONLY),
        outsider_key=ApiKeyFactory(team=other),
    )


def _json_client(**headers: str) -> Client:
    return Client(headers=headers)


@pytest.fixture
def api(cast: Cast) -> Client:
    """The team's read-write key, sent as x-api-key."""
    return _json_client(**{"x-api-key": cast.key.secret})


@pytest.fixture
def read_only_api(cast: Cast) -> Client:
    return _json_client(Authorization=f"Bearer {cast.read_only_key.secret}")


@pytest.fixture
def outsider_api(cast: Cast) -> Client:
    return _json_client(**{"x-api-key": cast.outsider_key.secret})


def signed_in(user: User) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


@pytest.fixture
def user_factory() -> type[UserFactory]:
    return UserFactory


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[HTTPServer]:
    """One threaded HTTP server on 127.0.0.1 for the whole run: webhook receivers, scripted
    LLMs. Threaded, so a slow handler does not hold up the next request."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver(loopback_server: HTTPServer, settings: Any) -> Iterator[HTTPServer]:
    """The loopback server, which the operator's allow-list lets Parley call (loopback is
    refused otherwise), cleared after the test."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    yield loopback_server
    loopback_server.clear()


def wait_until_logged(server: HTTPServer, count: int, timeout: float = 30) -> None:
    """Wait for a slow handler to finish, so its late entry lands in this test's log and not
    in the next test's. `timeout`: a safety net, not a measure."""
    deadline = time.monotonic() + timeout
    while len(server.log) < count and time.monotonic() < deadline:
        time.sleep(0.02)
