import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from teams.access import DashboardRequest, team_required

from . import selectors
from .forms import SessionFilterForm
from .models import EventKind, Session, SessionEvent
from .selectors import Cursor, InvalidCursor


def _duration(session: Session, now: datetime) -> str:
    """How long the session lasted, or has lasted so far: "42 s", "3 min 4 s", "2 h 5 min"."""
    seconds = max(0, int(((session.ended_at or now) - session.started_at).total_seconds()))
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min {seconds % 60} s"
    elif seconds < 86400:
        text = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        text = f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    return text if session.ended_at else f"{text} so far"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


# A block longer than this starts folded, so that one long reply does not bury the events after it.
FOLDED_AFTER_LINES, FOLDED_AFTER_CHARS = 12, 1200


@dataclass(frozen=True)
class Shown:
    """A JSON value or a text as sessions/_json.html shows it: wrapped, folded when long."""

    text: str

    @property
    def lines(self) -> int:
        return self.text.count("\n") + 1

    @property
    def folded(self) -> bool:
        return self.lines > FOLDED_AFTER_LINES or len(self.text) > FOLDED_AFTER_CHARS

    @property
    def size(self) -> str:
        """What the folded summary says of it: "38 lines", "2,410 characters"."""
        return f"{self.lines} lines" if self.lines > 1 else f"{len(self.text):,} characters"


def _shown(value: Any) -> Shown:
    """Indented JSON for a JSON value, and for a text that holds an object or an array: a tool's
    result is stored as the text its LLM was given, often JSON. Any other text as it came."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return Shown(value)
        return Shown(_pretty(parsed) if isinstance(parsed, dict | list) else value)
    return Shown(_pretty(value))


def _ms(value: Any) -> str:
    """A duration the runtime gave in milliseconds, for people: "320 ms", "1.24 s"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _offset(delta: timedelta) -> str:
    """Time since the session started: "+0:04.2", "+12:30.0", "+1:02:03"."""
    minutes, tenths = divmod(round(max(delta.total_seconds(), 0) * 10), 600)
    if minutes < 60:
        return f"+{minutes}:{tenths // 10:02d}.{tenths % 10}"
    return f"+{minutes // 60}:{minutes % 60:02d}:{tenths // 10:02d}"


@dataclass(frozen=True)
class TimelineEntry:
    """One event as the timeline shows it. The keys it reads from the event's data:
    message {role: user|assistant, content, ttft_ms, total_ms}; tool_call {tool_name, tool_id,
    arguments, result, duration_ms, outcome, error}; error {message, code}; status_change
    {status, from, reason}; metric and any other kind: shown as JSON. Missing keys are left out."""

    event: SessionEvent
    data: dict[str, Any]
    offset: str  # since the session started
    at: str  # ISO 8601, formatted here: the date filter costs 10x as much, per event
    timing: list[str]  # messages: time to first token and total; tool calls: how long it took
    tool: str = ""  # tool calls: the tool's name
    arguments: Shown | None = None
    result: Shown | None = None
    details: Shown | None = None  # kinds shown as data, and errors' details
    call_url: str = ""  # tool calls: the recorded request and reply, when the record is named


# The timings each kind may carry in its data, in milliseconds, and what to call them.
TIMINGS: dict[str, list[tuple[str, str]]] = {
    EventKind.MESSAGE: [
        # A call's turn: end of the person's speech to the agent's first audio, and its parts.
        ("latency_ms", "voice to voice"),
        ("stt_ms", "speech-to-text"),
        ("llm_ms", "LLM"),
        ("tts_ms", "text-to-speech"),
        ("ttft_ms", "first token"),
        ("total_ms", "total"),
    ],
    EventKind.TOOL_CALL: [("duration_ms", "took")],
}
# Kinds the timeline lays out field by field; the others also show their data as JSON.
LAID_OUT = {EventKind.MESSAGE, EventKind.STATUS_CHANGE, EventKind.TOOL_CALL}


def _call_url(data: dict[str, Any]) -> str:
    try:
        ids = [UUID(str(data["tool_id"])), UUID(str(data["execution_id"]))]
    except (KeyError, ValueError):
        return ""
    return reverse("tools:execution", args=ids)


def _timeline_entry(event: SessionEvent, session: Session) -> TimelineEntry:
    # The runtime writes these documents; anything not a JSON object is shown as it came.
    data = event.data if isinstance(event.data, dict) else {"value": event.data}
    tool_call = event.kind == EventKind.TOOL_CALL
    timings = TIMINGS.get(event.kind, [])
    return TimelineEntry(
        event=event,
        data=data,
        offset=_offset(event.created_at - session.started_at),
        at=event.created_at.isoformat(),
        timing=[f"{label} {_ms(data[key])}" for key, label in timings if data.get(key) is not None],
        tool=str(data.get("tool_name") or "unnamed tool") if tool_call else "",
        arguments=_shown(data["arguments"]) if tool_call and "arguments" in data else None,
        result=_shown(data["result"]) if tool_call and "result" in data else None,
        details=None if event.kind in LAID_OUT else _shown(data),
        call_url=_call_url(data) if tool_call else "",
    )


@require_GET
@team_required
@vary_on_headers("HX-Request")
def session_list(request: DashboardRequest) -> HttpResponse:
    team = request.membership.team
    form = SessionFilterForm(request.GET, agents=selectors.session_filter_agents(team=team))
    context: dict[str, Any] = {"form": form, "page": None, "cursor_error": ""}
    status = 200
    try:
        cursor = Cursor.decode(request.GET["cursor"]) if request.GET.get("cursor") else None
    except InvalidCursor as exc:
        context["cursor_error"], status = str(exc), 400
    else:
        if form.is_valid():
            filters = form.filters()
            page = selectors.session_list(team=team, filters=filters, cursor=cursor)
            now = timezone.now()
            context |= {
                "page": page,
                "rows": [(s, _duration(s, now)) for s in page.sessions],
                "filtered": bool(filters),
                "paged": cursor is not None,
            }
    template = "sessions/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#sessions"
    return render(request, template, context, status=status)


def _session(request: DashboardRequest, session_id: UUID) -> Session:
    """One of the current team's sessions; 404 for any other."""
    # With the number of the agent version it ran, for the link to it; not that version's body.
    # And its analysis (the analysis app's reverse relation, named here, never imported).
    sessions = Session.objects.select_related("agent_version", "analysis__agent_version").defer(
        "agent_version__configuration",
        "agent_version__tools",
        "analysis__agent_version__configuration",
        "analysis__agent_version__tools",
    )
    return get_object_or_404(sessions, team=request.membership.team, pk=session_id)


def _timeline(session: Session) -> list[TimelineEntry]:
    events = selectors.session_timeline(session=session)
    return [_timeline_entry(event, session) for event in events]


@require_GET
@team_required
def session_detail(request: DashboardRequest, session_id: UUID) -> HttpResponse:
    session = _session(request, session_id)
    analysis = getattr(session, "analysis", None)
    context = {
        "session": session,
        "duration": _duration(session, timezone.now()),
        "metadata": _shown(session.metadata) if session.metadata else None,
        "timeline": _timeline(session),
        "analysis": analysis,
        "analysis_data": _shown(analysis.data) if analysis and analysis.data else None,
        "can_write": request.membership.can_write,
    }
    return render(request, "sessions/detail.html", context)


@require_GET
@team_required
def session_timeline(request: DashboardRequest, session_id: UUID) -> HttpResponse:
    """The session's events alone, for the agent page's test call: the region polls this URL
    while the session runs."""
    session = _session(request, session_id)
    context = {"session": session, "timeline": _timeline(session), "poll_url": request.path}
    return render(request, "sessions/detail.html#timeline", context)
