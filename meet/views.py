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
from sessions.limits import TooManyRequests, client_ip
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
    # The text is the limit's own sentence (sessions.limits), which says whose limit it is.
    "busy": (429, "This agent cannot take a conversation right now", ""),
}


def _notice(request: HttpRequest, refusal: NotFound | Gone | TooManyRequests) -> HttpResponse:
    reason = "busy" if isinstance(refusal, TooManyRequests) else refusal.details.get("reason")
    status, heading, text = NOTICES[reason or "not_found"]
    context = {"heading": heading, "text": text or refusal.message}
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
        selectors.meet_room_check(agent=agent, team_id=team_id, client_ip=client_ip(request))
    except (NotFound, Gone, TooManyRequests) as refusal:
        return _notice(request, refusal)
    context = {
        "agent": agent,
        "endpoint": request.build_absolute_uri(START_PATH),
        "call_mode": call_type(agent_id=agent.id).value,
    }
    return render(request, "meet/agent.html", context)
