"""The agent pages: list, new, edit, the live check, detail, publish, duplicate, delete."""

import re
import uuid
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from activity.models import Action, ActivityEntry
from agents.configuration import AgentConfiguration
from agents.models import Agent, AgentKind
from providers.models import Provider
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def form_data(**changes: Any) -> dict[str, Any]:
    """A complete, valid submission of the agent form, as the browser sends it."""
    data = {
        "name": "Support",
        "publish_status": "draft",
        "llm_provider": "groq",
        "llm_model": "llama-3.1-8b-instant",
        "llm_system_prompt": "Be brief.",
        "llm_first_message": "Hi! How can I help?",
        "llm_custom_url": "",
        "llm_temperature": "0.4",
        "llm_max_history": "20",
        "llm_failure_message": "Sorry, try again.",
        "llm_input_modalities": ["text", "image"],
        "stt_provider": "deepgram",
        "stt_model": "nova-2",
        "stt_language": "en-US",
        "tts_provider": "elevenlabs",
        "tts_voice_id": "rachel",
        "video_provider": "image",
        "video_character_id": "ada",
        "turn_interrupt_duration_ms": "200",
        "turn_prefix_padding_ms": "300",
        "turn_silence_duration_ms": "600",
        "turn_threshold": "0.6",
        "turn_interrupt_mode": "append",
        "idle_timeout_seconds": "120",
        "max_duration_seconds": "900",
        "allowed_origins": "https://shop.example.com\n\nhttps://www.example.com",
        "callback_url": "https://hooks.example.com/ended",
        "send_data_on_end": "on",
    }
    return data | changes


def html(response: Any) -> str:
    return response.content.decode()


def field_errors(response: Any, field: str) -> str:
    """The text of one field's error box, as the page shows it."""
    match = re.search(rf'<div id="errors-{field}"[^>]*>(.*?)</div>', html(response), re.S)
    assert match, f"no error box for {field}"
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def agent_of(cast: Cast, **fields: Any) -> Agent:
    return AgentFactory(team=cast.team, **fields)


def single_use(
    cast: Cast, *, expires_in: timedelta = timedelta(minutes=10), **fields: Any
) -> Agent:
    return agent_of(
        cast,
        kind=AgentKind.SINGLE_USE,
        publish_status="private",
        expires_at=timezone.now() + expires_in,
        **fields,
    )


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_the_teams_agents_newest_first(cast: Cast) -> None:
    now = timezone.now()
    agent_of(cast, name="Older", created_at=now - timedelta(days=2))
    agent_of(cast, name="Newer", created_at=now - timedelta(days=1))
    AgentFactory(team=cast.other_team, name="Globex secret")
    page = html(signed_in(cast.viewer).get("/agents/"))
    assert page.index("Newer") < page.index("Older")
    assert "Globex secret" not in page


def test_the_list_searches_by_name_and_filters_by_status(cast: Cast) -> None:
    agent_of(cast, name="Support desk", publish_status="public")
    agent_of(cast, name="Support drafts", publish_status="draft")
    agent_of(cast, name="Sales", publish_status="public")
    client = signed_in(cast.member)
    found = html(client.get("/agents/?q=support"))
    assert "Support desk" in found
    assert "Support drafts" in found
    assert "Sales" not in found
    public_support = html(client.get("/agents/?q=SUPPORT&status=public"))
    assert "Support desk" in public_support
    assert "Support drafts" not in public_support
    assert "Sales" not in public_support


def test_an_htmx_search_gets_only_the_table(cast: Cast) -> None:
    agent_of(cast, name="Support desk")
    r = signed_in(cast.member).get("/agents/?q=desk", headers=HTMX)
    assert r.status_code == 200
    body = html(r)
    assert body.lstrip().startswith('<div id="agent-table">')
    assert "Support desk" in body
    assert "<html" not in body
    assert "HX-Request" in r["Vary"]


def test_a_history_restore_gets_the_whole_page(cast: Cast) -> None:
    r = signed_in(cast.member).get(
        "/agents/", headers=HTMX | {"HX-History-Restore-Request": "true"}
    )
    assert "<html" in html(r)


def test_the_search_form_works_without_javascript_and_updates_by_htmx(cast: Cast) -> None:
    page = html(signed_in(cast.member).get("/agents/?q=desk"))
    form = re.search(r'<form method="get" action="/agents/"[^>]*>', page)
    assert form, "a plain GET form for browsers without JavaScript"
    assert 'hx-get="/agents/"' in form.group(0)
    assert 'hx-push-url="true"' in form.group(0)
    assert 'value="desk"' in page


def test_unparseable_filters_are_explained_and_not_applied(cast: Cast) -> None:
    agent_of(cast, name="Support desk")
    r = signed_in(cast.member).get("/agents/?status=launched&kind=robot&page=zzz")
    assert r.status_code == 200
    assert "Select a valid choice. launched is not one of the available choices." in html(r)
    assert "Support desk" in html(r)


def test_the_list_pages_twenty_at_a_time(cast: Cast) -> None:
    start = timezone.now()
    for n in range(23):
        agent_of(cast, name=f"Agent number {n:02}", created_at=start - timedelta(minutes=n))
    client = signed_in(cast.member)
    first, second = html(client.get("/agents/")), html(client.get("/agents/?page=2"))
    assert "Agent number 19" in first
    assert "Agent number 20" not in first
    assert "Agent number 20" in second
    assert "Agent number 22" in second
    assert "Page 2 of 2 · 23 agents" in second
    assert 'href="?page=2"' in first


@pytest.mark.parametrize("rows", [3, 15])
def test_the_list_costs_the_same_queries_however_many_rows(
    cast: Cast, rows: int, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {}  # every row is marked as unable to answer
    for _ in range(rows):
        agent_of(cast, configuration=AgentConfiguration().as_document())
    client = signed_in(cast.member)
    # session, user, membership with its team, the team switcher's memberships, the count, the page,
    # the team's providers.
    with django_assert_num_queries(7):
        r = client.get("/agents/")
    assert len(re.findall(r'href="/agents/[0-9a-f-]{36}/"', html(r))) == rows
    assert html(r).count("data-llm-problem") == rows


def test_only_writers_see_the_new_agent_button(cast: Cast) -> None:
    assert 'href="/agents/new/"' in html(signed_in(cast.member).get("/agents/"))
    assert 'href="/agents/new/"' not in html(signed_in(cast.viewer).get("/agents/"))


def test_an_empty_team_is_told_what_to_do_next(cast: Cast) -> None:
    writer_page = html(signed_in(cast.owner).get("/agents/"))
    assert "This team has no agents yet." in writer_page
    assert "Create your first agent" in writer_page
    viewer_page = html(signed_in(cast.viewer).get("/agents/"))
    assert "ask an owner, admin or member" in viewer_page
    assert "Create your first agent" not in viewer_page


def test_a_search_that_finds_nothing_says_so(cast: Cast) -> None:
    agent_of(cast, name="Support")
    page = html(signed_in(cast.member).get("/agents/?q=zebra"))
    assert "No agents match your search." in page
    assert "This team has no agents yet." not in page


def test_single_use_agents_have_their_own_tab_with_expiry_and_no_expired_ones(cast: Cast) -> None:
    agent_of(cast, name="Permanent one")
    single_use(cast, name="Live handoff", expires_in=timedelta(minutes=30))
    single_use(cast, name="Old handoff", expires_in=timedelta(minutes=-1))
    client = signed_in(cast.member)
    permanent = html(client.get("/agents/"))
    assert "Permanent one" in permanent
    assert "handoff" not in permanent
    tab = html(client.get("/agents/?kind=single_use"))
    assert "Live handoff" in tab
    assert "Permanent one" not in tab
    assert "Old handoff" not in tab
    assert "Expires" in tab
    assert "in 29\xa0minutes" in tab
    assert "No single-use agents right now." in html(
        signed_in(cast.outsider).get("/agents/?kind=single_use")
    )


def test_the_list_is_only_for_get(cast: Cast) -> None:
    assert signed_in(cast.owner).post("/agents/").status_code == 405


def test_signed_out_people_are_sent_to_sign_in() -> None:
    r = Client().get("/agents/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


# --- new agent ------------------------------------------------------------------------------


def test_the_new_agent_form_starts_from_the_defaults_in_sections(cast: Cast) -> None:
    page = html(signed_in(cast.member).get("/agents/new/"))
    for legend in (
        "LLM and prompt",
        "Speech-to-text",
        "Voice",
        "Avatar",
        "Tools to enable",
        "Turn-taking",
        "Limits",
        "End-of-conversation callback",
    ):
        assert re.search(rf"<legend[^>]*>\s*<span[^>]*>{legend}</span>", page), legend
    assert 'name="llm_temperature" value="0.7"' in page
    assert 'name="turn_threshold" value="0.5"' in page
    assert re.search(r'<option value="ollama">Ollama — [^<]+</option>', page)
    assert "This team has no tools yet." in page


def test_a_writer_creates_an_agent_from_the_form(cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="get_weather")
    r = signed_in(cast.member).post("/agents/new/", form_data(tools=[str(tool.id)]))
    agent = Agent.objects.get(team=cast.team)
    assert r.status_code == 302
    assert r["Location"] == f"/agents/{agent.id}/"
    assert agent.name == "Support"
    assert agent.created_by == cast.member
    config = agent.configuration
    assert config["llm"]["provider"] == "groq"
    assert config["llm"]["temperature"] == 0.4
    assert config["llm"]["input_modalities"] == ["text", "image"]
    assert config["llm"]["custom_url"] is None
    assert config["stt"] == {
        "provider": "deepgram",
        "model": "nova-2",
        "language": "en-US",
        "cost_per_minute": None,
    }
    assert config["tool_calling"]["selected_tool_ids"] == [str(tool.id)]
    assert config["turn_detection"]["interrupt_mode"] == "append"
    assert config["allowed_origins"] == ["https://shop.example.com", "https://www.example.com"]
    assert config["end_of_conversation"] == {
        "callback_url": "https://hooks.example.com/ended",
        "send_data_on_end": True,
    }
    assert ActivityEntry.objects.filter(target_id=str(agent.id), action=Action.CREATED).exists()


def test_an_invalid_agent_is_shown_again_with_errors_and_nothing_typed_lost(cast: Cast) -> None:
    r = signed_in(cast.member).post(
        "/agents/new/",
        form_data(llm_temperature="5", llm_system_prompt="You sell <b>boats</b>.\n"),
    )
    assert r.status_code == 200
    assert not Agent.objects.exists()
    assert field_errors(r, "llm_temperature") == "Input should be less than or equal to 2 (got 5.0)"
    page = html(r)
    assert 'name="llm_temperature" value="5"' in page
    assert "You sell &lt;b&gt;boats&lt;/b&gt;.\n</textarea>" in page
    assert 'value="nova-2"' in page
    assert "https://www.example.com</textarea>" in page
    assert "Nothing was saved" in page


def test_every_problem_is_shown_at_once(cast: Cast) -> None:
    r = signed_in(cast.member).post(
        "/agents/new/",
        form_data(
            name="",
            llm_temperature="warm",
            turn_threshold="3",
            allowed_origins="https://ok.example.com\nftp://files.example.com",
            callback_url="not a url",
        ),
    )
    assert field_errors(r, "name") == "This field is required."
    assert field_errors(r, "llm_temperature") == "Enter a number."
    assert "less than or equal to 1" in field_errors(r, "turn_threshold")
    assert "'ftp://files.example.com' is not an origin" in field_errors(r, "allowed_origins")
    assert "valid URL" in field_errors(r, "callback_url")
    assert not Agent.objects.exists()


def test_a_tool_of_another_team_cannot_be_enabled(cast: Cast) -> None:
    theirs = ToolFactory(team=cast.other_team)
    r = signed_in(cast.member).post("/agents/new/", form_data(tools=[str(theirs.id)]))
    assert r.status_code == 200
    assert "is not one of the available choices" in field_errors(r, "tools")
    assert not Agent.objects.exists()


def test_a_garbage_submission_is_refused_field_by_field(cast: Cast) -> None:
    r = signed_in(cast.member).post(
        "/agents/new/", {"llm_provider": "skynet", "publish_status": "everywhere"}
    )
    assert r.status_code == 200
    assert "skynet is not one of the available choices" in field_errors(r, "llm_provider")
    assert field_errors(r, "llm_max_history") == "This field is required."
    assert not Agent.objects.exists()


def test_viewers_cannot_open_or_post_the_new_agent_form(cast: Cast) -> None:
    client = signed_in(cast.viewer)
    assert client.get("/agents/new/").status_code == 403
    assert client.post("/agents/new/", form_data()).status_code == 403
    assert not Agent.objects.exists()


def test_the_new_agent_page_refuses_other_methods(cast: Cast) -> None:
    assert signed_in(cast.owner).put("/agents/new/").status_code == 405


# --- the live check while typing --------------------------------------------------------------


def test_the_live_check_answers_with_the_error_box_of_the_field_being_typed_in(
    cast: Cast,
) -> None:
    r = signed_in(cast.member).post(
        "/agents/validate/",
        form_data(llm_temperature="5", turn_threshold="7"),
        headers=HTMX | {"HX-Trigger-Name": "llm_temperature"},
    )
    assert r.status_code == 200
    body = html(r).strip()
    assert body.startswith(
        '<div id="errors-llm_temperature" aria-live="polite" hx-swap-oob="true">'
    )
    assert "less than or equal to 2" in body
    assert "errors-turn_threshold" not in body
    assert "<input" not in body
    assert not Agent.objects.exists()


def test_the_live_check_clears_the_box_of_a_field_that_is_now_right(cast: Cast) -> None:
    r = signed_in(cast.member).post(
        "/agents/validate/",
        form_data(llm_temperature="1.5", turn_threshold="7"),
        headers=HTMX | {"HX-Trigger-Name": "llm_temperature"},
    )
    assert field_errors(r, "llm_temperature") == ""


def test_the_live_check_without_a_field_name_answers_for_every_field(cast: Cast) -> None:
    r = signed_in(cast.member).post("/agents/validate/", form_data(turn_threshold="7"))
    assert "less than or equal to 1" in field_errors(r, "turn_threshold")
    assert field_errors(r, "name") == ""
    assert 'id="errors-__all__"' in html(r)


def test_the_live_check_is_for_writers_and_posts_only(cast: Cast) -> None:
    assert signed_in(cast.viewer).post("/agents/validate/", form_data()).status_code == 403
    assert signed_in(cast.member).get("/agents/validate/").status_code == 405


def test_the_form_fields_ask_for_the_live_check(cast: Cast) -> None:
    page = html(signed_in(cast.member).get("/agents/new/"))
    temperature = re.search(r'<input type="number" name="llm_temperature"[^>]*>', page)
    assert temperature
    assert 'hx-post="/agents/validate/"' in temperature.group(0)
    assert 'hx-trigger="change, keyup delay:500ms"' in temperature.group(0)
    assert re.search(r'<form method="post" id="agent-form"[^>]*hx-swap="none"', page)


# --- edit -----------------------------------------------------------------------------------


def stored(cast: Cast, **llm: Any) -> Agent:
    document = AgentConfiguration().as_document()
    document["llm"] |= {"voice": "alloy", "custom_url": "https://llm.example.com/v1"} | llm
    document["tts"]["params"] = {"speed": 1.2}
    document["allowed_origins"] = ["https://a.example.com", "https://b.example.com"]
    return agent_of(cast, name="Support", publish_status="private", configuration=document)


def test_the_edit_form_starts_from_the_stored_configuration(cast: Cast) -> None:
    agent = stored(cast, temperature=1.3, system_prompt="Sell boats.")
    page = html(signed_in(cast.member).get(f"/agents/{agent.id}/edit/"))
    assert 'name="llm_temperature" value="1.3"' in page
    assert "Sell boats.</textarea>" in page
    assert 'value="https://llm.example.com/v1"' in page
    assert "https://a.example.com\nhttps://b.example.com</textarea>" in page
    assert '<option value="private" selected>' in page


def test_saving_merges_the_form_over_the_stored_configuration(cast: Cast) -> None:
    agent = stored(cast)
    r = signed_in(cast.member).post(
        f"/agents/{agent.id}/edit/", form_data(name="Support v2", llm_temperature="1.1")
    )
    assert r.status_code == 302
    assert r["Location"] == f"/agents/{agent.id}/"
    agent.refresh_from_db()
    assert agent.name == "Support v2"
    assert agent.publish_status == "draft"
    assert agent.configuration["llm"]["temperature"] == 1.1
    # Emptied on the form: back to the default. Not on the form: kept as stored.
    assert agent.configuration["llm"]["custom_url"] is None
    assert agent.configuration["llm"]["voice"] == "alloy"
    assert agent.configuration["tts"]["params"] == {"speed": 1.2}
    entry = ActivityEntry.objects.get(target_id=str(agent.id), action=Action.PUBLISHED)
    assert entry.actor == cast.member


def test_an_invalid_edit_saves_nothing_and_keeps_what_was_typed(cast: Cast) -> None:
    agent = stored(cast)
    before = agent.configuration
    r = signed_in(cast.member).post(
        f"/agents/{agent.id}/edit/",
        form_data(name="Renamed", llm_temperature="2.5", max_duration_seconds="5"),
    )
    assert r.status_code == 200
    assert "less than or equal to 2" in field_errors(r, "llm_temperature")
    assert "greater than or equal to 30" in field_errors(r, "max_duration_seconds")
    assert 'name="name" value="Renamed"' in html(r)
    assert "<title>Edit Support · Parley</title>" in html(r)
    agent.refresh_from_db()
    assert agent.name == "Support"
    assert agent.configuration == before


# Turn-taking: end of turn by meaning, and what does not interrupt the agent (docs/voice.md).

TURNS = {
    "turn_mode": "semantic",
    "turn_eagerness": "high",
    "turn_interrupt_min_words": "2",
    "turn_backchannel_phrases": "mm-hmm, got it\n  sure thing \n",
}


def turn_agent(cast: Cast, **turn_detection: Any) -> Agent:
    document = AgentConfiguration.model_validate(
        {"stt": {"language": "de-AT"}, "turn_detection": turn_detection}
    ).as_document()
    return agent_of(cast, name="Support", configuration=document)


def test_a_writer_sets_how_turns_end_and_what_does_not_interrupt(cast: Cast) -> None:
    r = signed_in(cast.member).post("/agents/new/", form_data(**TURNS))
    assert r.status_code == 302
    turn = Agent.objects.get(team=cast.team).configuration["turn_detection"]
    assert turn["mode"] == "semantic"
    assert turn["eagerness"] == "high"
    assert turn["interrupt_min_words"] == 2
    # The phrases are the speech-to-text language's (en-US: en), one per line or comma.
    assert turn["backchannel_phrases"] == {"en": ["mm-hmm", "got it", "sure thing"]}


def test_the_turn_fields_start_from_the_agents_language_and_settings(cast: Cast) -> None:
    agent = turn_agent(
        cast,
        mode="semantic",
        eagerness="low",
        interrupt_min_words=3,
        backchannel_phrases={"de": ["genau", "alles klar"], "en": ["got it"]},
    )
    page = html(signed_in(cast.member).get(f"/agents/{agent.id}/edit/"))
    assert '<option value="semantic" selected>By meaning, up to the silence</option>' in page
    assert '<option value="low" selected>Low: let the caller think</option>' in page
    assert 'name="turn_interrupt_min_words" value="3"' in page
    assert ">\ngenau\nalles klar</textarea>" in page  # German: the agent speaks de-AT


def test_emptied_phrases_fall_back_to_parleys_and_other_languages_stay(cast: Cast) -> None:
    phrases = {"de": ["genau"], "fr": ["d'accord"]}
    agent = turn_agent(cast, mode="semantic", backchannel_phrases=phrases)
    changes = {"stt_language": "de", "turn_backchannel_phrases": "", "turn_mode": "semantic"}
    r = signed_in(cast.member).post(f"/agents/{agent.id}/edit/", form_data(**changes))
    assert r.status_code == 302
    agent.refresh_from_db()
    assert agent.configuration["turn_detection"]["backchannel_phrases"] == {"fr": ["d'accord"]}


def test_a_page_without_the_turn_fields_leaves_them_as_they_are(cast: Cast) -> None:
    agent = turn_agent(cast, mode="semantic", eagerness="low", backchannel_phrases={"de": ["ja"]})
    r = signed_in(cast.member).post(f"/agents/{agent.id}/edit/", form_data(stt_language="de"))
    assert r.status_code == 302
    agent.refresh_from_db()
    turn = agent.configuration["turn_detection"]
    assert (turn["mode"], turn["eagerness"]) == ("semantic", "low")
    assert turn["backchannel_phrases"] == {"de": ["ja"]}


def test_turn_settings_the_schema_refuses_are_shown_beside_their_fields(cast: Cast) -> None:
    r = signed_in(cast.member).post(
        "/agents/new/",
        form_data(
            turn_mode="eager",
            turn_interrupt_min_words="50",
            turn_backchannel_phrases="mm-hmm\n" + "a" * 201,
        ),
    )
    assert r.status_code == 200
    assert not Agent.objects.exists()
    assert "Select a valid choice" in field_errors(r, "turn_mode")
    assert "less than or equal to 20" in field_errors(r, "turn_interrupt_min_words")
    assert "at most 200 characters" in field_errors(r, "turn_backchannel_phrases")


def test_viewers_cannot_edit(cast: Cast) -> None:
    agent = stored(cast)
    client = signed_in(cast.viewer)
    assert client.get(f"/agents/{agent.id}/edit/").status_code == 403
    assert client.post(f"/agents/{agent.id}/edit/", form_data(name="Hacked")).status_code == 403
    agent.refresh_from_db()
    assert agent.name == "Support"


def test_single_use_agents_cannot_be_edited(cast: Cast) -> None:
    agent = single_use(cast)
    client = signed_in(cast.owner)
    assert client.get(f"/agents/{agent.id}/edit/").status_code == 403
    assert client.post(f"/agents/{agent.id}/edit/", form_data()).status_code == 403


def test_another_teams_agent_is_not_found_for_editing(cast: Cast) -> None:
    theirs = AgentFactory(team=cast.other_team)
    client = signed_in(cast.owner)
    assert client.get(f"/agents/{theirs.id}/edit/").status_code == 404
    assert client.post(f"/agents/{theirs.id}/edit/", form_data()).status_code == 404
    assert client.get(f"/agents/{uuid.uuid4()}/edit/").status_code == 404


def test_the_edit_page_refuses_other_methods(cast: Cast) -> None:
    agent = stored(cast)
    assert signed_in(cast.owner).delete(f"/agents/{agent.id}/edit/").status_code == 405


# --- detail ---------------------------------------------------------------------------------


def test_the_detail_page_summarises_the_configuration_and_how_to_use_it(cast: Cast) -> None:
    tool = ToolFactory(team=cast.team, name="get_weather")
    document = AgentConfiguration().as_document()
    document["llm"] |= {"model": "gpt-4o", "system_prompt": "Sell boats."}
    document["tool_calling"]["selected_tool_ids"] = [str(tool.id)]
    agent = agent_of(cast, name="Boat seller", configuration=document)
    page = unescape(html(signed_in(cast.viewer).get(f"/agents/{agent.id}/")))
    assert "OpenAI · gpt-4o" in page
    assert "Sell boats." in page
    assert "get_weather" in page
    assert (
        f'<live-avatar agentid="{agent.id}"></live-avatar>\n'
        '<script src="http://testserver/widget/live-avatar.js"></script>'
    ) in page
    assert f"http://testserver/meet/{agent.id}" in page
    assert f"curl http://testserver/v1/agent/{agent.id}" in page
    assert f"curl -X PATCH http://testserver/v1/agent/{agent.id}" in page
    assert "curl http://testserver/v1/start-agent-session" in page
    assert f'{{"agentId": "{agent.id}", "mode": "chat"}}' in page
    assert 'id="test-call"' in page
    assert 'data-copy="embed-snippet"' in page


def test_the_detail_page_says_how_a_turn_ends_and_what_interrupts(cast: Cast) -> None:
    document = AgentConfiguration().as_document()
    plain = agent_of(cast, configuration=document)
    document["turn_detection"] |= {"mode": "semantic", "eagerness": "high"}
    document["turn_detection"]["interrupt_min_words"] = 2
    semantic = agent_of(cast, configuration=document)

    def turn_taking(agent: Agent) -> str:
        page = html(signed_in(cast.viewer).get(f"/agents/{agent.id}/"))
        card = page[page.index('id="turns-heading"') : page.index('id="limits-heading"')]
        return " ".join(unescape(re.sub(r"<[^>]+>", " ", card)).split())

    assert "End of turn After the silence" in turn_taking(plain)
    assert "Words that interrupt at least 1, not only acknowledgements" in turn_taking(plain)
    assert "End of turn By meaning, eagerness high" in turn_taking(semantic)
    assert "Words that interrupt at least 2, not only acknowledgements" in turn_taking(semantic)


def test_writers_see_the_controls_and_viewers_do_not(cast: Cast) -> None:
    agent = agent_of(cast)
    controls = (
        f'href="/agents/{agent.id}/edit/"',
        f'action="/agents/{agent.id}/duplicate/"',
        f'action="/agents/{agent.id}/delete/"',
        f'action="/agents/{agent.id}/publish/"',
    )
    writer_page = html(signed_in(cast.member).get(f"/agents/{agent.id}/"))
    assert all(control in writer_page for control in controls)
    viewer_page = html(signed_in(cast.viewer).get(f"/agents/{agent.id}/"))
    assert not any(control in viewer_page for control in controls)


def test_a_single_use_agent_is_shown_read_only_with_its_expiry(cast: Cast) -> None:
    agent = single_use(cast, expires_in=timedelta(hours=2))
    page = html(signed_in(cast.owner).get(f"/agents/{agent.id}/"))
    assert "Single-use agents are read-only here" in page
    assert "expires in 1\xa0hour, 59\xa0minutes" in page
    assert f"/agents/{agent.id}/edit/" not in page
    assert "/publish/" not in page


def test_an_expired_single_use_agent_is_marked_expired(cast: Cast) -> None:
    agent = single_use(cast, expires_in=timedelta(minutes=-5))
    page = html(signed_in(cast.owner).get(f"/agents/{agent.id}/"))
    assert ">Expired</span>" in page


def test_another_teams_agent_is_not_found(cast: Cast) -> None:
    theirs = AgentFactory(team=cast.other_team)
    assert signed_in(cast.owner).get(f"/agents/{theirs.id}/").status_code == 404


def test_the_detail_page_is_only_for_get(cast: Cast) -> None:
    agent = agent_of(cast)
    assert signed_in(cast.owner).post(f"/agents/{agent.id}/").status_code == 405


# --- the test call -----------------------------------------------------------------------


def test_the_test_call_runs_the_widget_against_the_agent(cast: Cast) -> None:
    agent = agent_of(cast, name="Boat seller", publish_status="draft")
    page = html(signed_in(cast.member).get(f"/agents/{agent.id}/"))
    start = page.index('<section id="test-call"')
    panel = page[start : page.index("</section>", start)]
    widget = re.search(r"<live-avatar [^>]*>", panel)
    assert widget, "no widget in the test call panel"
    assert f'agentid="{agent.id}"' in widget[0]
    assert 'data-endpoint="http://testserver/v1/start-agent-session"' in widget[0]
    assert 'position="inline"' in widget[0]
    assert 'title="Boat seller"' in widget[0]
    assert 'modes="chat voice"' in widget[0]  # a Call option beside the chat
    assert re.search(r'data-csrf-token="\w+"', widget[0])  # the sign-in cookie goes along
    assert re.search(r'<script src="/widget/live-avatar.js" nonce="[^"]+"></script>', page)
    assert 'src="/static/dashboard/test-call.js"' in page
    placeholder = "00000000-0000-0000-0000-000000000000"
    assert f'data-timeline-url="/sessions/{placeholder}/timeline/"' in panel
    assert f'data-session-url="/sessions/{placeholder}/"' in panel
    assert f'data-placeholder="{placeholder}"' in panel


def test_the_test_call_offers_a_video_call_when_the_agent_has_a_face(cast: Cast) -> None:
    document = AgentConfiguration.model_validate(
        {"video": {"provider": "binary", "character_id": "c1"}}
    ).as_document()
    agent = agent_of(cast, configuration=document)
    page = html(signed_in(cast.member).get(f"/agents/{agent.id}/"))
    widget = re.search(r'<live-avatar [^>]*title="[^"]*" modes="chat video"', page)
    assert widget
    assert "in a chat or a video call" in page


def test_viewers_may_run_a_test_call_too(cast: Cast) -> None:
    agent = agent_of(cast, publish_status="draft")
    assert f'<live-avatar class="block h-full" agentid="{agent.id}"' in html(
        signed_in(cast.viewer).get(f"/agents/{agent.id}/")
    )


def test_a_single_use_agent_has_no_test_call_that_would_use_it_up(cast: Cast) -> None:
    agent = single_use(cast)
    page = html(signed_in(cast.owner).get(f"/agents/{agent.id}/"))
    assert "<live-avatar" not in page
    assert "test-call.js" not in page
    assert "it would use up their one session" in page


# --- publish --------------------------------------------------------------------------------


def test_a_writer_changes_the_publish_status(cast: Cast) -> None:
    agent = agent_of(cast, name="Support")
    client = signed_in(cast.member)
    r = client.post(f"/agents/{agent.id}/publish/", {"publish_status": "public"})
    assert r.status_code == 302
    assert r["Location"] == f"/agents/{agent.id}/"
    agent.refresh_from_db()
    assert agent.publish_status == "public"
    assert ActivityEntry.objects.filter(target_id=str(agent.id), action=Action.PUBLISHED).exists()
    assert "Support is now public." in html(client.get(r["Location"]))


def test_an_htmx_publish_answers_with_the_status_card_and_a_toast(cast: Cast) -> None:
    agent = agent_of(cast, name="Support")
    r = signed_in(cast.member).post(
        f"/agents/{agent.id}/publish/", {"publish_status": "private"}, headers=HTMX
    )
    assert r.status_code == 200
    body = html(r).strip()
    assert body.startswith('<section id="publish-status"')
    assert "<html" not in body
    assert re.search(r'value="private"\s+aria-pressed="true" disabled', body)
    trigger = r["HX-Trigger"]
    assert '"agentPublished"' in trigger
    assert '"Support is now private."' in trigger


def test_a_garbage_publish_status_is_refused(cast: Cast) -> None:
    agent = agent_of(cast)
    r = signed_in(cast.member).post(f"/agents/{agent.id}/publish/", {"publish_status": "loud"})
    assert r.status_code == 400
    assert "Choose a publish status" in html(r)
    agent.refresh_from_db()
    assert agent.publish_status == "draft"


def test_publishing_is_refused_to_viewers_outsiders_single_use_and_get(cast: Cast) -> None:
    agent, theirs, once = agent_of(cast), AgentFactory(team=cast.other_team), single_use(cast)
    public = {"publish_status": "public"}
    assert signed_in(cast.viewer).post(f"/agents/{agent.id}/publish/", public).status_code == 403
    assert signed_in(cast.owner).post(f"/agents/{theirs.id}/publish/", public).status_code == 404
    assert signed_in(cast.owner).post(f"/agents/{once.id}/publish/", public).status_code == 403
    assert signed_in(cast.owner).get(f"/agents/{agent.id}/publish/").status_code == 405
    agent.refresh_from_db()
    assert agent.publish_status == "draft"


# --- duplicate ------------------------------------------------------------------------------


def test_a_writer_duplicates_an_agent_as_a_draft_copy(cast: Cast) -> None:
    document = AgentConfiguration().as_document()
    document["llm"]["system_prompt"] = "Sell boats."
    agent = agent_of(cast, name="Boats", publish_status="public", configuration=document)
    r = signed_in(cast.member).post(f"/agents/{agent.id}/duplicate/")
    copy = Agent.objects.exclude(id=agent.id).get()
    assert r.status_code == 302
    assert r["Location"] == f"/agents/{copy.id}/"
    assert copy.name == "Copy of Boats"
    assert copy.publish_status == "draft"
    assert copy.configuration == agent.configuration
    assert copy.created_by == cast.member


def test_duplicating_is_refused_to_viewers_outsiders_single_use_and_get(cast: Cast) -> None:
    agent, theirs, once = agent_of(cast), AgentFactory(team=cast.other_team), single_use(cast)
    assert signed_in(cast.viewer).post(f"/agents/{agent.id}/duplicate/").status_code == 403
    assert signed_in(cast.owner).post(f"/agents/{theirs.id}/duplicate/").status_code == 404
    assert signed_in(cast.owner).post(f"/agents/{once.id}/duplicate/").status_code == 403
    assert signed_in(cast.owner).get(f"/agents/{agent.id}/duplicate/").status_code == 405
    assert Agent.objects.count() == 3


# --- delete ---------------------------------------------------------------------------------


def test_delete_asks_first_and_deletes_only_on_post(cast: Cast) -> None:
    agent = agent_of(cast, name="Support")
    client = signed_in(cast.member)
    confirm = client.get(f"/agents/{agent.id}/delete/")
    assert confirm.status_code == 200
    assert "Delete Support?" in html(confirm)
    assert Agent.objects.filter(id=agent.id).exists()
    r = client.post(f"/agents/{agent.id}/delete/")
    assert r.status_code == 302
    assert r["Location"] == "/agents/"
    assert not Agent.objects.filter(id=agent.id).exists()
    assert ActivityEntry.objects.filter(target_id=str(agent.id), action=Action.DELETED).exists()
    assert "Deleted Support." in html(client.get("/agents/"))


def test_deleting_is_refused_to_viewers_outsiders_single_use_and_other_methods(
    cast: Cast,
) -> None:
    agent, theirs, once = agent_of(cast), AgentFactory(team=cast.other_team), single_use(cast)
    viewer = signed_in(cast.viewer)
    assert viewer.get(f"/agents/{agent.id}/delete/").status_code == 403
    assert viewer.post(f"/agents/{agent.id}/delete/").status_code == 403
    assert signed_in(cast.owner).post(f"/agents/{theirs.id}/delete/").status_code == 404
    assert signed_in(cast.owner).post(f"/agents/{once.id}/delete/").status_code == 403
    assert signed_in(cast.owner).put(f"/agents/{agent.id}/delete/").status_code == 405
    assert Agent.objects.count() == 3


def test_the_detail_page_says_plainly_when_the_agent_has_no_llm(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {}
    agent = AgentFactory(team=cast.team)  # OpenAI by default, and no key anywhere
    page = unescape(signed_in(cast.viewer).get(f"/agents/{agent.id}/").content.decode())
    assert "This agent cannot answer yet." in page
    assert "Providers page" in page
    assert "OPENAI_API_KEY" in page
    assert '<a class="font-medium underline" href="/providers/">Open the Providers page</a>' in page
    assert "(/providers/)" not in page  # the link says where, not the words


def test_the_detail_page_of_a_custom_agent_without_its_url_links_to_the_form(cast: Cast) -> None:
    agent = with_llm(cast, provider="custom")
    page = html(signed_in(cast.member).get(f"/agents/{agent.id}/"))
    assert "no custom URL" in page
    assert f'href="/agents/{agent.id}/edit/">Edit the agent</a>' in page


def test_the_detail_page_has_no_warning_when_a_provider_is_configured(
    cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = {"openai": {"api_key": "sk-operator-key"}}
    agent = AgentFactory(team=cast.team)
    page = signed_in(cast.viewer).get(f"/agents/{agent.id}/").content.decode()
    assert "data-llm-problem" not in page
    assert "sk-operator-key" not in page


@pytest.mark.parametrize(
    ("section", "value", "name"),
    [
        ("llm", "llamacpp", "llama.cpp"),
        ("llm", "local", "Local model (on this server)"),
        ("stt", "azure", "Azure Speech"),
        ("tts", "piper", "Piper (on this server)"),
        ("video", "binary", "iwy avatar"),
    ],
)
def test_list_and_detail_name_providers_as_the_form_does(
    cast: Cast, section: str, value: str, name: str
) -> None:
    document = AgentConfiguration().as_document()
    document[section]["provider"] = value
    agent = agent_of(cast, name="Named", configuration=document)
    client = signed_in(cast.viewer)
    pages = [html(client.get(f"/agents/{agent.id}/"))]
    if section == "llm":  # the list shows the LLM only
        pages.append(html(client.get("/agents/")))
    for page in pages:
        assert name in unescape(page)
        assert re.search(rf">\s*{value}\s*·", page) is None


# --- first steps: which agents cannot answer, and where that is fixed -----------------------

LOCAL = {"local": {"base_url": "http://127.0.0.1:8003/v1"}}


def with_llm(cast: Cast, **llm: Any) -> Agent:
    document = AgentConfiguration().as_document()
    document["llm"] |= llm
    return agent_of(cast, configuration=document)


def team_key(cast: Cast, kind: str) -> Provider:
    return Provider.objects.create(team=cast.team, kind=kind, credentials={"api_key": "sk-team"})


def row_of(page: str, agent: Agent) -> str:
    match = re.search(rf'<tr>\s*<td[^>]*><a href="/agents/{agent.id}/">.*?</tr>', page, re.S)
    assert match, f"no row for {agent.name}"
    return match.group(0)


def test_the_list_marks_each_agent_whose_llm_is_not_set_up(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    team_key(cast, "groq")
    keyless = with_llm(cast, provider="openai")
    custom = with_llm(cast, provider="custom")
    fine = [
        with_llm(cast, provider="local"),
        with_llm(cast, provider="groq"),
        with_llm(cast, provider="openai", custom_url="https://llm.example.com/v1"),
    ]
    page = unescape(html(signed_in(cast.viewer).get("/agents/")))
    badge = row_of(page, keyless)
    assert 'href="/providers/"' in badge
    assert "Cannot answer yet: needs an API key" in badge
    assert 'title="No OpenAI credentials: an owner or admin can add an API key' in badge
    assert f'href="/agents/{custom.id}/edit/"' in row_of(page, custom)
    assert "needs a custom URL" in row_of(page, custom)
    for agent in fine:
        assert "data-llm-problem" not in row_of(page, agent)


def test_the_htmx_table_marks_agents_too(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    with_llm(cast, provider="openai")
    r = signed_in(cast.member).get("/agents/", headers=HTMX)
    assert "Cannot answer yet: needs an API key" in html(r)


def test_with_no_openai_key_the_new_agent_form_starts_on_the_local_model(
    cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    page = html(signed_in(cast.member).get("/agents/new/"))
    assert '<option value="local" selected>Local model (on this server) — ready</option>' in page
    assert 'name="llm_model" value="local"' in page
    assert "data-llm-problem" not in page


@pytest.mark.parametrize("where", ["install", "team"])
def test_with_an_openai_key_the_new_agent_form_starts_on_openai(
    cast: Cast, settings: Any, where: str
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    if where == "install":
        settings.LLM_PROVIDER_DEFAULTS = LOCAL | {"openai": {"api_key": "sk-operator"}}
    else:
        team_key(cast, "openai")
    page = html(signed_in(cast.member).get("/agents/new/"))
    assert '<option value="openai" selected>OpenAI — ready</option>' in page
    assert 'name="llm_model" value="gpt-4o-mini"' in page
    assert '<option value="local">Local model (on this server) — ready</option>' in page


def test_the_provider_select_says_in_words_which_providers_are_ready(
    cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    team_key(cast, "groq")
    page = html(signed_in(cast.member).get("/agents/new/"))
    assert '<option value="openai">OpenAI — needs an API key</option>' in page
    assert '<option value="groq">Groq — ready</option>' in page
    assert '<option value="vllm">vLLM — needs a server address</option>' in page
    assert '<option value="custom">Custom (the URL below)</option>' in page
    assert re.search(
        r'<select name="llm_provider"[^>]*aria-describedby="llm-provider-notice"', page
    )


def test_the_model_box_suggests_the_local_model(cast: Cast) -> None:
    page = unescape(html(signed_in(cast.member).get("/agents/new/")))
    assert '<option value="local" label="Local model (on this server)">' in page
    assert '<option value="gpt-4o-mini" label="OpenAI">' in page


def test_the_edit_form_says_under_the_provider_what_it_lacks(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    agent = with_llm(cast, provider="openai")
    page = unescape(html(signed_in(cast.member).get(f"/agents/{agent.id}/edit/")))
    notice = re.search(r'<div id="llm-provider-notice".*?</div>', page, re.S)
    assert notice
    assert "No OpenAI credentials" in notice.group(0)
    assert 'href="/providers/"' in notice.group(0)


def test_the_form_has_no_notice_for_a_ready_provider_or_a_custom_url(
    cast: Cast, settings: Any
) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    client = signed_in(cast.member)
    for agent in (
        with_llm(cast, provider="local"),
        with_llm(cast, provider="openai", custom_url="https://llm.example.com/v1"),
    ):
        page = html(client.get(f"/agents/{agent.id}/edit/"))
        assert 'id="llm-provider-notice"' in page  # the place the live check fills
        assert "data-llm-problem" not in page


def live_check(cast: Cast, field: str, **changes: Any) -> str:
    r = signed_in(cast.member).post(
        "/agents/validate/", form_data(**changes), headers=HTMX | {"HX-Trigger-Name": field}
    )
    assert r.status_code == 200
    return unescape(html(r))


def test_choosing_another_provider_updates_the_notice(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    body = live_check(cast, "llm_provider", llm_provider="openai")
    assert '<div id="llm-provider-notice" aria-live="polite" hx-swap-oob="true">' in body
    assert "No OpenAI credentials" in body
    assert 'href="/providers/"' in body
    body = live_check(cast, "llm_provider", llm_provider="local")
    assert '<div id="llm-provider-notice" aria-live="polite" hx-swap-oob="true">' in body
    assert "data-llm-problem" not in body


def test_a_custom_url_clears_the_notice(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    url = "https://llm.example.com/v1"
    body = live_check(cast, "llm_custom_url", llm_provider="openai", llm_custom_url=url)
    assert 'id="llm-provider-notice"' in body
    assert "data-llm-problem" not in body


def test_typing_elsewhere_leaves_the_notice_alone(cast: Cast, settings: Any) -> None:
    settings.LLM_PROVIDER_DEFAULTS = LOCAL
    body = live_check(cast, "llm_temperature", llm_provider="openai")
    assert "llm-provider-notice" not in body
