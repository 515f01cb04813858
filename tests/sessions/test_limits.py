"""Anonymous starts cannot deny service: they are capped per agent, per address and per team
(leaving room for keyed starts), and one in which the visitor says nothing ends early."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client, RequestFactory
from django.utils import timezone

from agents.models import Agent
from sessions.limits import address_key, client_ip
from sessions.models import Session, SessionStatus
from sessions.services import session_end, sessions_end_expired
from tests.conftest import Cast
from tests.llm_server import ScriptedLLM, says

from .test_api import an_agent, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm(receiver: Any) -> ScriptedLLM:
    return ScriptedLLM(receiver)


def start(agent: Agent, address: str, **headers: str) -> Any:
    return Client(REMOTE_ADDR=address).post(
        "/v1/start-agent-session",
        {"agentId": str(agent.id), "mode": "chat"},
        content_type="application/json",
        headers=headers,
    )


def addresses(n: int) -> list[str]:
    return [f"198.51.100.{i}" for i in range(1, n + 1)]


def test_fifty_anonymous_starts_from_five_addresses_leave_room_for_others(
    cast: Cast, llm: ScriptedLLM
) -> None:
    target, other = an_agent(cast, llm), an_agent(cast, llm)
    # Within one minute's window: the start rates count per calendar minute.
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        codes = [start(target, address).status_code for address in addresses(5) * 10]
        visitor = start(other, "203.0.113.50")
        keyed = start(target, "192.0.2.10", **{"x-api-key": cast.key.secret})  # the team server
    # Five running sessions an address would be 25: the agent's cap of 20 comes first.
    assert codes.count(200) == 20
    assert set(codes) == {200, 429}
    assert visitor.status_code == 200
    assert keyed.status_code == 200


def test_an_agent_takes_so_many_anonymous_sessions_and_no_more(
    cast: Cast, llm: ScriptedLLM, settings: Any
) -> None:
    settings.SESSION_ANONYMOUS_MAX_PER_AGENT = 3
    agent = an_agent(cast, llm)
    codes = [start(agent, address).status_code for address in addresses(4)]
    assert codes == [200, 200, 200, 429]
    refused = start(agent, "203.0.113.1").json()
    assert refused["code"] == "rate_limited"
    assert "This agent has as many conversations with visitors" in refused["error"]
    assert start(an_agent(cast, llm), "203.0.113.1").status_code == 200  # another agent


def test_anonymous_starts_alone_cannot_fill_the_teams_cap(
    cast: Cast, llm: ScriptedLLM, settings: Any
) -> None:
    settings.SESSION_MAX_CONCURRENT_PER_TEAM = 4
    settings.SESSION_ANONYMOUS_MAX_PER_TEAM = 3
    agents = [an_agent(cast, llm) for _ in range(4)]
    codes = [
        start(agent, address).status_code
        for agent, address in zip(agents, addresses(4), strict=True)
    ]
    assert codes == [200, 200, 200, 429]
    assert start(agents[3], "203.0.113.1", **{"x-api-key": cast.key.secret}).status_code == 200
    # Now the team is full, for everyone.
    assert start(agents[3], "203.0.113.1", **{"x-api-key": cast.key.secret}).status_code == 429


def test_an_address_gets_its_place_back_when_one_of_its_sessions_ends(
    cast: Cast, llm: ScriptedLLM, settings: Any
) -> None:
    settings.SESSION_ANONYMOUS_MAX_PER_ADDRESS = 2
    agent = an_agent(cast, llm)
    first = start(agent, "198.51.100.1").json()["sessionId"]
    assert start(agent, "198.51.100.1").status_code == 200
    refused = start(agent, "198.51.100.1")
    assert refused.status_code == 429
    assert "one address" in refused.json()["error"]
    session_end(session=Session.objects.get(id=first), reason="ended by the client")
    assert start(agent, "198.51.100.1").status_code == 200


def test_an_ipv6_visitor_is_counted_by_their_64(
    cast: Cast, llm: ScriptedLLM, settings: Any
) -> None:
    settings.SESSION_ANONYMOUS_MAX_PER_ADDRESS = 2
    agent = an_agent(cast, llm)
    codes = [start(agent, f"2001:db8:1:2::{n}").status_code for n in range(1, 4)]
    assert codes == [200, 200, 429]
    assert start(agent, "2001:db8:1:3::1").status_code == 200


def test_the_visitors_address_is_not_kept_in_the_clear(cast: Cast, llm: ScriptedLLM) -> None:
    session_id = start(an_agent(cast, llm), "198.51.100.77").json()["sessionId"]
    first = Session.objects.get(id=session_id).events.get(seq=1).data
    assert first["visitor"]
    assert "198.51.100.77" not in str(first)


# Ending early: an anonymous start in which nothing was said.


def _started(agent: Agent, **headers: str) -> tuple[Session, str]:
    body = start(agent, "198.51.100.9", **headers).json()
    return Session.objects.get(id=body["sessionId"]), body["sessionToken"]


def test_an_anonymous_session_with_no_message_is_ended_after_a_minute(
    cast: Cast, llm: ScriptedLLM
) -> None:
    agent = an_agent(cast, llm)
    silent, _ = _started(agent)
    keyed, _ = _started(agent, **{"x-api-key": cast.key.secret})
    assert sessions_end_expired(now=timezone.now() + timedelta(seconds=50)) == 0
    assert sessions_end_expired(now=timezone.now() + timedelta(seconds=61)) == 1
    silent.refresh_from_db()
    assert (silent.status, silent.end_reason) == (SessionStatus.STOPPED, "idle_timeout")
    keyed.refresh_from_db()
    assert keyed.status == SessionStatus.RUNNING  # a keyed start has the agent's idle timeout


def test_an_anonymous_session_in_which_the_visitor_spoke_keeps_the_agents_idle_timeout(
    cast: Cast, llm: ScriptedLLM
) -> None:
    llm.will(says("Hello there."))
    session, token = _started(an_agent(cast, llm))
    assert send(str(session.id), "Hi", token).status_code == 200
    assert sessions_end_expired(now=timezone.now() + timedelta(seconds=120)) == 0
    assert sessions_end_expired(now=timezone.now() + timedelta(seconds=301)) == 1


def test_the_early_end_is_a_setting(cast: Cast, llm: ScriptedLLM, settings: Any) -> None:
    settings.SESSION_ANONYMOUS_SILENT_SECONDS = 200
    _started(an_agent(cast, llm))
    assert sessions_end_expired(now=timezone.now() + timedelta(seconds=120)) == 0
    assert sessions_end_expired(now=timezone.now() + timedelta(seconds=201)) == 1


# The client's address.


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.1", "10.0.0.1"),  # no proxy trusted: the header is the client's to write
        (1, "203.0.113.1", "203.0.113.1"),
        (1, "6.6.6.6, 203.0.113.1", "203.0.113.1"),  # what the client put first is ignored
        (2, "6.6.6.6, 203.0.113.1, 10.0.0.2", "203.0.113.1"),
        (2, "203.0.113.1", "10.0.0.1"),  # fewer hops than proxies: the connection's
    ],
)
def test_the_client_address_behind_trusted_proxies(
    settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_addresses_are_counted_ipv4_whole_and_ipv6_by_64() -> None:
    assert address_key("198.51.100.1") == "198.51.100.1"
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("::ffff:198.51.100.1") == "198.51.100.1"
    assert address_key("") == ""
