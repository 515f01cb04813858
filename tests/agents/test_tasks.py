from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from agents.models import Agent, AgentKind
from agents.tasks import sweep_expired_agents
from sessions.models import Session
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db


def single_use(expired_ago: timedelta, **kwargs: object) -> Agent:
    return AgentFactory(
        kind=AgentKind.SINGLE_USE, expires_at=timezone.now() - expired_ago, **kwargs
    )


def test_sweep_deletes_only_agents_expired_longer_than_the_retention() -> None:
    retention = settings.SINGLE_USE_AGENT_RETENTION
    long_gone = single_use(retention + timedelta(minutes=5))
    recently_expired = single_use(retention - timedelta(minutes=5))
    still_valid = single_use(-timedelta(minutes=5))
    permanent = AgentFactory(created_at=timezone.now() - retention * 3)

    assert sweep_expired_agents.delay().get() == 1

    remaining = set(Agent.objects.values_list("id", flat=True))
    assert long_gone.id not in remaining
    assert remaining == {recently_expired.id, still_valid.id, permanent.id}


@override_settings(SINGLE_USE_AGENT_RETENTION=timedelta(hours=1))
def test_sweep_follows_the_retention_setting() -> None:
    two_hours = single_use(timedelta(hours=2))
    half_hour = single_use(timedelta(minutes=30))
    sweep_expired_agents.delay()
    assert set(Agent.objects.values_list("id", flat=True)) == {half_hour.id}
    assert not Agent.objects.filter(id=two_hours.id).exists()


def test_sweep_keeps_the_swept_agents_sessions() -> None:
    agent = single_use(settings.SINGLE_USE_AGENT_RETENTION + timedelta(days=1), name="Gone")
    session = SessionFactory(agent=agent)
    sweep_expired_agents.delay()
    session = Session.objects.get(pk=session.pk)
    assert session.agent is None
    assert session.agent_name == "Gone"


def test_sweeping_twice_is_harmless() -> None:
    single_use(settings.SINGLE_USE_AGENT_RETENTION + timedelta(days=1))
    kept = single_use(timedelta(minutes=1))
    assert sweep_expired_agents.delay().get() == 1
    assert sweep_expired_agents.delay().get() == 0
    assert list(Agent.objects.values_list("id", flat=True)) == [kept.id]
