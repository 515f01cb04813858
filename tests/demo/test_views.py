"""demo.views.sign_in: the sign-in page shows the demo login only while it works."""

import pytest
from django.test import Client

from demo import content
from teams.models import User

pytestmark = pytest.mark.django_db

HINT = "Try the demo workspace"


def page(client: Client | None = None) -> str:
    response = (client or Client()).get("/accounts/login/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_demo_login_is_shown_while_it_works() -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD)
    shown = page()
    assert HINT in shown
    assert content.EMAIL in shown
    assert content.PASSWORD in shown


def test_not_once_its_password_is_changed() -> None:
    user = User.objects.create_user(content.EMAIL, content.PASSWORD)
    assert HINT in page()
    user.set_password("a-password-of-their-own")
    user.save()
    assert HINT not in page()
    assert content.PASSWORD not in page()


def test_not_without_the_account() -> None:
    assert HINT not in page()


def test_not_for_an_inactive_account() -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD, is_active=False)
    assert HINT not in page()


def test_the_page_still_signs_in() -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD)
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": content.EMAIL, "password": content.PASSWORD}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get().pk)


def test_a_wrong_password_is_refused_with_the_hint_still_there() -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD)
    client = Client()
    response = client.post("/accounts/login/", {"username": content.EMAIL, "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert HINT in response.content.decode()


def test_other_methods_are_refused() -> None:
    assert Client().put("/accounts/login/").status_code == 405
    assert Client().delete("/accounts/login/").status_code == 405
