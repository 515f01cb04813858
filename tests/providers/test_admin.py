"""The Django admin lists a team's providers but never shows or changes a stored key."""

import pytest
from django.test import Client
from django.urls import reverse

from providers.models import Provider
from tests.conftest import Cast, signed_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEY = "sk-admin-never-shows-0a1b2c3d4e5f"


@pytest.fixture
def admin_client() -> Client:
    return signed_in(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))


def test_the_admin_never_shows_the_key(admin_client: Client, cast: Cast) -> None:
    provider = Provider.objects.create(team=cast.team, kind="openai", credentials={"api_key": KEY})
    for url in (
        reverse("admin:providers_provider_changelist"),
        reverse("admin:providers_provider_change", args=[provider.pk]),
    ):
        page = admin_client.get(url).content.decode()
        assert "Acme" in page
        assert KEY not in page
        assert KEY[-4:] not in page


def test_saving_in_the_admin_keeps_the_key(admin_client: Client, cast: Cast) -> None:
    provider = Provider.objects.create(team=cast.team, kind="openai", credentials={"api_key": KEY})
    form = {"team": cast.team.pk, "kind": "openai", "base_url": "https://eu.api.openai.com/v1"}
    r = admin_client.post(reverse("admin:providers_provider_change", args=[provider.pk]), form)
    assert r.status_code == 302
    provider.refresh_from_db()
    assert provider.base_url == "https://eu.api.openai.com/v1"
    assert provider.api_key == KEY
