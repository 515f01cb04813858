"""The dashboard's "analyse again" buttons: on a session's page, and on an agent's page for a
range of days. Both post, then go back to the page they came from."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from agents.models import Agent
from parley.errors import ParleyError
from sessions.models import Session
from teams.access import DashboardRequest, require_writer, team_required

from .forms import RerunRangeForm
from .services import analyses_request, analysis_request


@require_POST
@team_required
def session_analyse(request: DashboardRequest, session_id: UUID) -> HttpResponse:
    require_writer(request)
    session = get_object_or_404(Session, team=request.membership.team, pk=session_id)
    try:
        analysis_request(session=session)
    except ParleyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The session is being analysed; reload the page in a moment.")
    return redirect("conversations:detail", session.id)


@require_POST
@team_required
def agent_analyse(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    require_writer(request)
    agent = get_object_or_404(Agent, team=request.membership.team, pk=agent_id)
    form = RerunRangeForm(request.POST)
    if not form.is_valid():
        said = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, f"Nothing was analysed: {said}")
        return redirect("agents:detail", agent.id)
    try:
        queued = analyses_request(
            agent=agent, start=form.cleaned_data["date_from"], end=form.cleaned_data["date_to"]
        )
    except ParleyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{queued} ended session(s) queued for analysis.")
    return redirect("agents:detail", agent.id)
