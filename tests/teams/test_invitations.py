"""Invitations by link: created on the Team page, shown once, accepted once, before they expire."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from activity.models import ActivityEntry
from activity.services import Actor
from parley.errors import Forbidden, Gone
from parley.tokens import token_matches
from teams.models import Invitation, Membership, Role, User
from teams.services import invitation_accept, invitation_create
from tests.conftest import Cast, signed_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(cast: Cast) -> User:
    return Membership.objects.get(team=cast.team, role=Role.ADMIN).user


def create(client: Client, headers: dict[str, str] | None = None, **data: object) -> HttpResponse:
    fields = {"role": "member", "email": "", "expires_in_days": 7, **data}
    return client.post("/team/invitations/", fields, headers=headers)


def shown_link(response: HttpResponse) -> str:
    """The path of the link the page shows, as a person would copy it."""
    found = re.search(
        r'id="invitation-link" [^>]*value="http://testserver([^"]+)"',
        str(response.content, "utf-8"),
    )
    assert found, "no invitation link on the page"
    return found.group(1)


@pytest.fixture
def link(cast: Cast) -> str:
    return shown_link(create(signed_in(cast.owner), role="admin", email="new@example.com"))


# Creating and revoking.


def test_an_owner_creates_a_link_shown_once_and_stored_only_as_a_hash(cast: Cast) -> None:
    client = signed_in(cast.owner)
    before = timezone.now()
    r = create(client, email="New@Example.com", expires_in_days=3)
    assert r.status_code == 201
    assert "no-store" in r["Cache-Control"]
    path = shown_link(r)
    token = path.removeprefix("/invitations/").removesuffix("/")
    invitation = Invitation.objects.get()
    assert token_matches(token, invitation.digest, key=settings.SECRET_KEY)
    for field in Invitation._meta.concrete_fields:
        assert token not in str(getattr(invitation, field.attname))
    assert (invitation.role, invitation.email, invitation.created_by) == (
        "member",
        "new@example.com",
        cast.owner,
    )
    expected = before + timedelta(days=3)
    assert expected <= invitation.expires_at <= expected + timedelta(minutes=1)
    entry = ActivityEntry.objects.get(action="invited")
    assert (entry.target_type, entry.target_label) == ("invitation", "new@example.com")
    # Listed as pending from now on, but the link is never shown again.
    later = client.get("/team/").content.decode()
    assert "new@example.com" in later
    assert token not in later


def test_creating_over_htmx_returns_the_invitations_section_with_the_link(cast: Cast) -> None:
    r = create(signed_in(cast.owner), headers=HTMX)
    assert r.status_code == 201
    html = r.content.decode()
    assert '<section id="invitations"' in html
    assert "<html" not in html
    assert shown_link(r).startswith("/invitations/inv_")
    assert 'data-copy="invitation-link"' in html


def test_an_admin_invites_but_not_as_owner(cast: Cast, admin: User) -> None:
    client = signed_in(admin)
    assert create(client, role="admin").status_code == 201
    r = create(client, role="owner")
    assert r.status_code == 400
    assert "not one of the available choices" in r.content.decode()
    assert list(Invitation.objects.values_list("role", flat=True)) == ["admin"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expires_in_days": 0}, "greater than or equal to 1"),
        ({"expires_in_days": 31}, "less than or equal to 30"),
        ({"expires_in_days": "soon"}, "Enter a whole number"),
        ({"expires_in_days": ""}, "This field is required"),
        ({"role": "emperor"}, "not one of the available choices"),
        ({"email": "not an address"}, "Enter a valid email address"),
    ],
)
def test_bad_input_is_refused_with_a_message(cast: Cast, data: dict, message: str) -> None:
    for headers, status in (({}, 400), (HTMX, 200)):
        r = create(signed_in(cast.owner), headers=headers, **data)
        assert r.status_code == status
        assert message in r.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_cannot_create_or_revoke(cast: Cast, who: str, link: str) -> None:
    client = signed_in(getattr(cast, who))
    assert create(client).status_code == 403
    invitation = Invitation.objects.get()
    assert client.post(f"/team/invitations/{invitation.pk}/revoke/").status_code == 403
    assert Invitation.objects.get().revoked_at is None


def test_every_member_sees_pending_invitations_but_only_managers_revoke(
    cast: Cast, link: str
) -> None:
    html = signed_in(cast.viewer).get("/team/").content.decode()
    assert "new@example.com" in html
    assert "/revoke/" not in html


def test_an_owner_revokes_a_link_and_it_stops_working(cast: Cast, link: str) -> None:
    invitation = Invitation.objects.get()
    r = signed_in(cast.owner).post(f"/team/invitations/{invitation.pk}/revoke/")
    assert r.status_code == 302
    assert Invitation.objects.get().revoked_at is not None
    assert "new@example.com" not in signed_in(cast.owner).get("/team/").content.decode()
    assert ActivityEntry.objects.filter(action="revoked", target_type="invitation").exists()
    r = signed_in(UserFactory()).get(link)
    assert r.status_code == 410
    assert "was revoked" in r.content.decode()


def test_revoking_over_htmx_returns_the_section(cast: Cast, link: str) -> None:
    invitation = Invitation.objects.get()
    r = signed_in(cast.owner).post(f"/team/invitations/{invitation.pk}/revoke/", headers=HTMX)
    assert r.status_code == 200
    assert '<section id="invitations"' in r.content.decode()
    assert "No pending invitations" in r.content.decode()


def test_outsiders_neither_see_nor_revoke_another_teams_invitations(cast: Cast, link: str) -> None:
    client = signed_in(cast.outsider)
    assert "new@example.com" not in client.get("/team/").content.decode()
    invitation = Invitation.objects.get()
    assert client.post(f"/team/invitations/{invitation.pk}/revoke/").status_code == 404
    assert Invitation.objects.get().revoked_at is None


def test_invitation_endpoints_take_the_right_methods(cast: Cast, link: str) -> None:
    client = signed_in(cast.owner)
    assert client.get("/team/invitations/").status_code == 405
    assert client.get(f"/team/invitations/{Invitation.objects.get().pk}/revoke/").status_code == 405
    assert client.put(link).status_code == 405


# Opening the link.


def test_a_signed_in_person_is_asked_to_join_then_joins(cast: Cast, link: str) -> None:
    newcomer = UserFactory()
    client = signed_in(newcomer)
    r = client.get(link)
    assert r.status_code == 200
    assert "Join Acme as admin" in r.content.decode()
    r = client.post(link)
    assert r.status_code == 302
    assert r["Location"] == "/"
    assert Membership.objects.get(team=cast.team, user=newcomer).role == Role.ADMIN
    assert client.session["team_id"] == cast.team.pk
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.accepted_at is not None) == (newcomer, True)
    entry = ActivityEntry.objects.get(action="joined")
    assert (entry.actor, entry.target_label) == (newcomer, newcomer.email)
    assert entry.changes == {"role": [None, "admin"]}


def test_a_member_of_another_team_joins_and_works_in_the_new_one(cast: Cast, link: str) -> None:
    client = signed_in(cast.outsider)
    client.post(link)
    assert "Acme" in client.get("/team/").content.decode().split("</h1>")[0]


def test_a_link_works_once(cast: Cast, link: str) -> None:
    signed_in(UserFactory()).post(link)
    second = signed_in(UserFactory())
    for method in (second.get, second.post):
        r = method(link)
        assert r.status_code == 410
        assert "already been used" in r.content.decode()
    assert Membership.objects.filter(team=cast.team).count() == 5


def test_an_expired_link_says_so(cast: Cast, link: str) -> None:
    client = signed_in(UserFactory())
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        r = client.get(link)
        assert r.status_code == 410
        assert "has expired" in r.content.decode()
        assert client.post(link).status_code == 410
    assert Membership.objects.filter(team=cast.team).count() == 4


def test_a_link_expires_after_the_days_chosen(cast: Cast) -> None:
    link = shown_link(create(signed_in(cast.owner), expires_in_days=1))
    client = signed_in(UserFactory())
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert client.get(link).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert client.get(link).status_code == 410


@pytest.mark.parametrize("token", ["inv_doesnotexist", "x", "inv_" + "a" * 300])
def test_a_made_up_link_is_a_clear_404(db: None, token: str) -> None:
    r = signed_in(UserFactory()).get(f"/invitations/{token}/")
    assert r.status_code == 404
    assert "not valid" in r.content.decode()


def test_someone_already_in_the_team_is_told_so_and_the_link_stays_unused(
    cast: Cast, link: str
) -> None:
    client = signed_in(cast.member)
    r = client.get(link)
    assert r.status_code == 200
    assert "already a member" in r.content.decode()
    r = client.post(link)
    assert r.status_code == 409
    assert "already a member" in r.content.decode()
    assert Membership.objects.get(team=cast.team, user=cast.member).role == Role.MEMBER
    assert Invitation.objects.get().accepted_at is None


def test_people_not_signed_in_are_offered_sign_in_and_sign_up_that_come_back(
    cast: Cast, link: str
) -> None:
    r = Client().get(link)
    assert r.status_code == 200
    html = r.content.decode()
    assert "Join Acme" in html
    assert f'href="/accounts/login/?next={link}"' in html
    assert f'href="/signup/?next={link}"' in html


def test_a_post_without_signing_in_goes_to_sign_in_first(cast: Cast, link: str) -> None:
    r = Client().post(link)
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/?next=/invitations/")
    assert Invitation.objects.get().accepted_at is None


def test_signing_in_from_the_link_comes_back_to_it(cast: Cast, link: str) -> None:
    newcomer = UserFactory()
    client = Client()
    r = client.post(
        f"/accounts/login/?next={link}",
        {"username": newcomer.email, "password": "correct-horse-battery", "next": link},
    )
    assert r["Location"] == link


def test_signing_up_from_the_link_skips_creating_a_team_and_comes_back(
    cast: Cast, link: str
) -> None:
    client = Client()
    page = client.get(f"/signup/?next={link}").content.decode()
    assert "Team name" not in page
    assert f'name="next" value="{link}"' in page
    client.post(
        "/signup/", {"email": "fresh@example.com", "password": "a long password", "next": link}
    )
    r = client.post(_emailed_link())
    assert r.status_code == 302
    assert r["Location"] == link
    fresh = User.objects.get(email="fresh@example.com")
    assert not Membership.objects.filter(user=fresh).exists()
    client.post(link)
    assert Membership.objects.get(user=fresh).team == cast.team


def _emailed_link() -> str:
    """The sign-up link the last email carries (signing up creates the account from there)."""
    return re.search(r"http://testserver(/signup/\S+/)", mail.outbox[-1].body).group(1)


def test_sign_up_ignores_a_next_on_another_site(db: None) -> None:
    Client().post(
        "/signup/?next=https://evil.example.com/",
        {"email": "a@example.com", "password": "a long password", "team_name": "Rocket"},
    )
    assert Client().post(_emailed_link())["Location"] == "/"


def test_sign_up_without_an_invitation_still_creates_a_team(db: None) -> None:
    r = Client().post("/signup/", {"email": "a@example.com", "password": "a long password"})
    assert r.status_code == 200
    assert "This field is required" in r.content.decode()
    assert not User.objects.exists()


def test_of_two_people_accepting_at_once_only_one_gets_in(
    cast: Cast, link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second read the invitation while it was still pending; the conditional update that
    claims it refuses them anyway."""
    token = link.split("/")[2]
    stale = Invitation.objects.get()
    first, second = UserFactory(), UserFactory()
    invitation_accept(token=token, user=first)
    monkeypatch.setattr("teams.services.invitation_for_token", lambda token: stale)
    with pytest.raises(Gone, match="just been used"):
        invitation_accept(token=token, user=second)
    assert not Membership.objects.filter(user=second).exists()


def test_an_invitation_to_be_owner_needs_an_owner(cast: Cast, admin: User) -> None:
    with pytest.raises(Forbidden):
        invitation_create(
            team=cast.team, role=Role.OWNER, expires_in=timedelta(days=1), actor=Actor(user=admin)
        )
