"""No unlimited guessing: sign-in lockout (dashboard and admin), bad API keys per address, and
sign-up that neither tells who has an account nor lets one address make accounts without end."""

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from completions.services import llm_key_create
from teams.models import User
from tests.conftest import Cast
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

RIGHT = "correct-horse-battery"  # the factories' password
HERE, THERE = "198.51.100.7", "203.0.113.9"
LOCKED = "Sign-in locked"


def sign_in(email: str, password: str, *, address: str = HERE, path: str = "/accounts/login/"):  # type: ignore[no-untyped-def]
    client = Client(REMOTE_ADDR=address)
    return client, client.post(path, {"username": email, "password": password})


def fail_five_times(email: str, path: str = "/accounts/login/", address: str = HERE) -> None:
    for _ in range(4):
        _, r = sign_in(email, "wrong guess", address=address, path=path)
        assert r.status_code == 200  # the form again, saying the password is wrong
    _, r = sign_in(email, "wrong guess", address=address, path=path)
    assert r.status_code == 429  # the fifth failure locks


# Signing in to the dashboard.


def test_five_wrong_passwords_lock_the_account_from_that_address_even_for_the_right_one(
    cast: Cast,
) -> None:
    fail_five_times(cast.member.email)
    client, r = sign_in(cast.member.email, RIGHT)
    assert r.status_code == 429
    assert LOCKED in r.content.decode()
    assert "15 minutes" in r.content.decode()
    assert client.get("/agents/").status_code == 302  # not signed in


def test_the_lock_holds_for_that_address_only_so_nobody_locks_a_person_out_from_afar(
    cast: Cast,
) -> None:
    fail_five_times(cast.member.email, address=THERE)
    client, r = sign_in(cast.member.email, RIGHT, address=HERE)
    assert r.status_code == 302
    assert client.get("/agents/").status_code == 200


def test_changing_the_emails_case_buys_no_more_guesses(cast: Cast) -> None:
    email = cast.member.email
    for variant in [email.upper(), email.capitalize(), email.swapcase(), f" {email}"]:
        assert sign_in(variant, "wrong guess")[1].status_code == 200
    assert sign_in(email, "wrong guess")[1].status_code == 429
    _, r = sign_in(email.upper(), RIGHT)
    assert r.status_code == 429


def test_the_lock_ends_after_its_time(cast: Cast) -> None:
    fail_five_times(cast.member.email)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        _, r = sign_in(cast.member.email, RIGHT)
    assert r.status_code == 302


def test_signing_in_clears_the_failures(cast: Cast) -> None:
    for _ in range(2):
        for _ in range(4):
            sign_in(cast.member.email, "wrong guess")
        assert sign_in(cast.member.email, RIGHT)[1].status_code == 302


def test_the_admin_sign_in_locks_too(db: None) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    fail_five_times(admin.email, path="/admin/login/")
    client, r = sign_in(admin.email, RIGHT, path="/admin/login/")
    assert r.status_code == 429
    assert LOCKED in r.content.decode()
    assert client.get("/admin/").status_code == 302


# Bad API keys.


def _list_sessions(key: str, address: str) -> Any:
    return Client(REMOTE_ADDR=address).get("/v1/sessions", headers={"x-api-key": key})


def test_bad_keys_from_one_address_are_429_after_twenty_while_others_still_get_in(
    cast: Cast,
) -> None:
    # Within one minute's window: the limit counts per calendar minute.
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        codes = [_list_sessions(f"pk_live_guess{n}", HERE).status_code for n in range(21)]
        assert codes == [401] * 20 + [429]
        refused = _list_sessions(cast.key.secret, HERE)  # even the right key, from there
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "wrong API key" in refused.json()["error"]
        assert 0 < int(refused["Retry-After"]) <= 60
        assert _list_sessions(cast.key.secret, THERE).status_code == 200
    with time_machine.travel(timezone.now().replace(second=5) + timedelta(minutes=1)):
        assert _list_sessions(cast.key.secret, HERE).status_code == 200


def test_bad_bearer_keys_count_too(cast: Cast) -> None:
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        client = Client(REMOTE_ADDR=HERE)
        for n in range(20):
            client.get("/v1/sessions", headers={"Authorization": f"Bearer pk_live_{n}"})
        r = client.get("/v1/sessions", headers={"Authorization": f"Bearer {cast.key.secret}"})
    assert r.status_code == 429


# Signing up.

SIGN_UP = {"password": "a long enough password", "team_name": "Rocket"}


def _sign_up(email: str, address: str = HERE, team_name: str = "Rocket") -> Any:
    data = SIGN_UP | {"email": email, "team_name": team_name}
    return Client(REMOTE_ADDR=address).post("/signup/", data)


BASES = ["auth_base.html", "base.html"]


def _pages(response: Any) -> list[str]:
    """The templates of the page answered (the emails sent, also rendered, are not in it)."""
    return [t.name for t in response.templates if t.name.endswith(".html")]


def _plain(response: Any, email: str) -> str:
    """The page, less the address typed and the per-response script nonce."""
    page = response.content.decode().replace(email, "EMAIL")
    return re.sub(r'"[A-Za-z0-9+/]{20,}={0,2}"', '"NONCE"', page)


def test_signing_up_with_a_taken_email_looks_exactly_like_with_a_new_one(cast: Cast) -> None:
    taken = _sign_up(cast.owner.email, team_name="Rocket")
    new = _sign_up("nobody@example.com", team_name="Rocket 2")
    assert taken.status_code == new.status_code == 200
    assert _pages(taken) == _pages(new) == ["registration/sign_up_sent.html", *BASES]
    page = _plain(taken, cast.owner.email)
    assert page == _plain(new, "nobody@example.com")
    assert "An account with this email exists" not in page
    assert User.objects.filter(email__iexact=cast.owner.email).count() == 1
    assert not User.objects.filter(email="nobody@example.com").exists()  # not before the link
    # The address's owner learns which from the email.
    to_owner, to_new = mail.outbox
    assert "already have a Parley account" in to_owner.subject
    assert "/signup/" not in to_owner.body
    assert re.search(r"http://testserver/signup/\S+/", to_new.body)


def test_with_the_console_mail_backend_the_page_says_where_the_link_went(
    db: None, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    page = _sign_up("newcomer@example.com", team_name="Rocket").content.decode()
    assert "printed in the terminal where Parley runs" in page
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert "printed" not in _sign_up("other@example.com", team_name="R2").content.decode()


def test_the_sixth_sign_up_from_one_address_in_an_hour_is_429(db: None) -> None:
    codes = [_sign_up(f"n{n}@example.com", team_name=f"T{n}").status_code for n in range(6)]
    assert codes == [200] * 5 + [429]
    refused = _sign_up("late@example.com", team_name="Late")
    assert "try again in an hour" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == 5
    assert _sign_up("elsewhere@example.com", address=THERE, team_name="E").status_code == 200


def test_a_sign_up_link_creates_the_account_once(db: None) -> None:
    _sign_up("new@example.com")
    link = re.search(r"http://testserver(/signup/\S+/)", mail.outbox[0].body).group(1)
    client = Client()
    assert client.post(link).status_code == 302
    assert client.get("/agents/").status_code == 200
    again = Client().post(link)
    assert again.status_code == 409
    assert "sign in" in again.content.decode()
    assert User.objects.filter(email="new@example.com").count() == 1


def test_a_tampered_or_old_sign_up_link_creates_nothing(db: None) -> None:
    _sign_up("new@example.com")
    link = re.search(r"http://testserver(/signup/\S+/)", mail.outbox[0].body).group(1)
    r = Client().post(link.replace("/signup/", "/signup/x"))
    assert r.status_code == 410
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert Client().post(link).status_code == 410
    assert not User.objects.filter(email="new@example.com").exists()


def test_bad_agent_llm_keys_count_too_and_the_429_is_in_openais_shape(cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    _, secret = llm_key_create(agent=agent)
    url = f"/v1/agents/{agent.id}/chat/completions"
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        client = Client(REMOTE_ADDR=HERE)
        guesses = [
            client.post(
                url, body, content_type="application/json", headers={"Authorization": f"Bearer {g}"}
            ).status_code
            for g in (f"ak_guess{n}" for n in range(21))
        ]
        assert guesses == [401] * 20 + [429]
        r = client.post(
            url,
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert 0 < int(r["Retry-After"]) <= 60
