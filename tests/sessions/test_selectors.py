import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sessions.models import EventKind, Session, SessionEvent, SessionStatus, SessionType
from sessions.selectors import (
    Cursor,
    InvalidCursor,
    SessionFilters,
    session_filter_agents,
    session_list,
    session_timeline,
)
from sessions.services import session_create, session_event_append
from tests.conftest import Cast
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NONE = SessionFilters()
SOME_ID = uuid.UUID("5e55a0b1-0000-4000-8000-000000000001")  # fixed: test ids must not vary


def _newest_first(sessions: list[Session]) -> list[uuid.UUID]:
    return [s.id for s in sorted(sessions, key=lambda s: (s.started_at, s.id), reverse=True)]


def _walk_older(team: object, size: int, filters: SessionFilters = NONE) -> list[list[uuid.UUID]]:
    pages, cursor = [], None
    while True:
        page = session_list(team=team, filters=filters, cursor=cursor, size=size)
        pages.append([s.id for s in page.sessions])
        if page.older is None:
            return pages
        cursor = page.older


@pytest.fixture
def crowded(cast: Cast) -> list[Session]:
    """Nine sessions, five of them started at the very same instant, one in another team."""
    agent = AgentFactory(team=cast.team)
    same = [SessionFactory(agent=agent, started_at=NOON) for _ in range(5)]
    spread = [SessionFactory(agent=agent, started_at=NOON + timedelta(minutes=m)) for m in (-2, 1)]
    spread += [SessionFactory(agent=agent, started_at=NOON - timedelta(days=1)) for _ in range(2)]
    SessionFactory(agent=AgentFactory(team=cast.other_team), started_at=NOON)
    return same + spread


@pytest.mark.parametrize("size", [1, 2, 3, 4, 9, 25])
def test_pages_hold_every_session_once_in_order_even_with_equal_start_times(
    cast: Cast, crowded: list[Session], size: int
) -> None:
    pages = _walk_older(cast.team, size)
    assert [i for page in pages for i in page] == _newest_first(crowded)
    assert all(len(page) == size for page in pages[:-1])


def test_newer_links_walk_back_through_the_same_pages(cast: Cast, crowded: list[Session]) -> None:
    forward = _walk_older(cast.team, 2)
    page = session_list(team=cast.team, filters=NONE, size=2)
    while page.older is not None:
        page = session_list(team=cast.team, filters=NONE, cursor=page.older, size=2)
    backward = [[s.id for s in page.sessions]]
    while page.newer is not None:
        page = session_list(team=cast.team, filters=NONE, cursor=page.newer, size=2)
        backward.insert(0, [s.id for s in page.sessions])
    assert backward == forward


def test_the_first_page_has_no_newer_link_and_the_last_no_older(
    cast: Cast, crowded: list[Session]
) -> None:
    first = session_list(team=cast.team, filters=NONE, size=4)
    assert first.newer is None
    assert first.older is not None
    last = session_list(team=cast.team, filters=NONE, cursor=first.older, size=5)
    assert len(last.sessions) == 5
    assert last.older is None
    assert last.newer is not None


def test_a_page_past_the_end_is_empty_with_no_links(cast: Cast, crowded: list[Session]) -> None:
    past = Cursor(NOON - timedelta(days=30), uuid.uuid4(), older=True)
    page = session_list(team=cast.team, filters=NONE, cursor=past)
    assert (page.sessions, page.newer, page.older) == ([], None, None)


def test_it_lists_only_the_teams_sessions(cast: Cast) -> None:
    mine = SessionFactory(agent=AgentFactory(team=cast.team))
    SessionFactory(agent=AgentFactory(team=cast.other_team))
    assert [s.id for s in session_list(team=cast.team, filters=NONE).sessions] == [mine.id]


def test_another_teams_agent_filters_to_nothing(cast: Cast) -> None:
    theirs = AgentFactory(team=cast.other_team)
    SessionFactory(agent=theirs)
    filters = SessionFilters(agent_id=theirs.id)
    assert session_list(team=cast.team, filters=filters).sessions == []


def test_each_filter_narrows_the_list(cast: Cast) -> None:
    support, sales = AgentFactory(team=cast.team), AgentFactory(team=cast.team)
    a = SessionFactory(agent=support, status="failed", type="voice", started_at=NOON)
    b = SessionFactory(agent=sales, status="stopped", type="chat", started_at=NOON)
    c = SessionFactory(
        agent=sales, status="failed", type="chat", started_at=NOON - timedelta(days=3)
    )

    def ids(**filters: object) -> set[uuid.UUID]:
        found = session_list(team=cast.team, filters=SessionFilters(**filters)).sessions
        return {s.id for s in found}

    assert ids(agent_id=sales.id) == {b.id, c.id}
    assert ids(status=SessionStatus.FAILED) == {a.id, c.id}
    assert ids(type=SessionType.VOICE) == {a.id}
    assert ids(started_from=NOON) == {a.id, b.id}
    assert ids(started_before=NOON) == {c.id}
    assert ids(agent_id=sales.id, status=SessionStatus.FAILED) == {c.id}


def test_filters_apply_on_every_page(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    failed = [SessionFactory(agent=agent, status="failed", started_at=NOON) for _ in range(5)]
    SessionFactory.create_batch(5, agent=agent, status="stopped", started_at=NOON)
    pages = _walk_older(cast.team, 2, SessionFilters(status="failed"))
    assert [i for page in pages for i in page] == _newest_first(failed)


def test_a_cursor_survives_its_link() -> None:
    cursor = Cursor(NOON.replace(microsecond=123456), uuid.uuid4(), older=False)
    token = cursor.encode()
    assert "=" not in token
    assert "|" not in token
    assert Cursor.decode(token) == cursor


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "not base64 at all!",
        _b64("o|2026-11-20T12:00:00+00:00"),  # no id
        _b64("o|yesterday|" + SOME_ID.hex),
        _b64("o|2026-11-20T12:00:00|" + SOME_ID.hex),  # no time zone
        _b64("o|2026-11-20T12:00:00+00:00|not-a-uuid"),
        _b64("sideways|2026-11-20T12:00:00+00:00|" + SOME_ID.hex),
        _b64("o|0001-01-01T00:00:00+05:00|" + SOME_ID.hex),  # before the first UTC year
        base64.urlsafe_b64encode(b"\xff\xfe|\x00").decode(),
        "A" * 5000,
    ],
)
def test_a_damaged_cursor_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursor, match="damaged"):
        Cursor.decode(token)


def test_filter_agents_are_the_teams_by_name(cast: Cast) -> None:
    zed, abe = AgentFactory(team=cast.team, name="Zed"), AgentFactory(team=cast.team, name="Abe")
    AgentFactory(team=cast.other_team, name="Other")
    assert session_filter_agents(team=cast.team) == [(abe.id, "Abe"), (zed.id, "Zed")]


def test_the_timeline_is_every_event_in_order_in_one_query(
    cast: Cast, django_assert_num_queries
) -> None:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    for n in range(30):
        session_event_append(session=session, kind=EventKind.MESSAGE, data={"text": str(n)})
    other = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    with django_assert_num_queries(1):
        timeline = session_timeline(session=session)
    assert [e.seq for e in timeline] == list(range(1, 32))
    assert not SessionEvent.objects.filter(session=other).filter(pk__in=[e.pk for e in timeline])
