from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseRedirectBase
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from completions.views import chat_completions
from sessions import streaming

from .api import agent_human_api, api
from .responses import error_response


def api_not_found(request: HttpRequest, rest: str) -> HttpResponse:
    return error_response(404, "not_found", f"There is no API endpoint at {request.path}.")


def favicon(request: HttpRequest) -> HttpResponseRedirectBase:
    """Browsers ask for /favicon.ico on pages that link no icon (the admin, the API docs)."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon),
    path("", RedirectView.as_view(pattern_name="agents:list"), name="home"),
    path("", include("demo.urls")),  # the sign-in page, with the demo login while it works
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("teams.urls")),
    path("agents/", include("agents.urls")),
    path("agents/", include("completions.urls")),
    path("tools/", include("tools.urls")),
    path("providers/", include("providers.urls")),
    path("agora/", include("agora.urls")),
    path("iwy/", include("iwy.urls")),
    path("sessions/", include("sessions.urls")),
    path("activity/", include("activity.urls")),
    path("analytics/", include("analytics.urls")),
    path("analysis/", include("analysis.urls")),
    path("evals/", include("evals.urls")),
    path("admin/", admin.site.urls),
    path("widget/", include("widget.urls")),
    path("meet/", include("meet.urls")),
    # An agent as an OpenAI-compatible LLM: async too, its reply streamed as OpenAI's chunks.
    path(
        "v1/agents/<uuid:agent_id>/chat/completions",
        chat_completions,
        name="agent_chat_completions",
    ),
    path("v1/", api.urls),
    re_path(r"^v1/(?P<rest>.*)$", api_not_found),
    # Sending a message streams the reply: an async view, served best by the ASGI process.
    path(
        "api/v1/sessions/<uuid:session_id>/messages",
        streaming.session_messages,
        name="session_messages",
    ),
    path("api/v1/", agent_human_api.urls),
    re_path(r"^api/v1/(?P<rest>.*)$", api_not_found),
]
