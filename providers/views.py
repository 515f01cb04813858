"""The Providers page: every kind of provider, LLM then speech, where its credentials come from,
and for owners and admins a form to store the team's own. Saving and removing work with HTMX
(the card is swapped) and without it (POST, then back to the page with a message).

The local model's card also says whether its server serves, with which model and how fast:
`?status=local`, which the card loads once the page is shown (a server that does not answer
must not hold the page), or which a link opens without JavaScript."""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from localllm.selectors import LocalLLMStatus, local_llm_status
from parley.errors import Conflict, InvalidInput
from teams.access import ADMIN_ROLES, DashboardRequest, require_admin, team_required

from . import selectors, services
from .catalog import ProviderKind, provider_kind
from .forms import ProviderForm

PAGE = "providers/list.html"


def _facts(kind: str) -> ProviderKind:
    """A kind a team can store credentials for; 404 for any other."""
    try:
        facts = provider_kind(kind)
    except LookupError:
        raise Http404("Parley knows no provider of this kind.") from None
    if facts.managed:
        raise Http404("Parley runs this provider: a team has nothing to store for it.")
    return facts


def _card(status: selectors.ProviderStatus, form: ProviderForm | None = None) -> dict[str, Any]:
    form = form or ProviderForm(facts=status.facts, provider=status.provider)
    return {"status": status, "form": form}


def _page(
    request: DashboardRequest,
    bound: ProviderForm | None = None,
    local: LocalLLMStatus | None = None,
) -> HttpResponse:
    """The whole page; `bound` (a form that came back with errors) replaces its kind's form.
    `local`: the local model's status, shown in its card instead of loaded after the page."""
    statuses = selectors.providers_overview(team=request.membership.team)
    cards = [
        _card(status, bound if bound and bound.prefix == status.kind else None)
        for status in statuses
    ]
    context = {
        "llm_cards": [card for card in cards if not card["status"].facts.speech],
        "speech_cards": [card for card in cards if card["status"].facts.speech],
        "can_manage": request.membership.role in ADMIN_ROLES,
        # Agents cannot answer at all; a missing speech key only stops calls, which say so.
        "none_configured": all(
            status.status == "missing" for status in statuses if not status.facts.speech
        ),
        "local": local,
    }
    return render(request, PAGE, context)


def _card_response(
    request: DashboardRequest, kind: str, form: ProviderForm | None = None
) -> HttpResponse:
    """One kind's card, as HTMX swaps it in after a change."""
    status = next(
        s for s in selectors.providers_overview(team=request.membership.team) if s.kind == kind
    )
    context = _card(status, form) | {"can_manage": True}
    return render(request, f"{PAGE}#card", context)


def _changed(request: DashboardRequest, kind: str, message: str) -> HttpResponse:
    if request.htmx:
        return trigger_client_event(_card_response(request, kind), "toast", {"value": message})
    messages.success(request, message)
    return redirect("providers:list")


@require_GET
@team_required
def provider_list(request: DashboardRequest) -> HttpResponse:
    if request.GET.get("status") != "local":
        return _page(request)
    local = local_llm_status()
    if request.htmx:
        return render(request, f"{PAGE}#local-status", {"local": local})
    return _page(request, local=local)


@require_POST
@team_required
def provider_save(request: DashboardRequest, kind: str) -> HttpResponse:
    """Owners and admins only: a key spends the team's money."""
    facts = _facts(kind)
    actor = require_admin(request)
    team = request.membership.team
    provider = selectors.provider_get(team=team, kind=kind)
    form = ProviderForm(request.POST, facts=facts, provider=provider)
    if form.is_valid():
        try:
            services.provider_save(
                team=team,
                actor=actor,
                kind=kind,
                base_url=form.cleaned_data.get("base_url", ""),
                api_key=form.cleaned_data["api_key"],
                region=form.cleaned_data.get("region"),
            )
        except (InvalidInput, Conflict) as exc:
            form.add_service_error(exc)
        else:
            return _changed(request, kind, f"Saved the {facts.label} credentials.")
    if request.htmx:
        return _card_response(request, kind, form)
    return _page(request, bound=form)


@require_POST
@team_required
def provider_delete(request: DashboardRequest, kind: str) -> HttpResponse:
    facts = _facts(kind)
    actor = require_admin(request)
    provider = selectors.provider_get(team=request.membership.team, kind=kind)
    if provider is None:
        raise Http404(f"This team has stored no {facts.label} credentials.")
    services.provider_delete(provider=provider, actor=actor)
    return _changed(request, kind, f"Removed the {facts.label} credentials.")
