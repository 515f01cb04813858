"""The agent page's keys section: members mint a key, shown once, and revoke it; viewers see the
keys masked and no controls; each mint and revoke is in the team's activity."""

import pytest

from activity.models import Action, ActivityEntry, TargetType
from completions.models import AgentLLMKey
from completions.services import llm_key_create
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_agent_page_shows_the_endpoint_and_masked_keys(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    key, secret = llm_key_create(agent=agent, name="Agora")
    page = signed_in(cast.viewer).get(f"/agents/{agent.id}/")
    html = page.content.decode()
    assert f"/v1/agents/{agent.id}/chat/completions" in html
    assert f"{key.prefix}…" in html
    assert secret not in html
    assert "Create key" not in html  # a viewer changes nothing


def test_a_member_mints_a_key_shown_once(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = signed_in(cast.member).post(
        f"/agents/{agent.id}/llm-keys/", {"name": "Agora prod"}, **HTMX
    )
    assert made.status_code == 201
    assert "no-store" in made["Cache-Control"]
    key = AgentLLMKey.objects.get(agent=agent)
    html = made.content.decode()
    assert 'id="new-llm-key"' in html
    secret = html.split('id="new-llm-key" class="input font-mono" readonly value="')[1].split('"')[
        0
    ]
    assert secret.startswith(key.prefix)
    page = signed_in(cast.member).get(f"/agents/{agent.id}/").content.decode()
    assert secret not in page
    entry = ActivityEntry.objects.get(target_type=TargetType.LLM_KEY)
    assert (entry.action, entry.actor) == (Action.CREATED, cast.member)
    assert agent.name in entry.target_label


def test_without_htmx_the_new_key_gets_a_page_of_its_own(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = signed_in(cast.member).post(f"/agents/{agent.id}/llm-keys/", {"name": ""})
    assert made.status_code == 201
    assert b"Back to" in made.content
    assert b'id="new-llm-key"' in made.content


def test_a_name_too_long_is_refused_with_the_form(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = signed_in(cast.member).post(f"/agents/{agent.id}/llm-keys/", {"name": "x" * 101}, **HTMX)
    assert made.status_code == 400
    assert b"at most 100 characters" in made.content
    assert not AgentLLMKey.objects.exists()


def test_revoking_records_it_once(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    key, _ = llm_key_create(agent=agent)
    client = signed_in(cast.member)
    for _ in range(2):
        done = client.post(f"/agents/{agent.id}/llm-keys/{key.pk}/revoke/", **HTMX)
        assert done.status_code == 200
    key.refresh_from_db()
    assert key.is_revoked
    assert b"Revoked" in done.content
    revoked = ActivityEntry.objects.filter(action=Action.REVOKED, target_type=TargetType.LLM_KEY)
    assert revoked.count() == 1


def test_viewers_cannot_mint_or_revoke(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    key, _ = llm_key_create(agent=agent)
    viewer = signed_in(cast.viewer)
    assert viewer.post(f"/agents/{agent.id}/llm-keys/", {"name": "x"}).status_code == 403
    assert viewer.post(f"/agents/{agent.id}/llm-keys/{key.pk}/revoke/").status_code == 403
    key.refresh_from_db()
    assert not key.is_revoked


def test_another_teams_agent_and_key_are_not_found(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    key, _ = llm_key_create(agent=agent)
    outsider = signed_in(cast.outsider)
    assert outsider.post(f"/agents/{agent.id}/llm-keys/", {}).status_code == 404
    assert outsider.post(f"/agents/{agent.id}/llm-keys/{key.pk}/revoke/").status_code == 404
    other = AgentFactory(team=cast.team)
    mine = signed_in(cast.member)
    assert mine.post(f"/agents/{other.id}/llm-keys/{key.pk}/revoke/").status_code == 404
    assert AgentLLMKey.objects.count() == 1
