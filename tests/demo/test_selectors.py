"""demo.selectors: whether the demo login still works, without hashing on every page view."""

from collections.abc import Iterator
from unittest import mock

import pytest
from django.contrib.auth import hashers

from demo import content
from demo.selectors import demo_login_works
from teams.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def hashing() -> Iterator[mock.MagicMock]:
    """Django's password check, counted (it is what costs ~100 ms with the real hasher)."""
    with mock.patch("demo.selectors.check_password", wraps=hashers.check_password) as check:
        yield check


def test_the_demo_account_with_its_password_works() -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD)
    assert demo_login_works() is True


def test_no_demo_account_does_not() -> None:
    User.objects.create_user("someone@example.com", content.PASSWORD)
    assert demo_login_works() is False


def test_a_changed_password_does_not_at_once(hashing: mock.MagicMock) -> None:
    user = User.objects.create_user(content.EMAIL, content.PASSWORD)
    assert demo_login_works() is True
    user.set_password("a-password-of-their-own")
    user.save()
    assert demo_login_works() is False
    user.set_password(content.PASSWORD)  # and set back: a new hash, checked anew
    user.save()
    assert demo_login_works() is True
    assert hashing.call_count == 3


def test_an_inactive_account_does_not() -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD, is_active=False)
    assert demo_login_works() is False


def test_an_unusable_password_does_not() -> None:
    User.objects.create_user(content.EMAIL, None)
    assert demo_login_works() is False


def test_the_password_is_hashed_once_per_stored_hash(hashing: mock.MagicMock) -> None:
    User.objects.create_user(content.EMAIL, content.PASSWORD)
    assert [demo_login_works() for _ in range(5)] == [True] * 5
    assert hashing.call_count == 1
