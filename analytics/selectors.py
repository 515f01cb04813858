"""The analytics figures of a team, an agent or a version, over a range of time: read from
the rollups (analytics.models), never from the sessions' events: day rows for whole days, hour
rows around them, the team's rows (added up over its agents) or one agent's. Two queries read
them and the figures are added up here; neither the queries nor the rows read grow with
sessions, events or agents. Percentiles come from fixed histograms (analytics.histograms): each
is the upper edge of the bucket holding it, exact to one bucket (about 19% for latencies)."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from uuid import UUID

from django.db.models import QuerySet, Sum

from teams.models import Team

from . import histograms
from .figures import FIELDS, Figures
from .models import AgentDayStats, AgentHourlyStats, TeamDayStats, TeamHourlyStats

Bucket = Literal["day", "hour"]
VOICE_STAGES = ["turn_detection", "stt", "llm", "tts"]


@dataclass(frozen=True)
class Percentiles:
    """Median and 95th percentile in ms over `count` measurements; None when there are none."""

    p50: float | None
    p95: float | None
    count: int


@dataclass(frozen=True)
class Bin:
    """One bucket of a distribution: values above `lower` up to `upper` (None: no limit)."""

    lower: float | None
    upper: float | None
    count: int


@dataclass(frozen=True)
class SeriesPoint:
    """Sessions started in one bucket of time (a day or an hour, UTC) over one channel and type."""

    at: datetime
    channel: str
    type: str
    sessions: int


@dataclass(frozen=True)
class ToolFigures:
    tool: str
    calls: int
    failures: int
    failure_rate: float | None  # failures / calls; None without calls


@dataclass(frozen=True)
class CriterionFigures:
    """A post-call analysis success criterion's verdicts over the sessions analysed."""

    name: str
    passed: int
    failed: int
    unknown: int
    success_rate: float | None  # passed / (passed + failed); None without either


@dataclass(frozen=True)
class Headline:
    """The figures given for the whole range and again for each version."""

    sessions: int
    ended_sessions: int
    duration_seconds: int  # the ended sessions' length, added up
    average_duration_seconds: float | None
    turns: int
    average_turns: float | None
    tool_calls: int
    tool_failures: int
    tool_failure_rate: float | None
    errors: int
    llm_ttft: Percentiles
    voice_to_voice: Percentiles


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures; `version` None: sessions with no version recorded (or of a deleted
    version)."""

    version: int | None
    headline: Headline
    tools: list[ToolFigures]
    voice_stages: dict[str, Percentiles]
    errors: dict[str, int]
    criteria: list[CriterionFigures]


@dataclass(frozen=True)
class AnalyticsFigures:
    start: datetime
    end: datetime
    bucket: Bucket
    totals: Headline
    series: list[SeriesPoint]  # ordered by time, then channel and type
    duration: list[Bin]  # ended sessions, by length in seconds
    turns: list[Bin]  # sessions, by the person's turns
    end_reasons: dict[str, int]  # ended sessions by reason ("" when none was given)
    tools: list[ToolFigures]  # most called first
    llm_ttft: Percentiles
    voice_to_voice: Percentiles
    voice_stages: dict[str, Percentiles]  # turn_detection, stt, llm, tts
    errors: dict[str, int]  # by code, most frequent first
    criteria: list[CriterionFigures]  # by name
    # An agent's figures by version (its own figures only: empty for the whole team).
    by_version: list[VersionFigures] = field(default_factory=list)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentiles(counts: list[int]) -> Percentiles:
    edges = histograms.LATENCY_EDGES
    return Percentiles(
        p50=histograms.percentile(counts, edges, 0.5),
        p95=histograms.percentile(counts, edges, 0.95),
        count=sum(counts),
    )


def _bins(counts: list[int], edges: list[int]) -> list[Bin]:
    counts = counts + [0] * (len(edges) + 1 - len(counts))
    lowers: list[float | None] = [None, *edges]
    uppers: list[float | None] = [*edges, None]
    bounds = zip(lowers, uppers, counts, strict=True)
    return [Bin(lower=lo, upper=up, count=n) for lo, up, n in bounds]


def _tools(sums: Figures) -> list[ToolFigures]:
    found = [
        ToolFigures(tool=name, calls=calls, failures=failures, failure_rate=_rate(failures, calls))
        for name, (calls, failures) in sums.tools.items()
    ]
    return sorted(found, key=lambda tool: (-tool.calls, tool.tool))


def _criteria(sums: Figures) -> list[CriterionFigures]:
    return [
        CriterionFigures(
            name=name,
            passed=passed,
            failed=failed,
            unknown=unknown,
            success_rate=_rate(passed, passed + failed),
        )
        for name, (passed, failed, unknown) in sorted(sums.criteria.items())
    ]


def _headline(sums: Figures) -> Headline:
    calls = sum(calls for calls, _ in sums.tools.values())
    failures = sum(failures for _, failures in sums.tools.values())
    return Headline(
        sessions=sums.sessions,
        ended_sessions=sums.ended,
        duration_seconds=sums.duration,
        average_duration_seconds=_rate(sums.duration, sums.ended),
        turns=sums.turns,
        average_turns=_rate(sums.turns, sums.sessions),
        tool_calls=calls,
        tool_failures=failures,
        tool_failure_rate=_rate(failures, calls),
        errors=sum(sums.errors.values()),
        llm_ttft=_percentiles(sums.latency["ttft"]),
        voice_to_voice=_percentiles(sums.latency["voice"]),
    )


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _whole_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The UTC days wholly inside [start, end): [first, last) (empty when first >= last)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.date() if start.time() == time.min else start.date() + timedelta(days=1)
    return first, end.date()


def _scoped(
    team: Team, agent_id: UUID | None, version: int | None
) -> tuple[QuerySet[Any], QuerySet[Any], list[str]]:
    """The hourly and day rows to read: the team's (added up over its agents), or an agent's
    (by version, or one version's); and the fields that tell rows apart besides their time."""
    hours: QuerySet[Any]
    days: QuerySet[Any]
    if agent_id is None:
        hours, days = TeamHourlyStats.objects.all(), TeamDayStats.objects.all()
        return hours.filter(team=team), days.filter(team=team), ["channel", "type"]
    hours = AgentHourlyStats.objects.filter(team=team, agent_id=agent_id)
    days = AgentDayStats.objects.filter(team=team, agent_id=agent_id)
    if version is not None:
        hours = hours.filter(agent_version__number=version)
        days = days.filter(agent_version__number=version)
    return hours, days, ["channel", "type", "agent_version__number"]


def _rows(
    team: Team, start: datetime, end: datetime, agent_id: UUID | None, version: int | None
) -> Iterator[dict[str, Any]]:
    """The rollup rows covering [start, end): day rows for its whole UTC days, hour rows for
    the hours around them. Each row has `at` (its hour or day, UTC). At most two queries."""
    hours, days, fields = _scoped(team, agent_id, version)
    first, last = _whole_days(start, end)
    if first >= last:
        first = last = start.date()
    days_from = datetime.combine(first, time.min, tzinfo=UTC)
    days_to = datetime.combine(last, time.min, tzinfo=UTC)
    if (start, end) != (days_from, days_to):
        hours = hours.filter(hour__gte=start, hour__lt=end).exclude(
            hour__gte=days_from, hour__lt=days_to
        )
        for row in hours.order_by().values("hour", *fields, *FIELDS):
            yield row | {"at": row["hour"].astimezone(UTC)}
    if first < last:
        days = days.filter(day__gte=first, day__lt=last)
        for row in days.order_by().values("day", *fields, *FIELDS):
            yield row | {"at": datetime.combine(row["day"], time.min, tzinfo=UTC)}


def _hourly_series(
    team: Team, start: datetime, end: datetime, agent_id: UUID | None, version: int | None
) -> dict[tuple[datetime, str, str], int]:
    """Sessions by hour, channel and type: one query, reading no histogram."""
    hours, _days, _fields = _scoped(team, agent_id, version)
    found = hours.filter(hour__gte=start, hour__lt=end).order_by()
    counted = found.values("hour", "channel", "type").annotate(count=Sum("sessions"))
    return {
        (row["hour"].astimezone(UTC), row["channel"], row["type"]): row["count"] for row in counted
    }


def analytics_figures(
    *,
    team: Team,
    start: datetime,
    end: datetime,
    agent_id: UUID | None = None,
    version: int | None = None,
    bucket: Bucket = "day",
) -> AnalyticsFigures:
    """The team's figures over the sessions started in [start, end), rounded out to whole
    hours, from the rollups: optionally one agent's (`agent_id`, which the caller has checked
    is the team's) and then split by version, or one version number's (`version`, with an
    agent), by `bucket` of time in the series. Sessions are counted in the hour they started.
    At most three queries, reading the range's whole days from day rows and the hours around
    them from hourly rows, by channel and type (and version, for an agent), and with the "hour"
    bucket the hourly session counts: never the sessions or their events."""
    start = start.replace(minute=0, second=0, microsecond=0)
    if end.replace(minute=0, second=0, microsecond=0) != end:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    total = Figures()
    versions: dict[int | None, Figures] = defaultdict(Figures)
    series: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for row in _rows(team, start, end, agent_id, version):
        total.add(row)
        if agent_id is not None:
            versions[row["agent_version__number"]].add(row)
        series[(row["at"].replace(hour=0), row["channel"], row["type"])] += row["sessions"]
    if bucket == "hour":
        series = _hourly_series(team, start, end, agent_id, version)
    return AnalyticsFigures(
        start=start,
        end=end,
        bucket=bucket,
        totals=_headline(total),
        series=[
            SeriesPoint(at=at, channel=channel, type=kind, sessions=count)
            for (at, channel, kind), count in sorted(series.items())
        ],
        duration=_bins(total.duration_histogram, histograms.DURATION_EDGES),
        turns=_bins(total.turns_histogram, histograms.TURN_EDGES),
        end_reasons=_by_count(total.end_reasons),
        tools=_tools(total),
        llm_ttft=_percentiles(total.latency["ttft"]),
        voice_to_voice=_percentiles(total.latency["voice"]),
        voice_stages={stage: _percentiles(total.latency[stage]) for stage in VOICE_STAGES},
        errors=_by_count(total.errors),
        criteria=_criteria(total),
        by_version=[
            VersionFigures(
                version=number,
                headline=_headline(sums),
                tools=_tools(sums),
                voice_stages={stage: _percentiles(sums.latency[stage]) for stage in VOICE_STAGES},
                errors=_by_count(sums.errors),
                criteria=_criteria(sums),
            )
            for number, sums in sorted(versions.items(), key=lambda item: item[0] or 0)
        ],
    )
