"""The iwy page (Settings → iwy): the account, every link and its state, and the single-use
agents minted; and the actions of the iwy panel on agent and tool pages. Every action posts and
goes back (to the object's page, or to the iwy page when it came from there) with a message
saying what happened or what iwy said."""

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from csp.constants import NONCE, SELF, UNSAFE_INLINE
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from agents.models import Agent
from config.csp import csp_replaced
from parley.errors import ParleyError
from providers.catalog import api_key_hint
from teams.access import ADMIN_ROLES, DashboardRequest, require_admin, require_writer, team_required
from tools.models import Tool

from . import selectors, services
from .forms import AccountForm, ResolveForm
from .models import AgentLink, Link, ToolLink

KINDS: dict[str, tuple[type[Agent] | type[Tool], type[AgentLink] | type[ToolLink], str]] = {
    "agents": (Agent, AgentLink, "agents:detail"),
    "tools": (Tool, ToolLink, "tools:detail"),
}


def _target(request: DashboardRequest, kind: str, object_id: UUID) -> Agent | Tool:
    """One of the current team's agents or tools; another team's is a 404."""
    if kind not in KINDS:
        raise Http404("No such kind of object.")
    model = KINDS[kind][0]
    found = model.objects.filter(team_id=request.membership.team_id, id=object_id).first()
    if found is None:
        raise Http404("No such agent or tool in this team.")
    return found


def _link(kind: str, target: Agent | Tool) -> Link:
    link = KINDS[kind][1].objects.filter(**{kind[:-1]: target}).first()
    if link is None:
        raise Http404("This is not on iwy.")
    return link


def _back(request: DashboardRequest, kind: str, target: Agent | Tool) -> HttpResponse:
    url = reverse("iwy:account") if request.POST.get("back") == "iwy" else None
    url = url or reverse(KINDS[kind][2], args=[target.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _done(request: DashboardRequest, message: str, error: ParleyError | None = None) -> None:
    if error is None:
        messages.success(request, message)
    else:
        messages.error(request, f"{message}: {error.message}")


def _page(request: DashboardRequest, form: AccountForm | None = None) -> HttpResponse:
    team = request.membership.team
    account = selectors.account_get(team=team)
    context: dict[str, Any] = {
        "account": account,
        "key_hint": api_key_hint(account.api_key) if account else "",
        "api_url": settings.IWY_API_URL,
        "form": form or AccountForm(connected=account is not None),
        "can_manage": request.membership.role in ADMIN_ROLES,
        "agent_links": selectors.agent_links(team=team),
        "tool_links": selectors.tool_links(team=team),
        "minted": selectors.minted_list(team=team)[:20],
    }
    return render(request, "iwy/account.html", context, status=400 if form else 200)


@require_GET
@team_required
def account(request: DashboardRequest) -> HttpResponse:
    return _page(request)


@require_POST
@team_required
def account_save(request: DashboardRequest) -> HttpResponse:
    """Connect, or replace the key. Owners and admins only: the key spends the team's money."""
    actor = require_admin(request)
    team = request.membership.team
    form = AccountForm(request.POST, connected=selectors.account_get(team=team) is not None)
    if form.is_valid():
        try:
            services.account_connect(team=team, actor=actor, api_key=form.cleaned_data["api_key"])
        except ParleyError as exc:
            form.add_error("api_key", exc.message)
        else:
            messages.success(request, "Saved the iwy API key.")
            return redirect("iwy:account")
    return _page(request, form)


@require_POST
@team_required
def account_delete(request: DashboardRequest) -> HttpResponse:
    actor = require_admin(request)
    services.account_disconnect(team=request.membership.team, actor=actor)
    messages.success(request, "Disconnected the iwy account. Links are kept, paused.")
    url = reverse("iwy:account")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@team_required
def publish(request: DashboardRequest, kind: str, object_id: UUID) -> HttpResponse:
    target = _target(request, kind, object_id)
    actor = require_writer(request)
    try:
        if isinstance(target, Agent):
            with_tools = request.POST.get("with_tools") == "1"
            link: Link = services.agent_publish(agent=target, with_tools=with_tools, actor=actor)
        else:
            link = services.tool_publish(tool=target, actor=actor)
    except ParleyError as exc:
        _done(request, f"Could not publish {target.name} to iwy", exc)
    else:
        _done(request, f"Published {target.name} to iwy as {link.remote_id}.")
    return _back(request, kind, target)


@require_POST
@team_required
def resolve(request: DashboardRequest, kind: str, object_id: UUID) -> HttpResponse:
    """Drift: a person says which side wins, Parley's (pushed over iwy's) or iwy's (applied
    to Parley through the usual update, validated)."""
    target = _target(request, kind, object_id)
    actor = require_writer(request)
    link = _link(kind, target)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Choose keep=parley or keep=iwy.", status=400)
    try:
        if form.cleaned_data["keep"] == "parley":
            services.link_keep_parley(link=link, actor=actor)
            done = f"Pushed Parley's {target.name} over iwy's."
        else:
            services.link_take_iwy(link=link, actor=actor)
            done = f"Took iwy's changes into {target.name}."
    except ParleyError as exc:
        _done(request, f"Could not resolve {target.name}", exc)
    else:
        _done(request, done)
    return _back(request, kind, target)


@require_POST
@team_required
def pull(request: DashboardRequest, kind: str, object_id: UUID) -> HttpResponse:
    """Check iwy's copy now rather than at the next periodic pull."""
    target = _target(request, kind, object_id)
    require_writer(request)
    link = _link(kind, target)
    try:
        state = services.link_pull(model=services.link_model(link), link_id=link.pk)
    except ParleyError as exc:
        _done(request, f"Could not read {target.name} on iwy", exc)
    else:
        _done(request, f"Checked iwy: {target.name} is {state.replace('_', ' ')}.")
    return _back(request, kind, target)


@require_POST
@team_required
def unlink(request: DashboardRequest, kind: str, object_id: UUID) -> HttpResponse:
    target = _target(request, kind, object_id)
    actor = require_writer(request)
    services.link_unlink(link=_link(kind, target), actor=actor)
    _done(request, f"Unlinked {target.name} from iwy; its copy on iwy is left as it is.")
    return _back(request, kind, target)


# iwy's widget comes from its own host, and brings its own styles, media and connections to iwy
# and to Daily; only the agent page may frame it.
_IWY_WIDGET_ORIGIN = "{0.scheme}://{0.netloc}".format(urlsplit(settings.IWY_WIDGET_URL))
PREVIEW_POLICY = {
    "script-src": [SELF, NONCE, _IWY_WIDGET_ORIGIN],
    "style-src": [SELF, UNSAFE_INLINE, "https:"],
    "connect-src": [SELF, "https:", "wss:"],
    "img-src": [SELF, "data:", "blob:", "https:"],
    "media-src": [SELF, "blob:", "https:"],
    "font-src": [SELF, "data:", "https:"],
    "frame-src": ["https:"],
    "frame-ancestors": [SELF],
}


@require_GET
@team_required
@xframe_options_sameorigin
@csp_replaced(PREVIEW_POLICY)
def preview(request: DashboardRequest, object_id: UUID) -> HttpResponse:
    """The agent on iwy through iwy's own widget script, for the agent page's frame: a page of
    its own, as iwy's script defines the same <live-avatar> element as Parley's widget."""
    agent = _target(request, "agents", object_id)
    link = _link("agents", agent)
    context = {"agent": agent, "link": link, "widget_url": settings.IWY_WIDGET_URL}
    return render(request, "iwy/preview.html", context)
