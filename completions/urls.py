"""The agent page's keys section: mint and revoke the keys that let an engine use the agent."""

from django.urls import path

from . import pages

app_name = "completions"

urlpatterns = [
    path("<uuid:agent_id>/llm-keys/", pages.llm_key_create, name="llm_key_create"),
    path(
        "<uuid:agent_id>/llm-keys/<int:key_id>/revoke/",
        pages.llm_key_revoke,
        name="llm_key_revoke",
    ),
]
