"""The History page, publishing and restoring from it, and the agent page's version line and
test-call version choice."""

import pytest

from activity.services import SYSTEM
from agents.models import Agent
from agents.services import agent_update
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, SessionFactory

pytestmark = pytest.mark.django_db


def _with_draft(cast: Cast) -> Agent:
    agent = AgentFactory(team=cast.team, name="Support")
    agent_update(agent=agent, actor=SYSTEM, changes={"publish_mode": "review"})
    changes = {"configuration": {"llm": {"system_prompt": "Line one.\nLine two."}}}
    agent_update(agent=agent, actor=SYSTEM, changes=changes)
    agent.refresh_from_db()
    return agent


def test_the_history_lists_versions_and_diffs_the_draft_against_the_published(
    cast: Cast,
) -> None:
    agent = _with_draft(cast)
    page = signed_in(cast.viewer).get(f"/agents/{agent.id}/history/").content.decode()
    assert 'id="version-2"' in page
    assert "Draft</span>" in page
    assert "Published</span>" in page
    assert "+ Line two." in page
    assert "Publish v2" not in page  # a viewer reads, and changes nothing


def test_the_diff_region_alone_for_htmx(cast: Cast) -> None:
    agent = _with_draft(cast)
    r = signed_in(cast.member).get(
        f"/agents/{agent.id}/history/?from=2&to=1", headers={"HX-Request": "true"}
    )
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="version-diff"')
    assert "- Line two." in body


def test_the_history_query_count_does_not_grow_with_versions(
    cast: Cast, django_assert_num_queries
) -> None:
    agent = _with_draft(cast)
    for n in range(5):
        agent_update(agent=agent, actor=SYSTEM, changes={"name": f"Name {n}"})
    client = signed_in(cast.viewer)
    # The Django session, the user, the membership, the agent with its versions, the numbers,
    # the page's count and rows, the two versions compared, the team switcher.
    with django_assert_num_queries(10):
        assert client.get(f"/agents/{agent.id}/history/").status_code == 200


def test_a_member_publishes_the_draft(cast: Cast) -> None:
    agent = _with_draft(cast)
    r = signed_in(cast.member).post(f"/agents/{agent.id}/versions/2/publish/")
    assert r.status_code == 302
    agent.refresh_from_db()
    assert agent.configuration["llm"]["system_prompt"] == "Line one.\nLine two."
    assert agent.draft_version is None


def test_a_member_restores_an_old_version_as_a_draft(cast: Cast) -> None:
    agent = _with_draft(cast)
    signed_in(cast.member).post(f"/agents/{agent.id}/versions/2/publish/")
    r = signed_in(cast.member).post(f"/agents/{agent.id}/versions/1/restore/", follow=True)
    assert "Restored version 1 as version 3, a draft." in r.content.decode()


@pytest.mark.parametrize("action", ["publish", "restore"])
def test_a_viewer_can_neither_publish_nor_restore(cast: Cast, action: str) -> None:
    agent = _with_draft(cast)
    r = signed_in(cast.viewer).post(f"/agents/{agent.id}/versions/1/{action}/")
    assert r.status_code == 403
    assert agent.versions.count() == 2


@pytest.mark.parametrize("url", ["history/", "versions/1/publish/", "versions/1/restore/"])
def test_another_teams_versions_are_not_found(cast: Cast, url: str) -> None:
    agent = _with_draft(cast)
    client = signed_in(cast.outsider)
    response = client.post(f"/agents/{agent.id}/{url}") if "versions" in url else None
    response = response or client.get(f"/agents/{agent.id}/{url}")
    assert response.status_code == 404


def test_an_unknown_version_is_not_found(cast: Cast) -> None:
    agent = _with_draft(cast)
    assert signed_in(cast.member).post(f"/agents/{agent.id}/versions/9/publish/").status_code == 404


@pytest.mark.parametrize("method", ["get", "put"])
def test_publish_takes_post_only(cast: Cast, method: str) -> None:
    agent = _with_draft(cast)
    r = getattr(signed_in(cast.member), method)(f"/agents/{agent.id}/versions/2/publish/")
    assert r.status_code == 405


def test_the_agent_page_says_which_version_runs_and_tests_the_draft(cast: Cast) -> None:
    agent = _with_draft(cast)
    page = signed_in(cast.member).get(f"/agents/{agent.id}/").content.decode()
    assert "Running version 1" in page
    assert "Draft version 2 unpublished" in page
    assert "start-agent-session?version=2" in page
    published = signed_in(cast.member).get(f"/agents/{agent.id}/?version=1").content.decode()
    assert "start-agent-session?version" not in published
    assert "This call runs version 1, the published one." in published


def test_an_edit_from_a_stale_form_is_refused_and_says_why(cast: Cast) -> None:
    agent = _with_draft(cast)
    client = signed_in(cast.member)
    form = client.get(f"/agents/{agent.id}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["tools"] = []
    agent_update(agent=agent, actor=SYSTEM, changes={"name": "Meanwhile"})
    r = client.post(f"/agents/{agent.id}/edit/", data | {"name": "Mine"})
    assert r.status_code == 200
    assert "since you started from version 2" in r.content.decode()
    agent.refresh_from_db()
    assert agent.name == "Meanwhile"


def test_the_session_page_links_the_version_it_ran(cast: Cast) -> None:
    agent = _with_draft(cast)
    session = SessionFactory(agent=agent, team=cast.team, agent_version=agent.draft_version)
    page = signed_in(cast.viewer).get(f"/sessions/{session.id}/").content.decode()
    assert f'href="/agents/{agent.id}/history/?to=2#version-2"' in page
