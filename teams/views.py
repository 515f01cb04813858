from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
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
from sessions.limits import address_key, client_ip, window_hit

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


def sign_in_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The email a sign-in's failures are counted by (django-axes): as the account's, so that
    changing its case or spacing does not buy more guesses."""
    return str((credentials or {}).get("username") or "").strip().lower()


def sign_in_locked(
    request: HttpRequest, original_response: object = None, credentials: object = None
) -> HttpResponse:
    """The page a sign-in refused by the lockout (django-axes) gets, dashboard or admin: 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


def _sign_up_allowed(request: HttpRequest) -> int:
    """0, or the seconds until this address may sign up again: each sign-up sends an email."""
    address = address_key(client_ip(request))
    limit = settings.SIGN_UPS_PER_ADDRESS_PER_HOUR
    return window_hit(f"sign-up:{address}", limit=limit, window=3600) if address else 0


def _sign_up_refused(request: HttpRequest, context: dict[str, Any], wait: int) -> HttpResponse:
    error = "Too many accounts were asked for from your address; try again in an hour."
    response = render(request, "registration/signup.html", context | {"error": error}, status=429)
    response["Retry-After"] = str(wait)
    return response


def signup(request: HttpRequest) -> HttpResponse:
    """Sign up: the same answer, "check your email", whether or not the address has an account;
    the link in the email creates it (sign_up_confirm)."""
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    # On the way to accept an invitation, a person joins that team instead of creating one.
    joining = _is_invitation(next_url)
    form = SignUpForm(request.POST or None, joining=joining)
    context = {"form": form, "next": next_url, "joining": joining}
    if request.method == "POST" and form.is_valid():
        if wait := _sign_up_allowed(request):
            return _sign_up_refused(request, context, wait)
        email = form.cleaned_data["email"]
        services.sign_up_request(
            email=email,
            password=form.cleaned_data["password"],
            team_name="" if joining else form.cleaned_data["team_name"],
            next_url=next_url,
            link_for=lambda token: request.build_absolute_uri(
                reverse("teams:signup_confirm", args=[token])
            ),
        )
        # With the default console backend no mail leaves: say where the message went.
        printed = settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
        context = {"email": email, "printed": printed}
        return render(request, "registration/sign_up_sent.html", context)
    return render(request, "registration/signup.html", context)


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link a sign-up emailed: a button (a mail scanner's GET creates nothing), then the
    account, signed in, on to its dashboard or the invitation it was on its way to."""
    page = "registration/sign_up_confirm.html"
    try:
        found = services.sign_up_link_read(token=token)
        if request.method == "GET":
            return render(request, page, {"email": found["email"]})
        user, next_url = services.sign_up_confirm(token=token)
    except ParleyError as error:
        return render(request, page, {"error": error.message}, status=error.status)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(next_url or "home")


@login_required
def team_create(request: DashboardRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.team_create(name=form.cleaned_data["name"], owner=request.user)
        request.session["team_id"] = team.pk
        return redirect("home")
    # The first team after sign-up, or another one beside the teams one is in already.
    in_a_team = Membership.objects.filter(user=request.user).exists()
    return render(request, "teams/create.html", {"form": form, "in_a_team": in_a_team})


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
