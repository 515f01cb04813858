from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from activity.services import SYSTEM
from agents.services import agent_delete
from parley.errors import Conflict
from sessions.models import EventKind, Session, SessionEvent, SessionStatus, SessionType
from sessions.services import session_create, session_event_append, session_status_set
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db

STARTING, RUNNING, STOPPING, STOPPED, FAILED = (
    SessionStatus.STARTING,
    SessionStatus.RUNNING,
    SessionStatus.STOPPING,
    SessionStatus.STOPPED,
    SessionStatus.FAILED,
)


def timeline(session: Session) -> list[tuple[int, str, dict]]:
    return list(session.events.order_by("seq").values_list("seq", "kind", "data"))


def test_session_create_copies_the_agent_and_records_that_it_is_starting() -> None:
    agent = AgentFactory(name="Support")
    session = session_create(agent=agent, type=SessionType.VOICE, metadata={"user": "u1"})
    session.refresh_from_db()
    assert (session.team, session.agent, session.agent_name) == (agent.team, agent, "Support")
    assert (session.type, session.status) == (SessionType.VOICE, STARTING)
    assert session.metadata == {"user": "u1"}
    assert timeline(session) == [(1, "status_change", {"status": "starting"})]
    assert session.last_event_seq == 1


def test_events_are_numbered_without_gaps() -> None:
    session = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    second = session_event_append(session=session, kind=EventKind.MESSAGE, data={"text": "hi"})
    third = session_event_append(session=session, kind=EventKind.METRIC, data={"ms": 12})
    assert (second.seq, third.seq) == (2, 3)
    assert [seq for seq, _, _ in timeline(session)] == [1, 2, 3]
    assert Session.objects.get(pk=session.pk).last_event_seq == 3


def test_numbering_continues_from_the_database_not_a_stale_copy() -> None:
    session = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    stale = Session.objects.get(pk=session.pk)
    session_event_append(session=session, kind=EventKind.MESSAGE, data={})
    event = session_event_append(session=stale, kind=EventKind.MESSAGE, data={})
    assert event.seq == 3


def test_each_session_numbers_its_own_events() -> None:
    one = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    two = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    session_event_append(session=one, kind=EventKind.MESSAGE, data={})
    event = session_event_append(session=two, kind=EventKind.MESSAGE, data={})
    assert event.seq == 2


def test_a_session_runs_its_whole_lifecycle() -> None:
    session = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    for status in (RUNNING, STOPPING):
        session_status_set(session=session, status=status)
        assert Session.objects.get(pk=session.pk).ended_at is None
    ended = timezone.now().replace(microsecond=0)
    with time_machine.travel(ended, tick=False):
        session_status_set(session=session, status=STOPPED, reason="user hung up")
    session.refresh_from_db()
    assert session.status == STOPPED
    assert session.is_over
    assert (session.ended_at, session.end_reason) == (ended, "user hung up")
    assert [data for _, _, data in timeline(session)] == [
        {"status": "starting"},
        {"status": "running", "from": "starting"},
        {"status": "stopping", "from": "running"},
        {"status": "stopped", "from": "stopping", "reason": "user hung up"},
    ]


def test_a_failure_ends_the_session_with_its_reason() -> None:
    session = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    session_status_set(session=session, status=RUNNING)
    session_status_set(session=session, status=FAILED, reason="LLM unreachable")
    session.refresh_from_db()
    assert session.status == FAILED
    assert session.ended_at is not None
    assert session.end_reason == "LLM unreachable"


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([RUNNING, STOPPED], RUNNING),
        ([FAILED], RUNNING),
        ([FAILED], STOPPED),
        ([RUNNING], STARTING),
        ([RUNNING], RUNNING),
        ([STOPPING], RUNNING),
    ],
)
def test_illegal_transitions_are_refused(path: list[SessionStatus], refused: SessionStatus) -> None:
    session = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    for status in path:
        session_status_set(session=session, status=status)
    events_before = SessionEvent.objects.filter(session=session).count()
    with pytest.raises(Conflict, match=f"cannot become {refused.value}"):
        session_status_set(session=session, status=refused)
    assert Session.objects.get(pk=session.pk).status == path[-1]
    assert SessionEvent.objects.filter(session=session).count() == events_before


def test_transitions_are_checked_against_the_database() -> None:
    session = session_create(agent=AgentFactory(), type=SessionType.CHAT)
    stale = Session.objects.get(pk=session.pk)
    session_status_set(session=session, status=STOPPED)
    with pytest.raises(Conflict):
        session_status_set(session=stale, status=RUNNING)
    assert Session.objects.get(pk=session.pk).status == STOPPED


def test_deleting_the_agent_keeps_its_sessions() -> None:
    agent = AgentFactory(name="Retired")
    session = session_create(agent=agent, type=SessionType.CHAT)
    older = SessionFactory(agent=agent, started_at=timezone.now() - timedelta(days=3))
    agent_delete(agent=agent, actor=SYSTEM)
    for kept in (session, older):
        kept.refresh_from_db()
        assert kept.agent is None
        assert kept.agent_name == "Retired"
    assert timeline(session) == [(1, "status_change", {"status": "starting"})]
