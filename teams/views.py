from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from parley.errors import ParleyError

from . import selectors, services
from .access import ADMIN_ROLES, DashboardRequest, require_admin, team_required
from .forms import (
    ApiKeyForm,
    InvitationForm,
    MembershipRoleForm,
    RoleField,
    SignUpForm,
    TeamCreateForm,
)
from .models import ApiKey, ApiKeyScope, Invitation, Membership, Role, User

TEAM_PAGE = "teams/team.html"


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing up: a `next` on this site, else nowhere in particular."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if safe else ""


def _is_invitation(url: str) -> bool:
    try:
        return resolve(urlsplit(url).path).view_name == "teams:invitation"
    except Resolver404:
        return False


def _team_page(
    request: DashboardRequest, section: str | None = None, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The Team page, or for HTMX only the `section` that changed. Lists are lazy querysets,
    so a section costs only its own queries."""
    membership = request.membership
    roles = services.roles_managed_by(membership.role)
    context = {
        "can_manage": membership.role in ADMIN_ROLES,
        "managed_roles": roles,
        "role_choices": RoleField(roles=roles).choices,
        "members": selectors.membership_list(team=membership.team),
        "invitations": selectors.invitation_list_pending(team=membership.team),
        "api_keys": selectors.api_key_list(team=membership.team),
        "invitation_form": InvitationForm(roles=roles),
        "api_key_form": ApiKeyForm(),
        **extra,
    }
    template = TEAM_PAGE
    if request.htmx and section:
        template += f"#{section}"
        # htmx 2 swaps only successful responses; the section itself carries any error.
        status = 200 if status >= 400 else status
    return render(request, template, context, status=status)


def _changed(request: DashboardRequest, section: str, message: str) -> HttpResponse:
    """After a change: the updated section for HTMX, else back to the page (POST/redirect/GET)."""
    if request.htmx:
        return trigger_client_event(_team_page(request, section), "toast", {"value": message})
    messages.success(request, message)
    return redirect("teams:team")


def _refused(request: DashboardRequest, section: str, error: ParleyError) -> HttpResponse:
    if error.status == 403:
        raise PermissionDenied(error.message)
    return _team_page(request, section, status=error.status, **{f"{section}_error": error.message})


def _shown_once(response: HttpResponse) -> HttpResponse:
    """A response carrying a secret: no browser or proxy may keep a copy."""
    add_never_cache_headers(response)
    return response


def signup(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    # On the way to accept an invitation, a person joins that team instead of creating one.
    joining = _is_invitation(next_url)
    form = SignUpForm(request.POST or None, joining=joining)
    if request.method == "POST" and form.is_valid():
        email, password = form.cleaned_data["email"], form.cleaned_data["password"]
        if joining:
            user = services.user_create(email=email, password=password)
        else:
            user = services.user_sign_up(
                email=email, password=password, team_name=form.cleaned_data["team_name"]
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "home")
    context = {"form": form, "next": next_url, "joining": joining}
    return render(request, "registration/signup.html", context)


@login_required
def team_create(request: DashboardRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.team_create(name=form.cleaned_data["name"], owner=request.user)
        request.session["team_id"] = team.pk
        return redirect("home")
    return render(request, "teams/create.html", {"form": form})


@require_POST
@login_required
def team_switch(request: DashboardRequest) -> HttpResponse:
    """Work in another of one's teams; a team one is not in is ignored, never revealed."""
    team_id = request.POST.get("team", "")
    if team_id.isdigit() and Membership.objects.filter(user=request.user, team_id=team_id).exists():
        request.session["team_id"] = int(team_id)
    return redirect("home")


@require_GET
@team_required
def team_detail(request: DashboardRequest) -> HttpResponse:
    return _team_page(request)


# Members.


def _team_membership(request: DashboardRequest, membership_id: int) -> Membership:
    """A membership of the current team; another team's is a 404."""
    return get_object_or_404(
        Membership.objects.select_related("user", "team"),
        pk=membership_id,
        team=request.membership.team,
    )


@require_POST
@team_required
def membership_role(request: DashboardRequest, membership_id: int) -> HttpResponse:
    actor = require_admin(request)
    target = _team_membership(request, membership_id)
    roles = services.roles_managed_by(request.membership.role)
    form = MembershipRoleForm(request.POST, roles=roles)
    if not form.is_valid():
        error = f"{target.user}: {form.errors['role'][0]}"
        return _team_page(request, "members", status=400, members_error=error)
    role = Role(form.cleaned_data["role"])
    try:
        services.membership_role_change(membership=target, role=role, actor=actor)
    except ParleyError as exc:
        return _refused(request, "members", exc)
    return _changed(request, "members", f"{target.user} is now {role.label.lower()}.")


@require_POST
@team_required
def membership_remove(request: DashboardRequest, membership_id: int) -> HttpResponse:
    actor = require_admin(request)
    target = _team_membership(request, membership_id)
    try:
        services.membership_remove(membership=target, actor=actor)
    except ParleyError as exc:
        return _refused(request, "members", exc)
    if target.user_id == request.user.pk:  # they left: this team's pages are no longer theirs
        messages.success(request, f"You left {target.team}.")
        return HttpResponseClientRedirect(reverse("home")) if request.htmx else redirect("home")
    return _changed(request, "members", f"{target.user} was removed from the team.")


# Invitations.


@require_POST
@team_required
def invitation_create(request: DashboardRequest) -> HttpResponse:
    actor = require_admin(request)
    form = InvitationForm(request.POST, roles=services.roles_managed_by(request.membership.role))
    if not form.is_valid():
        return _team_page(request, "invitations", status=400, invitation_form=form)
    try:
        invitation, token = services.invitation_create(
            team=request.membership.team,
            role=Role(form.cleaned_data["role"]),
            email=form.cleaned_data["email"],
            expires_in=timedelta(days=form.cleaned_data["expires_in_days"]),
            actor=actor,
        )
    except ParleyError as exc:
        return _refused(request, "invitations", exc)
    link = request.build_absolute_uri(reverse("teams:invitation", args=[token]))
    # The link is in this response only: its token is stored as a hash, never in clear.
    response = _team_page(
        request, "invitations", status=201, new_invitation=invitation, new_invitation_link=link
    )
    return _shown_once(response)


@require_POST
@team_required
def invitation_revoke(request: DashboardRequest, invitation_id: int) -> HttpResponse:
    actor = require_admin(request)
    invitation = get_object_or_404(
        Invitation.objects.select_related("team"), pk=invitation_id, team=request.membership.team
    )
    try:
        services.invitation_revoke(invitation=invitation, actor=actor)
    except ParleyError as exc:
        return _refused(request, "invitations", exc)
    return _changed(request, "invitations", "The invitation link was revoked.")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: join the team, or learn why the link no longer works."""
    page = "teams/invitation.html"
    invitation = selectors.invitation_for_token(token)
    if invitation is None:
        problem = "This invitation link is not valid. Check that it was copied whole."
        return render(request, page, {"problem": problem}, status=404)
    if reason := invitation.unusable_because(timezone.now()):
        problem = f"This invitation to {invitation.team} {reason}."
        return render(request, page, {"invitation": invitation, "problem": problem}, status=410)
    user = request.user
    if not isinstance(user, User):  # not signed in: sign in or sign up, then come back
        if request.method == "POST":
            return redirect_to_login(request.get_full_path())
        return render(request, page, {"invitation": invitation})
    if request.method == "GET":
        already_member = user.memberships.filter(team=invitation.team).exists()
        return render(request, page, {"invitation": invitation, "already_member": already_member})
    try:
        membership = services.invitation_accept(token=token, user=user)
    except ParleyError as exc:
        context = {"invitation": invitation, "problem": exc.message}
        return render(request, page, context, status=exc.status)
    request.session["team_id"] = membership.team_id
    role = membership.get_role_display().lower()
    messages.success(request, f"You joined {invitation.team} as {role}.")
    return redirect("home")


# API keys.


@require_POST
@team_required
def api_key_create(request: DashboardRequest) -> HttpResponse:
    actor = require_admin(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _team_page(request, "api_keys", status=400, api_key_form=form)
    api_key, secret = services.api_key_create(
        team=request.membership.team,
        name=form.cleaned_data["name"],
        scope=ApiKeyScope(form.cleaned_data["scope"]),
        actor=actor,
    )
    # The one place the secret ever appears: only its keyed hash is stored.
    response = _team_page(request, "api_keys", status=201, new_api_key=api_key, secret=secret)
    return _shown_once(response)


@require_POST
@team_required
def api_key_revoke(request: DashboardRequest, api_key_id: int) -> HttpResponse:
    actor = require_admin(request)
    api_key = get_object_or_404(
        ApiKey.objects.select_related("team"), pk=api_key_id, team=request.membership.team
    )
    services.api_key_revoke(api_key=api_key, actor=actor)
    return _changed(request, "api_keys", f"The key {api_key.prefix}… was revoked.")
