"""The Activity page: a team's log, newest first, filterable, in pages."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from activity.models import Action, ActivityEntry, TargetType
from activity.selectors import PAGE_SIZE
from activity.services import Actor, activity_record
from teams.models import Team, User
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory
from tests.http import patch, post

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def record(team: Team, user: User | None = None, **fields: object) -> ActivityEntry:
    values: dict = {
        "action": Action.UPDATED,
        "target_type": TargetType.AGENT,
        "target_id": "00000000-0000-0000-0000-000000000000",
        "target_label": "Support",
        **fields,
    }
    return activity_record(team=team, actor=Actor(user=user), **values)


def entry_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="entry-(\d+)"', html)]


@pytest.mark.parametrize("who", ["owner", "member", "viewer"])
def test_everyone_in_the_team_reads_the_log(cast: Cast, who: str) -> None:
    record(cast.team, cast.owner, target_label="Support bot")
    r = signed_in(getattr(cast, who)).get("/activity/")
    assert r.status_code == 200
    assert "Support bot" in r.content.decode()


def test_another_teams_entries_never_show(cast: Cast) -> None:
    record(cast.other_team, cast.outsider, target_label="Their secret agent")
    mine = record(cast.team, cast.owner, target_label="Ours")
    html = signed_in(cast.owner).get("/activity/").content.decode()
    assert "Their secret agent" not in html
    assert entry_ids(html) == [mine.pk]
    assert "Ours" not in signed_in(cast.outsider).get("/activity/").content.decode()


def test_people_not_signed_in_are_sent_to_sign_in(db: None) -> None:
    r = Client().get("/activity/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_the_page_is_read_only(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/activity/").status_code == 405


def test_entries_say_who_did_what_to_which_object_and_what_changed(cast: Cast) -> None:
    with time_machine.travel(datetime(2026, 3, 1, 9, 30, tzinfo=UTC), tick=False):
        record(
            cast.team,
            cast.member,
            action=Action.UPDATED,
            target_label="Support",
            before={"llm": {"temperature": 0.7}, "name": "Help"},
            after={"llm": {"temperature": 0.2}, "name": "Support"},
        )
    html = signed_in(cast.viewer).get("/activity/").content.decode()
    assert cast.member.email in html
    assert "updated agent" in html
    assert "Mar 1, 2026 09:30" in html
    assert "<code>llm.temperature</code>: 0.7 → 0.2" in html
    assert "<code>name</code>: Help → Support" in html


def test_newest_entries_come_first(cast: Cast) -> None:
    now = timezone.now()
    with time_machine.travel(now - timedelta(hours=2)):
        old = record(cast.team, cast.owner)
    with time_machine.travel(now - timedelta(hours=1)):
        new = record(cast.team, cast.owner)
    html = signed_in(cast.owner).get("/activity/").content.decode()
    assert entry_ids(html) == [new.pk, old.pk]


def test_an_agent_created_through_the_api_shows_with_a_link_to_it(api: Client, cast: Cast) -> None:
    agent_id = post(api, "/v1/agents", {"name": "Made by CI"}).json()["id"]
    patch(api, f"/v1/agent/{agent_id}", {"name": "Renamed by CI"})
    html = signed_in(cast.member).get("/activity/").content.decode()
    assert f'<a href="/agents/{agent_id}/">Made by CI</a>' in html
    assert f"API key {cast.key.prefix}…" in html
    assert "<code>name</code>: Made by CI → Renamed by CI" in html


def test_a_deleted_object_is_named_but_no_longer_linked(api: Client, cast: Cast) -> None:
    agent_id = post(api, "/v1/agents", {"name": "Short-lived"}).json()["id"]
    api.delete(f"/v1/agent/{agent_id}")
    html = signed_in(cast.member).get("/activity/").content.decode()
    assert "deleted agent" in html
    assert "Short-lived" in html
    assert f"/agents/{agent_id}/" not in html


def test_tools_link_to_their_page(cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="lookup")
    record(
        cast.team, cast.owner, target_type=TargetType.TOOL, target_id=tool.pk, target_label="lookup"
    )
    html = signed_in(cast.owner).get("/activity/").content.decode()
    assert f'<a href="/tools/{tool.pk}/">lookup</a>' in html


def test_an_object_of_another_team_is_never_linked(cast: Cast) -> None:
    theirs = AgentFactory(team=cast.other_team)
    record(cast.team, cast.owner, target_id=theirs.pk, target_label="Lookalike")
    html = signed_in(cast.owner).get("/activity/").content.decode()
    assert f"/agents/{theirs.pk}/" not in html


# Filters.


def test_filter_by_object_type(cast: Cast) -> None:
    agent = record(cast.team, cast.owner, target_type=TargetType.AGENT)
    key = record(cast.team, cast.owner, target_type=TargetType.API_KEY, target_label="pk_live_x")
    client = signed_in(cast.owner)
    assert entry_ids(client.get("/activity/?type=api_key").content.decode()) == [key.pk]
    assert entry_ids(client.get("/activity/?type=agent").content.decode()) == [agent.pk]


def test_filter_by_person(cast: Cast) -> None:
    record(cast.team, cast.owner)
    by_member = record(cast.team, cast.member)
    html = signed_in(cast.owner).get(f"/activity/?person={cast.member.pk}").content.decode()
    assert entry_ids(html) == [by_member.pk]
    assert f'<option value="{cast.member.pk}" selected>' in html


def test_filter_by_date_range_includes_both_ends(cast: Cast) -> None:
    entries = {}
    for day in (1, 2, 3, 4):
        with time_machine.travel(datetime(2026, 3, day, 23, 59, tzinfo=UTC)):
            entries[day] = record(cast.team, cast.owner)
    html = signed_in(cast.owner).get("/activity/?since=2026-03-02&until=2026-03-03").content
    assert entry_ids(html.decode()) == [entries[3].pk, entries[2].pk]


def test_no_match_says_so(cast: Cast) -> None:
    record(cast.team, cast.owner)
    html = signed_in(cast.owner).get("/activity/?type=invitation").content.decode()
    assert "No activity matches these filters" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "Enter a valid date"),
        ("until=2026-13-40", "Enter a valid date"),
        ("since=2026-03-05&until=2026-03-01", "end date is before the start date"),
        ("type=spaceship", "not one of the available choices"),
        ("person=not-a-uuid", "not one of the available choices"),
        ("before=garbage", "page marker is not valid"),
        ("before=99999999999999999999_1", "page marker is not valid"),
        ("before=1_99999999999999999999", "page marker is not valid"),
    ],
)
def test_bad_filters_are_refused_with_a_message(cast: Cast, query: str, message: str) -> None:
    record(cast.team, cast.owner)
    client = signed_in(cast.owner)
    r = client.get(f"/activity/?{query}")
    assert r.status_code == 400
    assert message in r.content.decode()
    r = client.get(f"/activity/?{query}", headers=HTMX)
    assert r.status_code == 200  # htmx 2 swaps only successful responses
    assert message in r.content.decode()


def test_someone_outside_the_team_is_no_filter_choice(cast: Cast) -> None:
    r = signed_in(cast.owner).get(f"/activity/?person={cast.outsider.pk}")
    assert r.status_code == 400


def test_htmx_gets_only_the_results(cast: Cast) -> None:
    entry = record(cast.team, cast.owner)
    r = signed_in(cast.owner).get("/activity/?type=agent", headers=HTMX)
    html = r.content.decode()
    assert r.status_code == 200
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert entry_ids(html) == [entry.pk]


def test_the_full_page_has_a_get_form_that_works_without_javascript(cast: Cast) -> None:
    html = signed_in(cast.owner).get("/activity/").content.decode()
    assert 'method="get" action="/activity/"' in html
    assert 'hx-get="/activity/"' in html
    assert '<input type="date" name="since"' in html


# Pages.


def test_pages_continue_where_the_last_one_stopped_and_keep_the_filters(cast: Cast) -> None:
    start = timezone.now() - timedelta(hours=1)
    with time_machine.travel(start, tick=False):  # equal times: the id breaks the tie
        made = [record(cast.team, cast.owner).pk for _ in range(PAGE_SIZE + 5)]
    record(cast.team, cast.owner, target_type=TargetType.TOOL)
    client = signed_in(cast.owner)
    first = client.get("/activity/?type=agent").content.decode()
    assert entry_ids(first) == made[::-1][:PAGE_SIZE]
    older = re.search(r'href="\?([^"]+)" hx-get="[^"]+">Older', first)
    assert older
    assert "type=agent" in older.group(1)
    second = client.get("/activity/?" + older.group(1).replace("&amp;", "&")).content.decode()
    assert entry_ids(second) == made[::-1][PAGE_SIZE:]
    assert "Older" not in second
    assert 'href="?type=agent"' in second  # back to the newest


def test_the_query_count_does_not_grow_with_entries(
    cast: Cast, api: Client, django_assert_num_queries
) -> None:
    def add_entries(n: int) -> None:
        agent_id = post(api, "/v1/agents", {"name": "A"}).json()["id"]
        tool = {"name": f"t{n}", "description": "d", "server_url": "https://e.com/"}
        assert post(api, "/v1/tools", tool).status_code == 201
        patch(api, f"/v1/agent/{agent_id}", {"name": "B"})
        ToolFactory(team=cast.team)
        record(cast.team, cast.member)

    client = signed_in(cast.owner)
    add_entries(0)
    # session, user, current membership, the switcher's teams, the people to filter by,
    # the entries with their actors and keys, which agents still exist, which tools do
    with django_assert_num_queries(8):
        client.get("/activity/")
    for n in range(1, 6):
        add_entries(n)
        api.delete(f"/v1/agent/{post(api, '/v1/agents', {'name': 'x'}).json()['id']}")
    with django_assert_num_queries(8):
        r = client.get("/activity/")
    assert len(entry_ids(r.content.decode())) == 34
