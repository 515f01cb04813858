from django.http import HttpResponse
from django.shortcuts import render

from teams.access import DashboardRequest, team_required


@team_required
def tool_list(request: DashboardRequest) -> HttpResponse:
    return render(request, "tools/list.html", {})
