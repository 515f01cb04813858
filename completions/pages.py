"""The agent page's "Use it as an LLM" section: the endpoint, and the keys that may call it.

Members who can change agents mint and revoke keys; everyone in the team sees them, masked. The
secret is on the page once, in the answer to the POST that made it."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from agents.models import Agent
from config.addresses import async_url
from teams.access import DashboardRequest, require_writer, team_required

from . import services
from .forms import LLMKeyForm
from .models import AgentLLMKey
from .selectors import llm_key_list

SECTION = "completions/llm_keys.html"


def llm_keys_context(request: DashboardRequest, agent: Agent) -> dict[str, Any]:
    """What the section needs; the agent page includes it with these."""
    return {
        "agent": agent,
        "completions_url": async_url(request, "agent_chat_completions", agent.id),
        "llm_keys": llm_key_list(agent=agent),
        "llm_key_form": LLMKeyForm(),
        "can_mint": request.membership.can_write,
    }


def _section(
    request: DashboardRequest, agent: Agent, status: int = 200, **extra: Any
) -> HttpResponse:
    context = llm_keys_context(request, agent) | extra
    return render(request, SECTION, context, status=status)


def _agent(request: DashboardRequest, agent_id: UUID) -> Agent:
    return get_object_or_404(Agent, team_id=request.membership.team_id, id=agent_id)


@require_POST
@team_required
def llm_key_create(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    actor = require_writer(request)
    agent = _agent(request, agent_id)
    form = LLMKeyForm(request.POST)
    if not form.is_valid():
        return _section(request, agent, status=400, llm_key_form=form)
    key, secret = services.llm_key_create(agent=agent, name=form.cleaned_data["name"], actor=actor)
    context = llm_keys_context(request, agent) | {"new_llm_key": key, "secret": secret}
    # Without HTMX, a page of its own: the agent's page is only ever shown without the secret.
    page = SECTION if request.htmx else "completions/llm_key_created.html"
    response = render(request, page, context, status=201)
    add_never_cache_headers(response)  # no browser or proxy may keep the secret
    return response


@require_POST
@team_required
def llm_key_revoke(request: DashboardRequest, agent_id: UUID, key_id: int) -> HttpResponse:
    actor = require_writer(request)
    agent = _agent(request, agent_id)
    key = get_object_or_404(AgentLLMKey.objects.select_related("agent"), agent=agent, pk=key_id)
    services.llm_key_revoke(key=key, actor=actor)
    message = f"The key {key.prefix}… was revoked."
    if not request.htmx:
        messages.success(request, message)
        return redirect(reverse("agents:detail", args=[agent.id]) + "#llm-keys")
    return trigger_client_event(_section(request, agent), "toast", {"value": message})
