"""One-line access control for dashboard views: the team comes from the session, never the URL."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.middleware import HtmxDetails

from activity.services import Actor

from .models import Membership, Role, User

ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class DashboardRequest(HttpRequest):
    user: User
    membership: Membership
    htmx: HtmxDetails


def team_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and a member of a team; someone with no team is sent to create one."""

    @login_required
    @wraps(view)
    def wrapper(request: DashboardRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership:
            return redirect("teams:create")
        return view(request, *args, **kwargs)

    return wrapper


def require_writer(request: DashboardRequest) -> Actor:
    """Owners, admins and members edit; viewers get 403 even on a forged POST."""
    if not request.membership.can_write:
        raise PermissionDenied("Your role in this team is viewer, which can read but not change.")
    return Actor(user=request.user)


def require_admin(request: DashboardRequest) -> Actor:
    if request.membership.role not in ADMIN_ROLES:
        raise PermissionDenied("Only the team's owners and admins can do this.")
    return Actor(user=request.user)
