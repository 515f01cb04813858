"""/v1/agents/{id}/versions: list, get, diff, restore, publish; the agent says which version is
published and which is the draft."""

import pytest
from django.test import Client

from activity.services import SYSTEM
from agents.models import Agent
from agents.services import agent_update
from tests.conftest import Cast
from tests.factories import AgentFactory
from tests.http import patch, post

pytestmark = pytest.mark.django_db


def _agent(cast: Cast, mode: str = "review") -> Agent:
    agent = AgentFactory(team=cast.team)
    agent_update(agent=agent, actor=SYSTEM, changes={"publish_mode": mode})
    return agent


def _draft(agent: Agent, prompt: str = "Drafted.") -> None:
    changes = {"configuration": {"llm": {"system_prompt": prompt}}}
    agent_update(agent=agent, actor=SYSTEM, changes=changes)


def test_the_agent_says_which_version_is_published_and_which_is_the_draft(
    api: Client, cast: Cast
) -> None:
    agent = _agent(cast)
    _draft(agent)
    body = api.get(f"/v1/agents/{agent.id}").json()
    assert (body["publish_mode"], body["published_version"], body["draft_version"]) == (
        "review",
        1,
        2,
    )
    assert body["configuration"]["llm"]["system_prompt"] != "Drafted."


def test_a_patch_under_review_makes_a_draft_and_says_so(api: Client, cast: Cast) -> None:
    agent = _agent(cast)
    r = patch(api, f"/v1/agents/{agent.id}", {"configuration": {"llm": {"temperature": 0.1}}})
    assert r.status_code == 200
    assert (r.json()["published_version"], r.json()["draft_version"]) == (1, 2)
    assert r.json()["configuration"]["llm"]["temperature"] == 0.7


def test_a_patch_from_a_stale_base_version_is_409(api: Client, cast: Cast) -> None:
    agent = _agent(cast)
    first = patch(api, f"/v1/agents/{agent.id}", {"name": "One", "base_version": 1})
    second = patch(api, f"/v1/agents/{agent.id}", {"name": "Two", "base_version": 1})
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"
    assert "Reload it" in second.json()["error"]
    assert agent.versions.count() == 2


def test_it_lists_gets_and_diffs_versions(api: Client, cast: Cast) -> None:
    agent = _agent(cast)
    _draft(agent)
    listed = api.get(f"/v1/agents/{agent.id}/versions").json()
    assert [(v["number"], v["published"], v["draft"]) for v in listed["items"]] == [
        (2, False, True),
        (1, True, False),
    ]
    one = api.get(f"/v1/agents/{agent.id}/versions/2").json()
    assert one["configuration"]["llm"]["system_prompt"] == "Drafted."
    diff = api.get(f"/v1/agents/{agent.id}/versions/diff?from=1&to=2").json()
    assert diff["system_prompt"][-1] == {"kind": "added", "text": "Drafted."}
    assert api.get(f"/v1/agents/{agent.id}/versions/9").status_code == 404


def test_the_diff_needs_both_versions(api: Client, cast: Cast) -> None:
    agent = _agent(cast)
    r = api.get(f"/v1/agents/{agent.id}/versions/diff?from=1")
    assert r.status_code in (400, 422)


def test_it_publishes_and_restores(api: Client, cast: Cast) -> None:
    agent = _agent(cast)
    _draft(agent)
    published = post(api, f"/v1/agents/{agent.id}/versions/2/publish", {})
    assert published.status_code == 200
    assert published.json()["configuration"]["llm"]["system_prompt"] == "Drafted."
    assert published.json()["draft_version"] is None
    restored = post(api, f"/v1/agents/{agent.id}/versions/1/restore", {})
    assert restored.status_code == 201
    assert (restored.json()["number"], restored.json()["draft"]) == (3, True)
    assert restored.json()["source"] == "api"


def test_a_read_only_key_reads_versions_but_publishes_nothing(
    read_only_api: Client, cast: Cast
) -> None:
    agent = _agent(cast)
    _draft(agent)
    assert read_only_api.get(f"/v1/agents/{agent.id}/versions").status_code == 200
    for action in ("publish", "restore"):
        assert (
            post(read_only_api, f"/v1/agents/{agent.id}/versions/2/{action}", {}).status_code == 403
        )
    agent.refresh_from_db()
    assert agent.draft_version is not None
    assert agent.versions.count() == 2


def test_another_teams_versions_are_not_found(outsider_api: Client, cast: Cast) -> None:
    agent = _agent(cast)
    for url in ("versions", "versions/1", "versions/diff?from=1&to=1"):
        assert outsider_api.get(f"/v1/agents/{agent.id}/{url}").status_code == 404
    assert post(outsider_api, f"/v1/agents/{agent.id}/versions/1/publish", {}).status_code == 404
