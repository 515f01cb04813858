"""The hosted page, /meet/<agent_id>: a whole page for talking with one agent, to share as a
link. No sign-in; the <live-avatar> widget on it starts the session, a chat or a call (a video
call when the agent has a face), as the visitor picks (docs/widget.md)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from config.csp import csp_replaced
from parley.errors import Gone, NotFound
from voice.services import call_type

from . import selectors

START_PATH = "/v1/start-agent-session"
# What a visitor reads instead of the conversation: status, heading, explanation.
NOTICES = {
    "not_found": (
        404,
        "This agent is not available",
        "The link may be mistyped, or the agent is not shared yet. "
        "Check the link with whoever sent it to you.",
    ),
    "single_use_used": (
        410,
        "This link has been used",
        "It was made for a single conversation, and that conversation has already started. "
        "Ask whoever sent it to you for a new link.",
    ),
    "single_use_expired": (
        410,
        "This link has expired",
        "It was only valid for a limited time. Ask whoever sent it to you for a new link.",
    ),
}


def _initial(name: str) -> str:
    """The avatar placeholder: the name's first letter or digit."""
    return next((c for c in name if c.isalnum()), "?").upper()


def _notice(request: HttpRequest, refusal: NotFound | Gone) -> HttpResponse:
    status, heading, text = NOTICES[refusal.details.get("reason", "not_found")]
    context = {"heading": heading, "text": text}
    return render(request, "meet/notice.html", context, status=status)


# Never cached: a single-use link's page changes once its conversation starts. Any site may
# frame it, to embed the whole page: in another site's frame the session cookie (SameSite=Lax)
# is not sent, so the page acts for an anonymous visitor only.
@never_cache
@xframe_options_exempt
@csp_replaced({"frame-ancestors": ["*"]})
@require_safe
def meet_agent(request: HttpRequest, agent_id: str) -> HttpResponse:
    membership = getattr(request, "membership", None)
    team_id = membership.team_id if membership else None
    try:
        agent = selectors.meet_agent_get(agent_id=agent_id, team_id=team_id)
    except (NotFound, Gone) as refusal:
        return _notice(request, refusal)
    context = {
        "agent": agent,
        "initial": _initial(agent.name),
        "endpoint": request.build_absolute_uri(START_PATH),
        "call_mode": call_type(agent_id=agent.id).value,
    }
    return render(request, "meet/agent.html", context)
