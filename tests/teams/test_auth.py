from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from activity.services import SYSTEM, Actor
from parley.errors import Conflict
from teams.models import ApiKey, ApiKeyScope, Membership, Role, Team, User
from teams.services import api_key_create, api_key_revoke, team_create
from tests.conftest import Cast, signed_in
from tests.factories import ToolFactory, UserFactory
from tools.models import Tool

pytestmark = pytest.mark.django_db

NEW_TOOL = {"name": "lookup", "description": "Looks up.", "server_url": "https://example.com/t"}


def post_tool(client: Client):
    return client.post("/v1/tools", NEW_TOOL, content_type="application/json")


# How a key is presented.


def test_x_api_key_header_is_accepted(cast: Cast) -> None:
    ToolFactory(team=cast.team)
    r = Client(headers={"x-api-key": cast.key.secret}).get("/v1/tools")
    assert r.status_code == 200
    assert r.json()["count"] == 1


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_bearer_authorization_is_accepted(cast: Cast, scheme: str) -> None:
    ToolFactory(team=cast.team)
    r = Client(headers={"Authorization": f"{scheme} {cast.key.secret}"}).get("/v1/tools")
    assert r.status_code == 200
    assert r.json()["count"] == 1


def test_a_key_acts_for_its_own_team(cast: Cast) -> None:
    ToolFactory(team=cast.other_team)
    assert post_tool(Client(headers={"x-api-key": cast.key.secret})).status_code == 201
    assert Tool.objects.get(name="lookup").team == cast.team


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer    "])
def test_bearer_with_no_key_is_401(db: None, header: str) -> None:
    r = Client(headers={"Authorization": header}).get("/v1/tools")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert "Bearer" in r.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "not-a-key"},
        {"x-api-key": "sk_test_0123456789abcdef"},
        {"x-api-key": "pk_live_guessed0123456789"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer pk_live_guessed0123456789"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_garbage_keys_are_401(cast: Cast, headers: dict[str, str]) -> None:
    r = post_tool(Client(headers=headers))
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert not Tool.objects.exists()


def test_a_key_of_absurd_length_is_401_not_an_error(cast: Cast) -> None:
    r = Client(headers={"x-api-key": "pk_live_" + "a" * 5000}).get("/v1/tools")
    assert r.status_code == 401


def test_a_revoked_key_is_401(cast: Cast) -> None:
    api_key_revoke(api_key=cast.key, actor=Actor(user=cast.owner))
    r = Client(headers={"Authorization": f"Bearer {cast.key.secret}"}).get("/v1/tools")
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]


# last_used_at: a hint for people, written at most once a minute.


def test_last_used_at_is_written_on_first_use_and_then_once_a_minute(cast: Cast) -> None:
    start = timezone.now().replace(microsecond=0)
    client = Client(headers={"x-api-key": cast.key.secret})
    assert ApiKey.objects.get(pk=cast.key.pk).last_used_at is None

    with time_machine.travel(start, tick=False):
        assert client.get("/v1/tools").status_code == 200
    assert ApiKey.objects.get(pk=cast.key.pk).last_used_at == start

    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        client.get("/v1/tools")
    assert ApiKey.objects.get(pk=cast.key.pk).last_used_at == start

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get("/v1/tools")
    assert ApiKey.objects.get(pk=cast.key.pk).last_used_at == start + timedelta(seconds=61)


def test_a_refused_write_does_not_count_as_use(read_only_api: Client, cast: Cast) -> None:
    assert post_tool(read_only_api).status_code == 403
    assert ApiKey.objects.get(pk=cast.read_only_key.pk).last_used_at is None


# Signed-in people.


def test_a_signed_in_member_reads_and_writes_for_their_team(cast: Cast) -> None:
    client = signed_in(cast.member)
    assert post_tool(client).status_code == 201
    assert client.get("/v1/tools").json()["items"][0]["name"] == "lookup"
    assert Tool.objects.get(name="lookup").team == cast.team


def test_a_signed_in_user_with_no_team_is_403(db: None) -> None:
    r = signed_in(UserFactory()).get("/v1/tools")
    assert r.status_code == 403
    assert "not a member of any team" in r.json()["error"]


def test_a_member_of_two_teams_acts_for_the_chosen_one(cast: Cast) -> None:
    Membership.objects.create(team=cast.other_team, user=cast.member, role=Role.MEMBER)
    ToolFactory(team=cast.other_team, name="globex_tool")
    client = signed_in(cast.member)
    session = client.session
    session["team_id"] = cast.other_team.pk
    session.save()
    items = client.get("/v1/tools").json()["items"]
    assert [item["name"] for item in items] == ["globex_tool"]


def test_a_chosen_team_the_user_left_falls_back_to_their_own(cast: Cast) -> None:
    ToolFactory(team=cast.other_team, name="globex_tool")
    client = signed_in(cast.member)
    session = client.session
    session["team_id"] = cast.other_team.pk
    session.save()
    assert client.get("/v1/tools").json()["count"] == 0


def _csrf_client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_session_writes_need_the_csrf_token(cast: Cast) -> None:
    r = post_tool(_csrf_client(cast.member))
    assert r.status_code == 403
    assert "CSRF" in r.json()["error"]
    assert not Tool.objects.exists()


def test_session_writes_with_the_csrf_token_pass(cast: Cast) -> None:
    client = _csrf_client(cast.member)
    token = "a" * 32
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    r = client.post(
        "/v1/tools", NEW_TOOL, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert r.status_code == 201


def test_session_reads_need_no_csrf_token(cast: Cast) -> None:
    assert _csrf_client(cast.member).get("/v1/tools").status_code == 200


def test_an_api_key_needs_no_csrf_token(cast: Cast) -> None:
    client = Client(enforce_csrf_checks=True, headers={"x-api-key": cast.key.secret})
    assert post_tool(client).status_code == 201


# Services.


def test_api_key_create_returns_a_secret_that_is_not_stored(cast: Cast) -> None:
    api_key, secret = api_key_create(
        team=cast.team, name="ci", scope=ApiKeyScope.READ_WRITE, actor=Actor(user=cast.owner)
    )
    assert secret.startswith("pk_live_")
    assert len(secret) > 40
    row = ApiKey.objects.get(pk=api_key.pk)
    for field in ApiKey._meta.concrete_fields:
        assert secret not in str(getattr(row, field.attname))
    assert secret.startswith(row.prefix)
    assert row.created_by == cast.owner


def test_api_key_create_makes_a_working_key_of_the_scope_asked(cast: Cast) -> None:
    _, secret = api_key_create(team=cast.team, scope=ApiKeyScope.READ_ONLY, actor=SYSTEM)
    client = Client(headers={"x-api-key": secret})
    assert client.get("/v1/tools").status_code == 200
    assert post_tool(client).status_code == 403


def test_api_key_create_makes_a_new_secret_each_time(cast: Cast) -> None:
    secrets = {
        api_key_create(team=cast.team, scope=ApiKeyScope.READ_WRITE, actor=SYSTEM)[1]
        for _ in range(3)
    }
    assert len(secrets) == 3


def test_api_key_revoke_stops_the_key_and_keeps_the_first_revocation_time(cast: Cast) -> None:
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        api_key_revoke(api_key=cast.key, actor=Actor(user=cast.owner))
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        api_key_revoke(api_key=cast.key, actor=Actor(user=cast.owner))
    assert ApiKey.objects.get(pk=cast.key.pk).revoked_at == start
    assert Client(headers={"x-api-key": cast.key.secret}).get("/v1/tools").status_code == 401
    assert ApiKey.objects.get(pk=cast.read_only_key.pk).revoked_at is None


def test_team_create_makes_the_owner_membership(db: None) -> None:
    owner = UserFactory()
    team = team_create(name="Initech", owner=owner)
    assert team.slug == "initech"
    membership = Membership.objects.get(team=team)
    assert (membership.user, membership.role) == (owner, Role.OWNER)


@pytest.mark.parametrize("name", ["Acme", "acme"])
def test_team_create_refuses_a_duplicate_name(cast: Cast, name: str) -> None:
    with pytest.raises(Conflict, match="already exists"):
        team_create(name=name, owner=cast.outsider)
    assert Team.objects.filter(name__iexact="acme").count() == 1
    assert not Membership.objects.filter(user=cast.outsider, team__name__iexact="acme").exists()


def test_team_create_keeps_slugs_unique(db: None) -> None:
    owner = UserFactory()
    first = team_create(name="Hello World", owner=owner)
    second = team_create(name="Hello-World", owner=owner)
    assert (first.slug, second.slug) == ("hello-world", "hello-world-2")


def test_a_known_key_costs_no_query_and_a_revocation_here_counts_at_once(
    cast: Cast, django_assert_num_queries
) -> None:
    client = Client(headers={"x-api-key": cast.key.secret})
    assert client.get("/v1/agents").status_code == 200
    with django_assert_num_queries(2):  # the count and the page: no key lookup
        assert client.get("/v1/agents").status_code == 200
    api_key_revoke(api_key=cast.key, actor=Actor(user=cast.owner))
    assert client.get("/v1/agents").status_code == 401


def test_with_the_cache_off_every_request_reads_the_key(
    cast: Cast, django_assert_num_queries, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "API_KEY_CACHE_SECONDS", 0)
    client = Client(headers={"x-api-key": cast.key.secret})
    client.get("/v1/agents")
    with django_assert_num_queries(3):  # the key with its team, the count, the page
        assert client.get("/v1/agents").status_code == 200
