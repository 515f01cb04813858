import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from teams.models import Membership
from tests.factories import MembershipFactory

from .conftest import has_horizontal_scroll, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_person_signs_up_and_lands_in_their_new_team(page: Page) -> None:
    page.goto("/signup/")
    page.get_by_label("Email").fill("new@example.com")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_label("Team name").fill("Rocket")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.goto(re.search(r"https?://\S+/signup/\S+/", mail.outbox[0].body).group(0))
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/agents/")
    expect(page.get_by_role("combobox", name="Team")).to_have_value(
        str(Membership.objects.get(user__email="new@example.com").team_id)
    )
    assert Membership.objects.get(user__email="new@example.com").role == "owner"


def test_a_weak_password_is_refused_with_nothing_typed_lost(page: Page) -> None:
    page.goto("/signup/")
    page.get_by_label("Email").fill("new@example.com")
    page.get_by_label("Password").fill("123")
    page.get_by_label("Team name").fill("Rocket")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#field-password .errorlist")).to_contain_text("too short")
    expect(page.get_by_label("Email")).to_have_value("new@example.com")
    expect(page.get_by_label("Team name")).to_have_value("Rocket")


def test_sign_in_and_out(page: Page) -> None:
    member = MembershipFactory()
    sign_in(page, member.user.email)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_the_sign_in_page_fits_a_phone(page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/accounts/login/")
    assert not has_horizontal_scroll(page)
