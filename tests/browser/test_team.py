import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from teams.models import ApiKey, Invitation, Membership, Role
from tests.factories import ApiKeyFactory, MembershipFactory, TeamFactory, UserFactory

from .conftest import has_horizontal_scroll, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner_email() -> str:
    team = TeamFactory(name="Acme")
    owner = MembershipFactory(team=team, role=Role.OWNER, user__email="ada@acme.example").user
    MembershipFactory(team=team, role=Role.ADMIN, user__email="grace@acme.example")
    MembershipFactory(team=team, role=Role.VIEWER, user__email="linus@acme.example")
    ApiKeyFactory(team=team, name="billing service", created_by=owner)
    return owner.email


def create_invitation(page: Page, email: str = "") -> str:
    page.get_by_label("Role", exact=True).select_option("admin")
    if email:
        page.get_by_label("For (optional)").fill(email)
    page.get_by_role("button", name="Create invitation link").click()
    return page.get_by_label("Invitation link").input_value()


def test_a_key_created_in_the_browser_works_against_the_api_and_is_shown_once(
    page: Page, live_server, owner_email: str
) -> None:
    sign_in(page, owner_email)
    page.goto("/team/")
    page.get_by_label("Name").fill("deploy script")
    page.get_by_label("Access").select_option("read_write")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("New API key").input_value()
    assert secret.startswith("pk_live_")

    r = httpx.get(live_server.url + "/v1/agents", headers={"x-api-key": secret})
    assert r.status_code == 200
    r = httpx.post(
        live_server.url + "/v1/agents", headers={"x-api-key": secret}, json={"name": "From CI"}
    )
    assert r.status_code == 201

    page.reload()
    expect(page.get_by_role("cell", name="deploy script")).to_be_visible()
    assert secret not in page.content()
    expect(page.get_by_label("New API key")).to_have_count(0)


def test_revoking_a_key_asks_first_and_the_api_then_refuses_it(
    page: Page, live_server, owner_email: str
) -> None:
    key = ApiKeyFactory(team=Membership.objects.get(user__email=owner_email).team, name="old")
    sign_in(page, owner_email)
    page.goto("/team/")
    row = page.locator(f"#api-key-{key.pk}")
    row.get_by_text("Revoke").first.click()
    row.get_by_role("button", name="Revoke the key").click()
    expect(page.locator(f"#api-key-{key.pk}")).to_contain_text("Revoked")
    assert ApiKey.objects.get(pk=key.pk).is_revoked
    r = httpx.get(live_server.url + "/v1/agents", headers={"x-api-key": key.secret})
    assert r.status_code == 401


def test_invite_by_link_and_accept_as_someone_else(
    page: Page, browser: Browser, live_server, owner_email: str
) -> None:
    newcomer = UserFactory(email="new@elsewhere.example")
    sign_in(page, owner_email)
    page.goto("/team/")
    link = create_invitation(page, email=newcomer.email)
    assert link.startswith(live_server.url + "/invitations/inv_")
    expect(page.locator("#invitations table")).to_contain_text(newcomer.email)

    # Someone else, in a browser of their own, not signed in yet.
    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    other.goto(link)
    expect(other.get_by_role("heading", name="Join Acme")).to_be_visible()
    other.get_by_role("link", name="Sign in to accept").click()
    other.get_by_label("Email address").fill(newcomer.email)
    other.get_by_label("Password").fill("correct-horse-battery")
    other.get_by_role("button", name="Sign in").click()
    other.get_by_role("button", name="Join Acme as admin").click()
    other.wait_for_url("**/agents/")
    expect(other.get_by_role("combobox", name="Team")).to_have_value(
        str(Membership.objects.get(user=newcomer).team_id)
    )
    assert Membership.objects.get(user=newcomer).role == Role.ADMIN

    # The link is spent.
    other.goto(link)
    expect(other.get_by_text("has already been used")).to_be_visible()
    context.close()

    page.reload()
    expect(page.locator("#members")).to_contain_text(newcomer.email)
    expect(page.get_by_text("No pending invitations.")).to_be_visible()


def test_the_last_owner_is_told_why_they_cannot_step_down(page: Page, owner_email: str) -> None:
    sign_in(page, owner_email)
    page.goto("/team/")
    me = Membership.objects.get(user__email=owner_email)
    page.get_by_label(f"Role of {owner_email}").select_option("viewer")
    page.get_by_role("button", name=f"Save role of {owner_email}").click()
    expect(page.get_by_role("alert")).to_contain_text("at least one owner")
    me.refresh_from_db()
    assert me.role == Role.OWNER


def test_the_team_page_fits_a_phone_and_is_pictured(page: Page, owner_email: str) -> None:
    sign_in(page, owner_email)
    page.goto("/team/")
    create_invitation(page, email="new@elsewhere.example")
    page.reload()
    assert Invitation.objects.count() == 1
    page.set_viewport_size({"width": 375, "height": 740})
    assert not has_horizontal_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "team")


def test_a_viewer_sees_the_team_without_controls(page: Page, owner_email: str) -> None:
    sign_in(page, "linus@acme.example")
    page.goto("/team/")
    expect(page.locator("#members")).to_contain_text(owner_email)
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    expect(page.get_by_text("Revoke")).to_have_count(0)


def test_a_second_team_is_made_from_the_team_page_and_switched_between(
    page: Page, owner_email: str
) -> None:
    sign_in(page, owner_email)
    page.goto("/team/")
    page.get_by_role("main").get_by_role("link", name="New team").click()
    page.wait_for_url("**/teams/new/")
    expect(page.get_by_text("not in a team yet")).to_have_count(0)
    expect(page.get_by_text("Your other teams stay as they are")).to_be_visible()
    screenshot(page, "team-new")
    page.get_by_label("Name").fill("Side project")
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url("**/agents/")
    switcher = page.get_by_label("Team", exact=True)
    expect(switcher).to_have_value(str(Membership.objects.get(team__name="Side project").team_id))
    with page.expect_navigation():  # the switcher posts as soon as a team is picked
        switcher.select_option(label="Acme")
    page.goto("/team/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")
