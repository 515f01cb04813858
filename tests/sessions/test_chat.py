"""sessions.chat: one message at a time, claimed in the database, and the turn's bookkeeping."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from pytest_httpserver import HTTPServer

from agents.configuration import AgentConfiguration
from parley.errors import Conflict
from sessions.chat import ANSWERING, TURN_ABANDONED_AFTER, session_message, session_turn_begin
from sessions.engine import Turn
from sessions.models import EventKind, Session, SessionStatus, SessionType
from sessions.services import session_create, session_status_set
from tests.factories import AgentFactory
from tests.llm_server import Script, ScriptedLLM, says

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm(receiver: HTTPServer) -> ScriptedLLM:
    return ScriptedLLM(receiver)


@pytest.fixture
def session(llm: ScriptedLLM) -> Session:
    config = AgentConfiguration.model_validate(
        {"llm": {"custom_url": llm.base_url, "model": "m", "first_message": ""}}
    )
    started = session_create(agent=AgentFactory(configuration=config.as_document()), type="chat")
    assert started.type == SessionType.CHAT
    return started


def message(session: Session, content: str) -> Turn:
    return async_to_sync(session_message)(session=session, content=content)


def begin(session: Session, content: str) -> None:
    session_turn_begin(session_id=session.id, team=session.team, token=None, content=content)


def numbered(session: Session) -> list[tuple[int, str, Any]]:
    return [(e.seq, e.kind, e.data.get("role")) for e in session.events.order_by("seq")]


def test_a_message_and_its_reply_are_numbered_in_order_with_no_gap(
    session: Session, llm: ScriptedLLM
) -> None:
    llm.will(says("One."), says("Two."))
    message(session, "First?")
    message(session, "Second?")
    assert numbered(session) == [
        (1, EventKind.STATUS_CHANGE, None),  # started
        (2, EventKind.MESSAGE, "user"),
        (3, EventKind.MESSAGE, "assistant"),
        (4, EventKind.MESSAGE, "user"),
        (5, EventKind.MESSAGE, "assistant"),
    ]
    session.refresh_from_db()
    assert session.last_event_seq == 5
    assert session.replying_since is None


def test_a_message_while_the_agent_answers_is_refused_and_not_recorded(
    session: Session,
) -> None:
    Session.objects.filter(pk=session.pk).update(replying_since=timezone.now())
    with pytest.raises(Conflict) as refused:
        begin(session, "Hello?")
    assert refused.value.message == ANSWERING
    assert refused.value.details == {"reason": "answering"}
    assert not session.events.filter(kind=EventKind.MESSAGE).exists()


def test_a_turn_cut_off_long_ago_is_taken_over(session: Session, llm: ScriptedLLM) -> None:
    cut_off = timezone.now() - TURN_ABANDONED_AFTER - TURN_ABANDONED_AFTER / 10
    Session.objects.filter(pk=session.pk).update(replying_since=cut_off)
    llm.will(says("Back."))
    assert message(session, "Hello?").reply == "Back."


def test_an_ended_session_takes_no_message(session: Session) -> None:
    session_status_set(session=session, status=SessionStatus.STOPPED)
    with pytest.raises(Conflict, match="ended") as refused:
        begin(session, "Still there?")
    assert refused.value.details == {"reason": "session_ended"}
    assert session.events.filter(kind=EventKind.MESSAGE).count() == 0


def test_the_turn_is_released_when_the_llm_fails(session: Session, llm: ScriptedLLM) -> None:
    llm.will(Script(status=500, error="down"), says("Up again."))
    assert message(session, "Hello?").failed
    assert message(session, "Now?").reply == "Up again."
