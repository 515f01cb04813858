"""The <live-avatar> widget's script, served by Parley itself so that one script tag on any site
embeds an agent, and the widget finds its way back here; and the agent's card, which the widget
reads before offering a conversation: its name for the header, or why it cannot take one now
(docs/widget.md)."""

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition, require_safe

from config.responses import error_response
from meet.selectors import meet_agent_get, meet_room_check
from parley.errors import Gone, NotFound
from sessions.limits import TooManyRequests, client_ip

SCRIPT = Path(settings.BASE_DIR) / "static" / "widget" / "live-avatar.js"


@lru_cache(maxsize=2)
def _read(mtime_ns: int) -> tuple[bytes, str]:
    """The script and its ETag, read again only when the file changes."""
    body = SCRIPT.read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


def _script() -> tuple[bytes, str]:
    return _read(SCRIPT.stat().st_mtime_ns)


def _etag(request: HttpRequest) -> str:
    return _script()[1]


def _last_modified(request: HttpRequest) -> datetime:
    return datetime.fromtimestamp(SCRIPT.stat().st_mtime, UTC)


# Outermost, so that a 304 carries the caching rules too. Gzipped for browsers that take it:
# 16.2 KiB instead of 56 (bench/widget.py).
@cache_control(public=True, max_age=3600)
@gzip_page
@require_safe
@condition(etag_func=_etag, last_modified_func=_last_modified)
def live_avatar_script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_script()[0], content_type="text/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


# Read with the hosted page's rules, so that the widget offers a conversation exactly where the
# start would take it. Any site may read it (no cookie goes along from another site: a draft is
# found only on Parley's own pages, for a signed-in member). Never cached: a single-use link is
# used up, a busy agent frees up.
@never_cache
@require_safe
def agent_card(request: HttpRequest, agent_id: str) -> HttpResponse:
    membership = getattr(request, "membership", None)
    team_id = membership.team_id if membership else None
    response: HttpResponse
    try:
        agent = meet_agent_get(agent_id=agent_id, team_id=team_id)
        meet_room_check(agent=agent, team_id=team_id, client_ip=client_ip(request))
    except (NotFound, Gone, TooManyRequests) as refusal:
        response = error_response(refusal.status, refusal.code, refusal.message, refusal.details)
    else:
        response = JsonResponse({"name": agent.name})
    response["Access-Control-Allow-Origin"] = "*"
    return response
