from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from agents.models import Agent, AgentVersion
from sessions.models import Channel, SessionType
from teams.access import DashboardRequest, team_required
from teams.models import Team

from .forms import AnalyticsFilterForm, AnalyticsFilters
from .selectors import (
    AnalyticsFigures,
    Bin,
    Percentiles,
    ToolFigures,
    VersionFigures,
    analytics_figures,
)

STAGES = {
    "turn_detection": "Turn detection",
    "stt": "Speech-to-text",
    "llm": "LLM",
    "tts": "Text-to-speech",
}


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]


@dataclass(frozen=True)
class Chart:
    """One chart and the table that says the same: static/analytics/charts.js draws `data()`,
    the template writes `rows` as the table."""

    key: str  # the element's id, and the chart's name in the page's JSON
    title: str
    axis: str  # what the labels are: the table's first column
    labels: list[str]
    series: list[Series]
    times: list[int] | None = None  # seconds since the epoch, for charts over time
    stacked: bool = False
    unit: str = ""  # "ms", "%": the table's and the chart's values are in it

    @property
    def empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)

    @property
    def description(self) -> str:
        """The chart's aria-label: what it shows; the table beside it has the values."""
        names = ", ".join(s.label for s in self.series)
        return f"{self.title}: a bar chart of {names} by {self.axis.lower()}; its table follows."

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        return [
            (label, [_value(s.values[i], self.unit) for s in self.series])
            for i, label in enumerate(self.labels)
        ]

    def data(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "axis": self.axis,
            "labels": self.labels,
            "times": self.times,
            "stacked": self.stacked,
            "unit": self.unit,
            "series": [{"label": s.label, "values": s.values} for s in self.series],
        }


def _value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return _ms(value)
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:,.0f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.0f} h"


def _length(seconds: float | None) -> str:
    """An average session length: "42 s", "3 min 4 s", "2 h 5 min"."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _rate(rate: float | None) -> float | None:
    return None if rate is None else rate * 100


def _times(figures: AnalyticsFigures) -> list[datetime]:
    """Every bucket of the range, those without sessions too, in UTC as the selector's."""
    step = timedelta(days=1) if figures.bucket == "day" else timedelta(hours=1)
    at = figures.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if figures.bucket == "day":
        at = at.replace(hour=0)
    found = []
    while at < figures.end:
        found.append(at)
        at += step
    return found


def _over_time(
    figures: AnalyticsFigures, key: str, by: str, choices: list[tuple[str, str]]
) -> Chart:
    times = _times(figures)
    index = {at: i for i, at in enumerate(times)}
    counts: dict[str, list[float | None]] = {}
    for point in figures.series:
        values = counts.setdefault(getattr(point, by), [0.0] * len(times))
        if point.at in index:
            values[index[point.at]] = (values[index[point.at]] or 0) + point.sessions
    label = "%Y-%m-%d" if figures.bucket == "day" else "%Y-%m-%d %H:00"
    return Chart(
        key=key,
        title=f"Sessions by {'channel' if by == 'channel' else 'type'}",
        axis="Day" if figures.bucket == "day" else "Hour (UTC)",
        labels=[at.strftime(label) for at in times],
        times=[int(at.timestamp()) for at in times],
        series=[Series(name, counts[value]) for value, name in choices if value in counts],
        stacked=True,
    )


def _bin_label(b: Bin, whole: bool) -> str:
    """A bucket as people read it: seconds for lengths, counts of turns (`whole`)."""
    if whole:
        low = 0 if b.lower is None else int(b.lower) + 1
        if b.upper is None:
            return f"over {int(b.lower or 0)}"
        return str(low) if low >= int(b.upper) else f"{low}\u2013{int(b.upper)}"
    if b.lower is None:
        return f"up to {_seconds(b.upper or 0)}"
    if b.upper is None:
        return f"over {_seconds(b.lower)}"
    return f"{_seconds(b.lower)}\u2013{_seconds(b.upper)}"


def _distribution(key: str, title: str, axis: str, bins: list[Bin], whole: bool) -> Chart:
    return Chart(
        key=key,
        title=title,
        axis=axis,
        labels=[_bin_label(b, whole) for b in bins],
        series=[Series("Sessions", [float(b.count) for b in bins])],
    )


def _counts(key: str, title: str, axis: str, counts: dict[str, int], blank: str) -> Chart:
    return Chart(
        key=key,
        title=title,
        axis=axis,
        labels=[name or blank for name in counts],
        series=[Series("Count", [float(n) for n in counts.values()])],
    )


def _stages(stages: dict[str, Percentiles]) -> Chart:
    return Chart(
        key="voice_stages",
        title="Voice-to-voice stages",
        axis="Stage",
        labels=list(STAGES.values()),
        series=[
            Series("p50", [stages[s].p50 if s in stages else None for s in STAGES]),
            Series("p95", [stages[s].p95 if s in stages else None for s in STAGES]),
        ],
        unit="ms",
    )


def version_label(version: VersionFigures) -> str:
    return f"v{version.version}" if version.version is not None else "no version"


def _versions_chart(figures: AnalyticsFigures) -> Chart:
    return Chart(
        key="version_failures",
        title="Tool failure rate by version",
        axis="Version",
        labels=[version_label(v) for v in figures.by_version],
        series=[
            Series(
                "Failure rate", [_rate(v.headline.tool_failure_rate) for v in figures.by_version]
            )
        ],
        unit="%",
    )


def charts(figures: AnalyticsFigures, *, versions: bool) -> list[Chart]:
    """The page's charts, in the order it shows them; `versions`: with the chart by version
    (an agent's page)."""
    found = [
        _over_time(figures, "by_channel", "channel", list(Channel.choices)),
        _over_time(figures, "by_type", "type", list(SessionType.choices)),
        _distribution("durations", "Session length", "Length", figures.duration, whole=False),
        _distribution("turns", "Turns per session", "Turns", figures.turns, whole=True),
        _counts("end_reasons", "End reasons", "Reason", figures.end_reasons, "none given"),
        _counts("errors", "Errors by code", "Code", figures.errors, "no code"),
        _stages(figures.voice_stages),
    ]
    return [*found, _versions_chart(figures)] if versions else found


def _headline(figures: AnalyticsFigures) -> dict[str, str]:
    totals = figures.totals
    return {
        "sessions": f"{totals.sessions:,}",
        "duration": _length(totals.average_duration_seconds),
        "turns": f"{totals.average_turns:.1f}" if totals.average_turns is not None else "—",
        "failure_rate": _value(_rate(totals.tool_failure_rate), "%"),
        "ttft_p50": _ms(figures.llm_ttft.p50),
        "ttft_p95": _ms(figures.llm_ttft.p95),
        "ttft_count": f"{figures.llm_ttft.count:,}",
        "voice_p50": _ms(figures.voice_to_voice.p50),
        "voice_p95": _ms(figures.voice_to_voice.p95),
        "voice_count": f"{figures.voice_to_voice.count:,}",
        "errors": f"{totals.errors:,}",
    }


def _cards(headline: dict[str, str], figures: AnalyticsFigures) -> list[tuple[str, str, str]]:
    """The figures at the top of the page: (label, value, what it is of)."""
    totals = figures.totals
    return [
        ("Sessions", headline["sessions"], f"{totals.ended_sessions:,} ended"),
        ("Average length", headline["duration"], "of the ended sessions"),
        ("Average turns", headline["turns"], "the person's messages"),
        ("Tool calls", f"{totals.tool_calls:,}", f"{totals.tool_failures:,} failed"),
        ("Tool failure rate", headline["failure_rate"], ""),
        ("First token p50 / p95", f"{headline['ttft_p50']} / {headline['ttft_p95']}", "LLM"),
        ("Voice to voice p50 / p95", f"{headline['voice_p50']} / {headline['voice_p95']}", ""),
        ("Errors", headline["errors"], ""),
    ]


def _tool_row(tool: ToolFigures) -> dict[str, str]:
    return {
        "tool": tool.tool,
        "calls": f"{tool.calls:,}",
        "failures": f"{tool.failures:,}",
        "failure_rate": _value(_rate(tool.failure_rate), "%"),
    }


def _criteria_rows(figures: AnalyticsFigures, *, by_version: bool) -> list[dict[str, str]]:
    """The success criteria's verdicts: the range's, or each version's (an agent's page)."""
    scopes = [(version_label(v), v.criteria) for v in figures.by_version] if by_version else []
    return [
        {
            "version": label,
            "name": c.name,
            "passed": f"{c.passed:,}",
            "failed": f"{c.failed:,}",
            "unknown": f"{c.unknown:,}",
            "success_rate": _value(_rate(c.success_rate), "%"),
        }
        for label, criteria in scopes or [("", figures.criteria)]
        for c in criteria
    ]


def _version_row(version: VersionFigures) -> dict[str, str]:
    h = version.headline
    return {
        "version": version_label(version),
        "sessions": f"{h.sessions:,}",
        "duration": _length(h.average_duration_seconds),
        "turns": f"{h.average_turns:.1f}" if h.average_turns is not None else "—",
        "tool_calls": f"{h.tool_calls:,}",
        "failure_rate": _value(_rate(h.tool_failure_rate), "%"),
        "ttft": f"{_ms(h.llm_ttft.p50)} / {_ms(h.llm_ttft.p95)}",
        "voice": f"{_ms(h.voice_to_voice.p50)} / {_ms(h.voice_to_voice.p95)}",
        "errors": f"{h.errors:,}",
    }


def _csv_url(filters: AnalyticsFilters) -> str:
    """The API's CSV of the same figures: the same range to the second, whatever the time zone."""
    query = {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "bucket": filters.bucket,
    }
    if filters.agent_id:
        query["agent"] = str(filters.agent_id)
    if filters.version is not None:
        query["version"] = str(filters.version)
    return f"{reverse('api:analytics_csv')}?{urlencode(query)}"


def _agent(team: Team, value: str) -> Agent | None:
    """The team's agent named by ?agent=, if any; 404 for an id that is not one of them."""
    if not value:
        return None
    try:
        agent_id = UUID(value)
    except ValueError:
        raise Http404("No such agent.") from None
    return get_object_or_404(Agent, team=team, pk=agent_id)


@require_GET
@team_required
@vary_on_headers("HX-Request")
def analytics_page(request: DashboardRequest) -> HttpResponse:
    team = request.membership.team
    agent = _agent(team, request.GET.get("agent", ""))
    form = AnalyticsFilterForm(
        request.GET,
        agents=list(
            Agent.objects.filter(team=team).order_by("name", "id").values_list("id", "name")
        ),
        agent=agent,
        versions=list(
            AgentVersion.objects.filter(agent=agent)
            .order_by("-number")
            .values_list("number", flat=True)
        )
        if agent
        else [],
    )
    context: dict[str, Any] = {"form": form, "agent": agent}
    if form.is_valid():
        filters = form.filters()
        figures = analytics_figures(
            team=team,
            start=filters.start,
            end=filters.end,
            agent_id=filters.agent_id,
            version=filters.version,
            bucket=filters.bucket,
        )
        page_charts = charts(figures, versions=agent is not None)
        headline = _headline(figures)
        context |= {
            "figures": figures,
            "filters": filters,
            "range_end": filters.end - timedelta(days=1),
            "charts": {chart.key: chart for chart in page_charts},
            "chart_data": [chart.data() for chart in page_charts],
            "csv_url": _csv_url(filters),
            "headline": headline,
            "headline_cards": _cards(headline, figures),
            "tools": [_tool_row(t) for t in figures.tools],
            "versions": [_version_row(v) for v in figures.by_version],
            "criteria": _criteria_rows(figures, by_version=agent is not None),
        }
    template = "analytics/page.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#analytics"
    return render(request, template, context)
