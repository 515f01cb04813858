from django.http import HttpResponse
from django.shortcuts import render

from teams.access import DashboardRequest, team_required


@team_required
def activity_list(request: DashboardRequest) -> HttpResponse:
    return render(request, "activity/list.html", {})
