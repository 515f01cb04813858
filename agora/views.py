"""The Agora settings page (the team's credentials, shown masked) and the session page's
speak and interrupt controls. Saving works without HTMX; the controls answer HTMX with their
own region and redirect back without it."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from parley.errors import Conflict, InvalidInput, ParleyError
from providers.catalog import api_key_hint
from sessions.models import Session
from teams.access import ADMIN_ROLES, DashboardRequest, require_admin, require_writer, team_required

from . import services
from .forms import AgoraAccountForm, SpeakForm
from .models import AgoraAccount

PAGE = "agora/settings.html"


def _shown(account: AgoraAccount | None) -> dict[str, str] | None:
    """The credentials as people may see them: the app id whole (it is public: every caller's
    browser gets it), the rest masked."""
    if account is None:
        return None
    return {
        "app_id": account.app_id,
        "customer_id": api_key_hint(account.customer_id),
        "customer_secret": api_key_hint(account.customer_secret),
        "app_certificate": api_key_hint(account.app_certificate),
    }


def _initial(account: AgoraAccount | None) -> dict[str, str]:
    return {"app_id": account.app_id} if account else {}


@require_http_methods(["GET", "POST"])
@team_required
def agora_settings(request: DashboardRequest) -> HttpResponse:
    team = request.membership.team
    account = services.agora_account_get(team=team)
    form = AgoraAccountForm(initial=_initial(account))
    if request.method == "POST":
        actor = require_admin(request)  # calls with these credentials are billed to the team
        form = AgoraAccountForm(request.POST)
        if form.is_valid():
            try:
                services.agora_account_save(team=team, user=actor.person, **form.cleaned_data)
            except (InvalidInput, Conflict) as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, "Saved the Agora credentials.")
                return redirect("agora:settings")
    context = {
        "shown": _shown(account),
        "form": form,
        "can_manage": request.membership.role in ADMIN_ROLES,
    }
    return render(request, PAGE, context, status=400 if form.errors else 200)


@require_POST
@team_required
def agora_delete(request: DashboardRequest) -> HttpResponse:
    actor = require_admin(request)
    if services.agora_account_delete(team=request.membership.team, user=actor.person):
        messages.success(request, "Removed the Agora credentials.")
    return redirect("agora:settings")


def _controls(
    request: DashboardRequest, session: Session, result: str, failed: bool = False
) -> HttpResponse:
    if not request.htmx:
        (messages.error if failed else messages.success)(request, result)
        return redirect("conversations:detail", session.pk)
    context: dict[str, Any] = {"session": session, "result": result, "failed": failed}
    return render(request, "agora/_session.html", context)


def _session(request: DashboardRequest, session_id: UUID) -> Session:
    return get_object_or_404(Session, team=request.membership.team, pk=session_id)


@require_POST
@team_required
def session_speak(request: DashboardRequest, session_id: UUID) -> HttpResponse:
    require_writer(request)
    session = _session(request, session_id)
    form = SpeakForm(request.POST)
    if not form.is_valid():
        return _controls(request, session, "Type what the agent should say.", failed=True)
    try:
        services.agora_session_speak(session=session, **form.cleaned_data)
    except ParleyError as exc:
        return _controls(request, session, exc.message, failed=True)
    return _controls(request, session, "The agent is saying it.")


@require_POST
@team_required
def session_interrupt(request: DashboardRequest, session_id: UUID) -> HttpResponse:
    require_writer(request)
    session = _session(request, session_id)
    try:
        services.agora_session_interrupt(session=session)
    except ParleyError as exc:
        return _controls(request, session, exc.message, failed=True)
    return _controls(request, session, "Interrupted the agent.")
