from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from teams.access import DashboardRequest, team_required

from . import selectors
from .forms import ActivityFilterForm


@require_GET
@team_required
def activity_list(request: DashboardRequest) -> HttpResponse:
    team = request.membership.team
    form = ActivityFilterForm(request.GET, people=selectors.activity_people(team=team))
    page, status = None, 400
    if form.is_valid():
        filters = form.cleaned_data
        page = selectors.activity_page(
            team=team,
            target_type=filters["type"],
            actor_id=filters["person"],
            since=filters["since"],
            until=filters["until"],
            before=filters["before"],
        )
        status = 200
    # Page links keep the filters: the first page drops the marker, the next one replaces it.
    query = request.GET.copy()
    query.pop("before", None)
    first_query = query.urlencode()
    if page and page.next_cursor:
        query["before"] = str(page.next_cursor)
    next_query = query.urlencode() if page and page.next_cursor else ""
    template = "activity/list.html"
    if request.htmx:
        # htmx 2 swaps only successful responses; the results region carries any error.
        template, status = template + "#results", 200
    context = {
        "form": form,
        "page": page,
        "filtered": bool(first_query),
        "first_query": first_query,
        "next_query": next_query,
        "paged": "before" in request.GET,
    }
    return render(request, template, context, status=status)
