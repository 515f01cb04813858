"""One turn against the real OpenAI API. Skipped unless OPENAI_API_KEY is set (and the machine
can reach api.openai.com)."""

import os

import pytest
from asgiref.sync import async_to_sync

from agents.configuration import AgentConfiguration
from sessions.engine import session_turn
from sessions.models import SessionType
from sessions.services import session_create
from tests.factories import AgentFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="needs OPENAI_API_KEY"),
]


def test_one_turn_with_openai(settings: object) -> None:
    config = AgentConfiguration.model_validate(
        {
            "llm": {
                "provider": "openai",
                "model": os.environ.get("OPENAI_TEST_MODEL", "gpt-4o-mini"),
                "system_prompt": "Answer with one word.",
                "temperature": 0,
            }
        }
    )
    session = session_create(
        agent=AgentFactory(configuration=config.as_document()), type=SessionType.CHAT
    )
    turn = async_to_sync(session_turn)(session=session, content="Say the word pong.")
    assert not turn.failed, turn.error
    assert "pong" in turn.reply.lower()
    assert turn.usage.get("total_tokens", 0) > 0
