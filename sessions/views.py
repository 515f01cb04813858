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
class Stage:
    """One stage of a call's turn on its bar: where it starts and how wide it is, in BAR_WIDTH."""

    key: str
    label: str
    ms: int
    x: int
    width: int
    colour: str

    @property
    def duration(self) -> str:
        return _ms(self.ms)


@dataclass(frozen=True)
class StageBar:
    """A call's turn as a bar (sessions/detail.html draws it as an SVG): its stages end to end,
    speech-to-text within turn detection, and what ended the turn. Turns of one session share a
    scale, so that a slow one looks slow."""

    stages: list[Stage]
    stt: Stage | None
    latency: str
    ended_by: str

    @property
    def legend(self) -> list[Stage]:
        """The stages as the legend lists them: speech-to-text after turn detection, which
        holds it, or last for an older turn that recorded none."""
        if self.stt is None:
            return self.stages
        at = 1 if self.stages[0].key == "turn_detection_ms" else len(self.stages)
        return [*self.stages[:at], self.stt, *self.stages[at:]]

    @property
    def summary(self) -> str:
        """The bar in words, for its title and for screen readers."""
        parts = [f"{stage.label} {stage.duration}" for stage in self.stages]
        if self.stt is not None and self.stages[0].key == "turn_detection_ms":
            parts[0] += f" ({self.stt.label} {self.stt.duration} within it)"
        elif self.stt is not None:
            parts.append(f"{self.stt.label} {self.stt.duration}")
        ended = f"; {self.ended_by}" if self.ended_by else ""
        return f"Voice to voice {self.latency}: {', '.join(parts)}{ended}"


BAR_WIDTH = 240
# A turn's stages, in the order they happen; they add up to its latency_ms (voice/pipeline.py:
# end of speech → turn handed to the engine → first token → audio ready → audio held until the
# person's silence is over). Speech-to-text runs within turn detection, from the end of speech.
STAGES = [
    ("turn_detection_ms", "turn detection", "#94a3b8"),
    ("llm_ms", "LLM", "#6366f1"),
    ("tts_ms", "text-to-speech", "#10b981"),
    ("held_ms", "held", "#f59e0b"),
]
STT_STAGE = ("stt_ms", "speech-to-text", "#0ea5e9")
STAGE_KEYS = {key for key, *_ in STAGES} | {STT_STAGE[0]}
UNACCOUNTED = ("other_ms", "not broken down", "#e2e8f0")
TURN_ENDS = {
    "silence": "ended by silence",
    "semantic": "ended by meaning: the sentence sounded finished",
    "max": "ended by the longest silence: the sentence sounded unfinished",
}


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return round(value)


def _stage_bar(data: dict[str, Any], longest_ms: int) -> StageBar | None:
    """The bar of a turn that recorded its latency and at least one of its stages."""
    latency = _number(data.get("latency_ms"))
    found = [(key, label, colour, _number(data.get(key))) for key, label, colour in STAGES]
    timed = [(key, label, colour, ms) for key, label, colour, ms in found if ms is not None]
    if latency is None or not timed:
        return None
    rest = latency - sum(ms for *_, ms in timed)
    if rest > 0.05 * latency:  # older turns recorded no turn detection
        timed.append((*UNACCOUNTED, rest))
    scale = BAR_WIDTH / max(longest_ms, latency, sum(ms for *_, ms in timed), 1)
    stages, elapsed = [], 0  # whole units: no gap between two stages, no localized "2,5"
    for key, label, colour, ms in timed:
        x = round(elapsed * scale)
        elapsed += ms
        stages.append(Stage(key, label, ms, x, round(elapsed * scale) - x, colour))
    key, label, colour = STT_STAGE
    stt = _number(data.get(key))
    stt_width = min(BAR_WIDTH, round((stt or 0) * scale))
    return StageBar(
        stages=stages,
        stt=Stage(key, label, stt, 0, stt_width, colour) if stt is not None else None,
        latency=_ms(latency),
        ended_by=TURN_ENDS.get(str(data.get("turn_end")), ""),
    )


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
    stages: StageBar | None = None  # a call's answered turn: where its time went


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


def _data(event: SessionEvent) -> dict[str, Any]:
    # The runtime writes these documents; anything not a JSON object is shown as it came.
    return event.data if isinstance(event.data, dict) else {"value": event.data}


def _timeline_entry(event: SessionEvent, session: Session, longest_ms: int = 0) -> TimelineEntry:
    data = _data(event)
    tool_call = event.kind == EventKind.TOOL_CALL
    timings = TIMINGS.get(event.kind, [])
    stages = _stage_bar(data, longest_ms) if event.kind == EventKind.MESSAGE else None
    if stages is not None:  # the bar's legend gives the parts
        timings = [(key, label) for key, label in timings if key not in STAGE_KEYS]
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
        stages=stages,
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
    latencies = [_number(_data(event).get("latency_ms")) for event in events]
    longest = max((ms for ms in latencies if ms is not None), default=0)
    return [_timeline_entry(event, session, longest) for event in events]


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
