"""Signing up, in and out, resetting a password, and switching teams."""

import re

import pytest
from django.core import mail
from django.test import Client

from teams.models import Membership, Role, Team, User
from tests.conftest import Cast, signed_in
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

SIGN_UP = {"email": "new@example.com", "password": "a long enough password", "team_name": "Rocket"}


def test_sign_up_creates_the_account_and_a_team_it_owns() -> None:
    client = Client()
    r = client.post("/signup/", SIGN_UP)
    assert r.status_code == 200
    assert "Check your email" in r.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()
    link = re.search(r"http://testserver(/signup/\S+/)", mail.outbox[0].body).group(1)
    assert "Create my account" in client.get(link).content.decode()
    r = client.post(link)
    assert r.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert Membership.objects.get(user=user).role == Role.OWNER
    assert client.get("/agents/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "123"}, "password"),
        ({"team_name": ""}, "team_name"),
    ],
)
def test_sign_up_refuses_bad_input_and_keeps_what_was_typed(change: dict, field: str) -> None:
    r = Client().post("/signup/", SIGN_UP | change)
    assert r.status_code == 200
    assert field in r.context["form"].errors
    assert 'value="Rocket"' in r.content.decode() or field == "team_name"
    assert not User.objects.filter(email="new@example.com").exists()


def test_sign_up_refuses_a_taken_team_name_but_not_says_an_email_is_taken(cast: Cast) -> None:
    r = Client().post("/signup/", SIGN_UP | {"email": cast.owner.email, "team_name": "Acme"})
    assert set(r.context["form"].errors) == {"team_name"}


def test_sign_in_and_sign_out(cast: Cast) -> None:
    client = Client()
    r = client.post(
        "/accounts/login/", {"username": cast.member.email, "password": "correct-horse-battery"}
    )
    assert r.status_code == 302
    assert client.get("/agents/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/agents/").status_code == 302


def test_a_wrong_password_says_so(cast: Cast) -> None:
    r = Client().post("/accounts/login/", {"username": cast.member.email, "password": "nope"})
    assert r.status_code == 200
    assert "correct email address and password" in r.content.decode()


def test_dashboard_pages_send_anonymous_people_to_sign_in(db: None) -> None:
    r = Client().get("/agents/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_password_reset_sends_a_link_that_sets_a_new_password(cast: Cast) -> None:
    client = Client()
    client.post("/accounts/password_reset/", {"email": cast.member.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    r = client.post(
        form_url, {"new_password1": "brand new password 1", "new_password2": "brand new password 1"}
    )
    assert r.status_code == 302
    signed = {"username": cast.member.email, "password": "brand new password 1"}
    assert Client().post("/accounts/login/", signed).status_code == 302


def test_a_person_without_a_team_is_asked_to_create_one(user_factory) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(user_factory())
    assert client.get("/agents/")["Location"] == "/teams/new/"
    r = client.post("/teams/new/", {"name": "Fresh"})
    assert r.status_code == 302
    assert Team.objects.get(name="Fresh").memberships.get().role == Role.OWNER


def test_switching_teams_changes_what_the_dashboard_shows(cast: Cast) -> None:
    second = MembershipFactory(user=cast.member, role=Role.VIEWER).team
    client = signed_in(cast.member)
    client.post("/teams/switch/", {"team": second.pk})
    assert client.get("/agents/").context["membership"].team == second


def test_switching_to_a_team_one_is_not_in_does_nothing(cast: Cast) -> None:
    client = signed_in(cast.member)
    client.post("/teams/switch/", {"team": cast.other_team.pk})
    assert client.get("/agents/").context["membership"].team == cast.team


def test_switching_needs_post(cast: Cast) -> None:
    assert signed_in(cast.member).get("/teams/switch/").status_code == 405


def test_sign_up_states_the_password_rules_once_as_help_or_as_the_error() -> None:
    page = Client().get("/signup/").content.decode()
    assert page.count("at least 8 characters") == 1  # the help, before anything is typed
    r = Client().post("/signup/", SIGN_UP | {"password": "short"})
    page = r.content.decode()
    assert "This password is too short. It must contain at least 8 characters." in page
    assert page.count("at least 8 characters") == 1  # the error alone, not the help again
