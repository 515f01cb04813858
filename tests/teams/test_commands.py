from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from teams.models import ApiKey, ApiKeyScope, Membership, Role, Team, User
from tests.conftest import Cast
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

NEW_TOOL = {"name": "lookup", "description": "Looks up.", "server_url": "https://example.com/t"}


def run(*args: str, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


# createteam


def test_createteam_makes_the_team_and_its_owner() -> None:
    out, _ = run("createteam", "Initech", owner="boss@initech.example", password="s3cret-pass")
    team = Team.objects.get(name="Initech")
    owner = User.objects.get(email="boss@initech.example")
    assert owner.check_password("s3cret-pass")
    assert Membership.objects.get(team=team).user == owner
    assert Membership.objects.get(team=team).role == Role.OWNER
    assert "Initech" in out


def test_createteam_without_password_says_how_to_set_one() -> None:
    _, err = run("createteam", "Initech", owner="boss@initech.example")
    owner = User.objects.get(email="boss@initech.example")
    assert not owner.has_usable_password()
    assert "changepassword" in err


def test_createteam_twice_fails() -> None:
    run("createteam", "Initech", owner="boss@initech.example", password="s3cret-pass")
    with pytest.raises(CommandError):
        run("createteam", "Initech", owner="boss@initech.example", password="s3cret-pass")
    assert Team.objects.filter(name="Initech").count() == 1


def test_createteam_with_a_taken_name_fails_and_creates_no_account() -> None:
    run("createteam", "Initech", owner="boss@initech.example")
    with pytest.raises(CommandError, match="already exists"):
        run("createteam", "initech", owner="other@initech.example", password="s3cret-pass")
    assert not User.objects.filter(email="other@initech.example").exists()
    assert Team.objects.count() == 1


def test_createteam_gives_an_existing_account_a_second_team(cast: Cast) -> None:
    run("createteam", "Initech", owner=cast.member.email.upper())
    team = Team.objects.get(name="Initech")
    assert Membership.objects.get(team=team, role=Role.OWNER).user == cast.member
    assert User.objects.filter(email__iexact=cast.member.email).count() == 1


def test_createteam_leaves_an_existing_password_alone(cast: Cast) -> None:
    with pytest.raises(CommandError, match="password"):
        run("createteam", "Initech", owner=cast.member.email, password="hijacked-pass")
    cast.member.refresh_from_db()
    assert not cast.member.check_password("hijacked-pass")
    assert not Team.objects.filter(name="Initech").exists()


# createapikey


def test_createapikey_prints_only_a_working_key(cast: Cast) -> None:
    out, _ = run("createapikey", "Acme")
    assert out.count("\n") == 1
    secret = out.strip()
    assert secret.startswith("pk_live_")
    assert " " not in secret
    client = Client(headers={"x-api-key": secret})
    assert client.get("/v1/tools").status_code == 200
    assert client.post("/v1/tools", NEW_TOOL, content_type="application/json").status_code == 201


def test_createapikey_finds_the_team_whatever_the_case(cast: Cast) -> None:
    out, _ = run("createapikey", "acme", "--name", "deploy")
    key = ApiKey.objects.get(name="deploy")
    assert key.team == cast.team
    assert out.startswith(key.prefix)


def test_createapikey_read_only_cannot_write(cast: Cast) -> None:
    out, _ = run("createapikey", "Acme", "--read-only", "--name", "dashboard")
    secret = out.strip()
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/v1/tools").status_code == 200
    r = client.post("/v1/tools", NEW_TOOL, content_type="application/json")
    assert r.status_code == 403
    assert ApiKey.objects.get(name="dashboard").scope == ApiKeyScope.READ_ONLY


def test_createapikey_for_an_unknown_team_fails(cast: Cast) -> None:
    keys_before = ApiKey.objects.count()
    with pytest.raises(CommandError, match="Initech"):
        run("createapikey", "Initech")
    assert ApiKey.objects.count() == keys_before


# demo


def test_demo_is_idempotent() -> None:
    first, _ = run("demo")
    second, _ = run("demo")
    assert first == second == "Demo login: demo@parley.local / parley-demo\n"
    user = User.objects.get(email="demo@parley.local")
    assert user.is_superuser
    assert Membership.objects.filter(user=user, role=Role.OWNER).count() == 1
    assert Team.objects.count() == 1


def test_demo_makes_a_workspace_to_land_in() -> None:
    run("demo")
    team = Team.objects.get()
    assert team.agents.get().name == "Acme Bikes assistant"
    assert team.tools.get().name == "order_status"
    assert team.sessions.count() == 2


def test_demo_says_why_when_another_account_has_its_team_name() -> None:
    TeamFactory(name="Demo team")
    with pytest.raises(CommandError, match="Demo team"):
        run("demo")
    assert not User.objects.filter(email="demo@parley.local").exists()
