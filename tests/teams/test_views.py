"""The Team page: members and their roles, and API keys. Invitations are in test_invitations.py."""

import re

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client

from activity.models import ActivityEntry
from activity.services import Actor
from parley.errors import Forbidden
from parley.tokens import token_matches
from teams.models import ApiKey, ApiKeyScope, Membership, Role, User
from teams.services import membership_role_change
from tests.conftest import Cast, signed_in
from tests.factories import ApiKeyFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(cast: Cast) -> User:
    return Membership.objects.get(team=cast.team, role=Role.ADMIN).user


def membership_of(cast: Cast, user: User) -> Membership:
    return Membership.objects.get(team=cast.team, user=user)


def role_url(membership: Membership) -> str:
    return f"/team/members/{membership.pk}/role/"


def remove_url(membership: Membership) -> str:
    return f"/team/members/{membership.pk}/remove/"


# The page.


@pytest.mark.parametrize("who", ["owner", "member", "viewer"])
def test_everyone_in_the_team_sees_its_members_and_keys(cast: Cast, who: str) -> None:
    html = signed_in(getattr(cast, who)).get("/team/").content.decode()
    for person in (cast.owner, cast.member, cast.viewer):
        assert person.email in html
    assert cast.key.prefix in html
    assert cast.read_only_key.prefix in html
    assert "Read only" in html


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_see_no_controls(cast: Cast, who: str) -> None:
    html = signed_in(getattr(cast, who)).get("/team/").content.decode()
    assert "Create key" not in html
    assert "Create invitation link" not in html
    assert "/revoke/" not in html
    assert "/role/" not in html
    assert "/remove/" not in html


def test_owners_get_every_control(cast: Cast) -> None:
    html = signed_in(cast.owner).get("/team/").content.decode()
    assert "Create key" in html
    assert "Create invitation link" in html
    assert f"/team/api-keys/{cast.key.pk}/revoke/" in html
    assert role_url(membership_of(cast, cast.member)) in html
    assert '<option value="owner"' in html


def test_admins_get_no_controls_over_owners_and_cannot_hand_out_ownership(
    cast: Cast, admin: User
) -> None:
    html = signed_in(admin).get("/team/").content.decode()
    assert role_url(membership_of(cast, cast.member)) in html
    assert role_url(membership_of(cast, cast.owner)) not in html
    assert remove_url(membership_of(cast, cast.owner)) not in html
    assert '<option value="owner"' not in html


def test_outsiders_see_their_own_team_only(cast: Cast) -> None:
    html = signed_in(cast.outsider).get("/team/").content.decode()
    assert "Globex" in html
    assert cast.owner.email not in html
    assert cast.key.prefix not in html
    assert cast.outsider_key.prefix in html


def test_people_not_signed_in_are_sent_to_sign_in(db: None) -> None:
    r = Client().get("/team/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_the_page_is_read_only(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/team/").status_code == 405


def test_the_query_count_does_not_grow_with_members_keys_or_invitations(
    cast: Cast, django_assert_num_queries
) -> None:
    client = signed_in(cast.owner)
    # session, user, current membership, the switcher's teams, members, invitations, keys
    with django_assert_num_queries(7):
        client.get("/team/")
    for _ in range(10):
        MembershipFactory(team=cast.team)
        ApiKeyFactory(team=cast.team, created_by=cast.owner)
    client.post("/team/invitations/", {"role": "member", "expires_in_days": 7})
    with django_assert_num_queries(7):
        r = client.get("/team/")
    html = r.content.decode()
    assert html.count('id="member-') == 14
    assert html.count('id="api-key-') == 12
    assert html.count('id="invitation-') == 1


# Changing roles.


def test_an_owner_changes_a_members_role_and_it_is_logged(cast: Cast) -> None:
    target = membership_of(cast, cast.member)
    r = signed_in(cast.owner).post(role_url(target), {"role": "admin"})
    assert r.status_code == 302
    assert r["Location"] == "/team/"
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    entry = ActivityEntry.objects.get(action="role_changed")
    assert entry.actor == cast.owner
    assert entry.target_type == "member"
    assert entry.target_label == cast.member.email
    assert entry.changes == {"role": ["member", "admin"]}


def test_a_role_change_over_htmx_returns_the_members_section(cast: Cast) -> None:
    target = membership_of(cast, cast.viewer)
    r = signed_in(cast.owner).post(role_url(target), {"role": "member"}, headers=HTMX)
    assert r.status_code == 200
    html = r.content.decode()
    assert '<section id="members"' in html
    assert "<html" not in html
    assert "is now member" in r["HX-Trigger"]
    assert membership_of(cast, cast.viewer).role == Role.MEMBER


def test_an_owner_can_make_another_owner_then_step_down(cast: Cast) -> None:
    client = signed_in(cast.owner)
    client.post(role_url(membership_of(cast, cast.member)), {"role": "owner"})
    r = client.post(role_url(membership_of(cast, cast.owner)), {"role": "admin"})
    assert r.status_code == 302
    assert membership_of(cast, cast.owner).role == Role.ADMIN
    assert membership_of(cast, cast.member).role == Role.OWNER


def test_the_last_owner_cannot_step_down(cast: Cast) -> None:
    r = signed_in(cast.owner).post(role_url(membership_of(cast, cast.owner)), {"role": "admin"})
    assert r.status_code == 409
    assert "at least one owner" in r.content.decode()
    assert membership_of(cast, cast.owner).role == Role.OWNER
    assert not ActivityEntry.objects.exists()


def test_the_last_owner_refusal_is_shown_in_the_htmx_section(cast: Cast) -> None:
    client = signed_in(cast.owner)
    r = client.post(role_url(membership_of(cast, cast.owner)), {"role": "viewer"}, headers=HTMX)
    assert r.status_code == 200  # htmx 2 swaps only successful responses
    assert "at least one owner" in r.content.decode()
    assert '<section id="members"' in r.content.decode()


def test_admins_change_members_but_not_owners(cast: Cast, admin: User) -> None:
    client = signed_in(admin)
    assert client.post(role_url(membership_of(cast, cast.viewer)), {"role": "member"}).status_code
    assert membership_of(cast, cast.viewer).role == Role.MEMBER
    r = client.post(role_url(membership_of(cast, cast.owner)), {"role": "member"})
    assert r.status_code == 403
    assert membership_of(cast, cast.owner).role == Role.OWNER


def test_an_admin_cannot_make_anyone_an_owner(cast: Cast, admin: User) -> None:
    r = signed_in(admin).post(role_url(membership_of(cast, cast.member)), {"role": "owner"})
    assert r.status_code == 400
    assert "not one of the available choices" in r.content.decode()
    assert membership_of(cast, cast.member).role == Role.MEMBER


@pytest.mark.parametrize("role", ["king", "", "OWNER"])
def test_a_role_that_does_not_exist_is_refused_with_a_message(cast: Cast, role: str) -> None:
    r = signed_in(cast.owner).post(role_url(membership_of(cast, cast.member)), {"role": role})
    assert r.status_code == 400
    assert cast.member.email + ":" in r.content.decode()
    assert membership_of(cast, cast.member).role == Role.MEMBER


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_cannot_change_roles_even_by_forging_a_post(
    cast: Cast, who: str
) -> None:
    target = membership_of(cast, cast.viewer if who == "member" else cast.member)
    before = target.role
    r = signed_in(getattr(cast, who)).post(role_url(target), {"role": "owner"})
    assert r.status_code == 403
    target.refresh_from_db()
    assert target.role == before


def test_outsiders_get_404_for_another_teams_members(cast: Cast) -> None:
    client = signed_in(cast.outsider)
    target = membership_of(cast, cast.member)
    assert client.post(role_url(target), {"role": "viewer"}).status_code == 404
    assert client.post(remove_url(target)).status_code == 404
    assert membership_of(cast, cast.member).role == Role.MEMBER


def test_role_and_remove_endpoints_take_only_post(cast: Cast) -> None:
    client = signed_in(cast.owner)
    target = membership_of(cast, cast.member)
    assert client.get(role_url(target)).status_code == 405
    assert client.get(remove_url(target)).status_code == 405


def test_an_api_key_cannot_change_roles(cast: Cast) -> None:
    with pytest.raises(Forbidden):
        membership_role_change(
            membership=membership_of(cast, cast.member),
            role=Role.ADMIN,
            actor=Actor(api_key=cast.key),
        )


# Removing people.


def test_an_owner_removes_a_member_and_it_is_logged(cast: Cast) -> None:
    r = signed_in(cast.owner).post(remove_url(membership_of(cast, cast.member)))
    assert r.status_code == 302
    assert not Membership.objects.filter(team=cast.team, user=cast.member).exists()
    entry = ActivityEntry.objects.get(action="removed")
    assert (entry.actor, entry.target_label) == (cast.owner, cast.member.email)
    assert entry.changes == {"role": ["member", None]}
    assert signed_in(cast.member).get("/team/").status_code == 302  # no team left: create one


def test_removal_over_htmx_returns_the_section_without_them(cast: Cast) -> None:
    r = signed_in(cast.owner).post(remove_url(membership_of(cast, cast.viewer)), headers=HTMX)
    assert r.status_code == 200
    assert cast.viewer.email not in r.content.decode()
    assert '<section id="members"' in r.content.decode()


def test_the_last_owner_cannot_be_removed(cast: Cast) -> None:
    r = signed_in(cast.owner).post(remove_url(membership_of(cast, cast.owner)))
    assert r.status_code == 409
    assert "at least one owner" in r.content.decode()
    assert membership_of(cast, cast.owner).role == Role.OWNER


def test_admins_cannot_remove_owners(cast: Cast, admin: User) -> None:
    assert signed_in(admin).post(remove_url(membership_of(cast, cast.owner))).status_code == 403
    assert Membership.objects.filter(team=cast.team, user=cast.owner).exists()


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_cannot_remove_anyone(cast: Cast, who: str) -> None:
    target = membership_of(cast, cast.owner)
    assert signed_in(getattr(cast, who)).post(remove_url(target)).status_code == 403
    assert Membership.objects.filter(pk=target.pk).exists()


def test_an_admin_who_removes_themselves_leaves_for_the_home_page(cast: Cast, admin: User) -> None:
    client = signed_in(admin)
    r = client.post(remove_url(membership_of(cast, admin)), headers=HTMX)
    assert r["HX-Redirect"] == "/"
    assert not Membership.objects.filter(team=cast.team, user=admin).exists()


# API keys.


def shown_secret(response: HttpResponse) -> str:
    """The secret as a person reads it: the value of the field the page shows it in."""
    found = re.search(r'id="new-api-key" [^>]*value="([^"]+)"', response.content.decode())
    assert found, "no secret on the page"
    return found.group(1)


def create_key(client: Client, headers: dict[str, str] | None = None, **data: str) -> HttpResponse:
    return client.post(
        "/team/api-keys/", {"name": "CI", "scope": "read_write", **data}, headers=headers
    )


def test_an_owner_creates_a_key_and_sees_its_secret_once(cast: Cast) -> None:
    client = signed_in(cast.owner)
    r = create_key(client)
    assert r.status_code == 201
    assert "no-store" in r["Cache-Control"]
    key = ApiKey.objects.get(name="CI")
    secret = shown_secret(r)
    assert secret in r.content.decode()
    assert token_matches(secret, key.digest, key=settings.SECRET_KEY)
    assert (key.team, key.scope, key.created_by) == (cast.team, "read_write", cast.owner)
    # Never again: not on the page, whether reloaded with or without HTMX.
    for headers in ({}, HTMX):
        later = client.get("/team/", headers=headers).content.decode()
        assert key.prefix in later
        assert secret not in later
        assert secret[len(key.prefix) :] not in later


def test_the_secret_shown_works_against_the_api(cast: Cast) -> None:
    secret = shown_secret(create_key(signed_in(cast.owner)))
    r = Client(headers={"x-api-key": secret}).get("/v1/agents")
    assert r.status_code == 200


def test_a_read_only_key_is_read_only(cast: Cast) -> None:
    secret = shown_secret(create_key(signed_in(cast.owner), scope="read_only"))
    client = Client(headers={"x-api-key": secret})
    assert client.get("/v1/agents").status_code == 200
    assert client.post("/v1/agents", {}, content_type="application/json").status_code == 403
    assert ApiKey.objects.get(name="CI").scope == ApiKeyScope.READ_ONLY


def test_creating_a_key_over_htmx_returns_the_keys_section_with_the_secret(cast: Cast) -> None:
    r = create_key(signed_in(cast.owner), name="laptop", headers=HTMX)
    assert r.status_code == 201
    html = r.content.decode()
    assert '<section id="api-keys"' in html
    assert "<html" not in html
    assert shown_secret(r) in html
    assert 'data-copy="new-api-key"' in html


def test_an_admin_creates_and_revokes_keys(cast: Cast, admin: User) -> None:
    client = signed_in(admin)
    assert create_key(client).status_code == 201
    key = ApiKey.objects.get(name="CI")
    assert client.post(f"/team/api-keys/{key.pk}/revoke/").status_code == 302


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required"),
        ({"name": "   "}, "This field is required"),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"scope": "admin"}, "not one of the available choices"),
    ],
)
def test_bad_key_input_is_refused_with_a_message(
    cast: Cast, data: dict[str, str], message: str
) -> None:
    before = ApiKey.objects.count()
    for headers, status in (({}, 400), (HTMX, 200)):
        r = signed_in(cast.owner).post(
            "/team/api-keys/", {"name": "CI", "scope": "read_write", **data}, headers=headers
        )
        assert r.status_code == status
        assert message in r.content.decode()
    assert ApiKey.objects.count() == before


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_cannot_create_or_revoke_keys(cast: Cast, who: str) -> None:
    client = signed_in(getattr(cast, who))
    before = ApiKey.objects.count()
    assert create_key(client).status_code == 403
    assert client.post(f"/team/api-keys/{cast.key.pk}/revoke/").status_code == 403
    assert ApiKey.objects.count() == before
    assert ApiKey.objects.get(pk=cast.key.pk).revoked_at is None


def test_an_owner_revokes_a_key_and_the_api_refuses_it(cast: Cast) -> None:
    client = signed_in(cast.owner)
    r = client.post(f"/team/api-keys/{cast.key.pk}/revoke/")
    assert r.status_code == 302
    assert ApiKey.objects.get(pk=cast.key.pk).is_revoked
    assert Client(headers={"x-api-key": cast.key.secret}).get("/v1/agents").status_code == 401
    html = client.get("/team/").content.decode()
    assert "Revoked" in html
    assert f"/team/api-keys/{cast.key.pk}/revoke/" not in html
    assert ActivityEntry.objects.get(action="revoked").target_type == "api_key"


def test_revoking_over_htmx_returns_the_keys_section(cast: Cast) -> None:
    r = signed_in(cast.owner).post(f"/team/api-keys/{cast.key.pk}/revoke/", headers=HTMX)
    assert r.status_code == 200
    assert '<section id="api-keys"' in r.content.decode()
    assert "was revoked" in r["HX-Trigger"]


def test_outsiders_get_404_for_another_teams_keys(cast: Cast) -> None:
    r = signed_in(cast.outsider).post(f"/team/api-keys/{cast.key.pk}/revoke/")
    assert r.status_code == 404
    assert ApiKey.objects.get(pk=cast.key.pk).revoked_at is None


def test_key_endpoints_take_only_post(cast: Cast) -> None:
    client = signed_in(cast.owner)
    assert client.get("/team/api-keys/").status_code == 405
    assert client.get(f"/team/api-keys/{cast.key.pk}/revoke/").status_code == 405


def test_the_key_list_shows_who_made_each_key_and_when_it_was_last_used(cast: Cast) -> None:
    ApiKeyFactory(team=cast.team, name="billing", created_by=cast.member)
    Client(headers={"x-api-key": cast.key.secret}).get("/v1/agents")
    html = signed_in(cast.viewer).get("/team/").content.decode()
    assert "billing" in html
    assert cast.member.email in html
    assert "ago" in html  # the key used just now
    assert "Never" in html  # the others


# Another team.


@pytest.mark.parametrize("page", ["/agents/", "/tools/", "/sessions/", "/team/", "/activity/"])
def test_every_dashboard_page_links_to_creating_another_team(cast: Cast, page: str) -> None:
    r = signed_in(cast.viewer).get(page)
    assert r.status_code == 200
    assert 'href="/teams/new/"' in r.content.decode()


def test_the_new_team_page_speaks_to_someone_already_in_a_team(cast: Cast) -> None:
    page = signed_in(cast.member).get("/teams/new/").content.decode()
    assert "not in a team yet" not in page
    assert "Your other teams stay as they are" in page
    assert 'href="/"' in page  # a way back


def test_the_new_team_page_speaks_to_someone_in_no_team(db: None) -> None:
    page = signed_in(User.objects.create_user(email="new@example.com")).get("/teams/new/")
    assert "You are not in a team yet" in page.content.decode()


def test_a_member_creates_a_second_team_and_works_in_it(cast: Cast) -> None:
    client = signed_in(cast.member)
    r = client.post("/teams/new/", {"name": "Side project"})
    assert r.status_code == 302
    assert Membership.objects.filter(user=cast.member).count() == 2
    assert Membership.objects.get(user=cast.member, team__name="Side project").role == Role.OWNER
    assert "<h1>Side project</h1>" in client.get("/team/").content.decode()
