"""The dashboard: the Agora settings page (credentials saved encrypted, shown masked, replaced
and removed by owners and admins only), the session page's speak and interrupt controls, and
the agent form's runtime."""

from typing import Any

import pytest
from django.db import connection

from activity.models import Action, ActivityEntry
from agents.models import Agent, Runtime
from agora.models import AgoraAccount
from sessions.models import Session
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, SessionFactory

from .agora_standin import AgoraStandIn
from .test_services import started

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
APP_ID = "0123456789abcdef0123456789abcdef"
SECRET = "customer-secret-" + "s" * 20
CERTIFICATE = "fedcba9876543210fedcba9876543210"


def save(client: Any, **fields: str) -> Any:
    data = {"app_id": APP_ID, "customer_id": "customer-id-123456789", "customer_secret": SECRET}
    return client.post("/agora/", data | fields)


def test_an_owner_saves_credentials_stored_encrypted_and_shown_masked(cast: Cast) -> None:
    client = signed_in(cast.owner)
    r = save(client, app_certificate=CERTIFICATE)
    assert r.status_code == 302
    account = AgoraAccount.objects.get(team=cast.team)
    assert (account.customer_secret, account.app_certificate) == (SECRET, CERTIFICATE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM agora_agoraaccount")
        (raw,) = cursor.fetchone()
    assert SECRET not in raw
    assert CERTIFICATE not in raw
    page = client.get("/agora/").content.decode()
    assert APP_ID in page
    assert SECRET not in page
    assert CERTIFICATE not in page
    assert "customer-id-123456789" not in page
    assert "cus…" in page  # the secret's hint


def test_a_blank_secret_keeps_the_stored_one_and_the_certificate_can_be_removed(
    cast: Cast,
) -> None:
    client = signed_in(cast.owner)
    save(client, app_certificate=CERTIFICATE)
    save(client, customer_secret="", customer_id="another-customer-id")
    account = AgoraAccount.objects.get(team=cast.team)
    assert (account.customer_id, account.customer_secret) == ("another-customer-id", SECRET)
    assert account.app_certificate == CERTIFICATE
    save(client, customer_secret="", remove_certificate="on")
    assert AgoraAccount.objects.get(team=cast.team).app_certificate == ""


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"app_id": "not-an-app-id"}, "32 hexadecimal characters"),
        ({"customer_secret": ""}, "is required"),
        ({"customer_secret": "has space"}, "no spaces"),
        ({"app_certificate": "short"}, "32 hexadecimal characters"),
    ],
)
def test_bad_credentials_are_a_400_with_the_fields_error(
    cast: Cast, fields: dict[str, str], error: str
) -> None:
    r = save(signed_in(cast.owner), **fields)
    assert r.status_code == 400
    assert error in r.content.decode()
    assert not AgoraAccount.objects.exists()


def test_members_and_viewers_cannot_change_credentials(cast: Cast) -> None:
    for user in (cast.member, cast.viewer):
        assert save(signed_in(user)).status_code == 403
        assert signed_in(user).post("/agora/delete/").status_code == 403
        assert "only owners and admins" in signed_in(user).get("/agora/").content.decode()
    assert not AgoraAccount.objects.exists()


def test_an_owner_removes_the_credentials(cast: Cast) -> None:
    client = signed_in(cast.owner)
    save(client)
    assert client.post("/agora/delete/").status_code == 302
    assert not AgoraAccount.objects.exists()


def test_changes_are_in_the_activity_log_with_the_secrets_as_hints(cast: Cast) -> None:
    client = signed_in(cast.owner)
    save(client)
    save(client, customer_secret="another-secret-" + "t" * 20)
    client.post("/agora/delete/")
    entries = ActivityEntry.objects.filter(target_id="agora").order_by("created_at", "id")
    assert [e.action for e in entries] == [Action.CREATED, Action.UPDATED, Action.DELETED]
    assert all(e.actor == cast.owner for e in entries)
    assert entries[1].changes["customer_secret"] == ["cus…ssss", "ano…tttt"]
    logged = str([e.changes for e in entries])
    assert SECRET not in logged
    assert "customer-id-123456789" not in logged


def test_another_teams_credentials_are_never_shown(cast: Cast) -> None:
    save(signed_in(cast.outsider))
    page = signed_in(cast.owner).get("/agora/").content.decode()
    assert APP_ID not in page
    assert "Not configured" in page


def test_the_sidebar_links_to_the_page(cast: Cast) -> None:
    assert 'href="/agora/"' in signed_in(cast.viewer).get("/providers/").content.decode()


def test_wrong_methods(cast: Cast) -> None:
    assert signed_in(cast.owner).get("/agora/delete/").status_code == 405
    assert signed_in(cast.owner).put("/agora/").status_code == 405


# The session page.


@pytest.fixture
def session(agent: Agent, account: AgoraAccount, standin: AgoraStandIn) -> Session:
    return started(agent)


def test_the_session_page_shows_the_agora_agent_and_its_controls(
    cast: Cast, session: Session
) -> None:
    page = signed_in(cast.viewer).get(f"/sessions/{session.id}/").content.decode()
    assert session.remote["agent_id"] in page
    assert f"/agora/sessions/{session.id}/speak/" in page
    other = SessionFactory(team=cast.team)
    assert "/speak/" not in signed_in(cast.viewer).get(f"/sessions/{other.id}/").content.decode()


def test_speaking_and_interrupting_from_the_session_page(
    cast: Cast, session: Session, standin: AgoraStandIn
) -> None:
    client = signed_in(cast.member)
    data = {"text": "Hold on.", "priority": "APPEND"}  # the checkbox left unticked
    r = client.post(f"/agora/sessions/{session.id}/speak/", data, **HTMX)
    assert r.status_code == 200
    assert "The agent is saying it." in r.content.decode()
    assert standin.only().spoken == [
        {"text": "Hold on.", "priority": "APPEND", "interruptable": False}
    ]
    r = client.post(f"/agora/sessions/{session.id}/interrupt/")
    assert r.status_code == 302  # without HTMX: back to the page, with a message
    assert standin.only().interrupted == 1


def test_a_refused_speak_says_why_in_the_region(cast: Cast, session: Session) -> None:
    client = signed_in(cast.member)
    r = client.post(f"/agora/sessions/{session.id}/speak/", {"text": ""}, **HTMX)
    assert "Type what the agent should say." in r.content.decode()
    other = SessionFactory(team=cast.team)
    r = client.post(f"/agora/sessions/{other.id}/interrupt/", **HTMX)
    assert "does not run on Agora" in r.content.decode()


def test_viewers_and_outsiders_cannot_speak(cast: Cast, session: Session) -> None:
    url = f"/agora/sessions/{session.id}/speak/"
    assert signed_in(cast.viewer).post(url, {"text": "hi"}).status_code == 403
    assert signed_in(cast.outsider).post(url, {"text": "hi"}).status_code == 404


# The agent form and API.


def test_the_agent_form_sets_the_runtime(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    client = signed_in(cast.member)
    page = client.get(f"/agents/{agent.id}/edit/").content.decode()
    assert 'name="runtime"' in page


def test_the_api_sets_and_shows_the_runtime(api: Any) -> None:
    r = api.post("/v1/agents", {"name": "Ada", "runtime": "agora"}, content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["runtime"] == "agora"
    url = f"/v1/agents/{r.json()['id']}"
    r = api.patch(url, {"runtime": "parley"}, content_type="application/json")
    assert r.json()["runtime"] == Runtime.PARLEY
    r = api.patch(url, {"runtime": "pipecat"}, content_type="application/json")
    assert r.status_code in (400, 422)
    r = api.patch(url, {"runtime": None}, content_type="application/json")
    assert r.status_code in (400, 422)
