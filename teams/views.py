from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import services
from .access import DashboardRequest, team_required
from .forms import SignUpForm, TeamCreateForm
from .models import Membership


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_sign_up(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            team_name=form.cleaned_data["team_name"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


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


@team_required
def team_detail(request: DashboardRequest) -> HttpResponse:
    return render(request, "teams/team.html", {})
