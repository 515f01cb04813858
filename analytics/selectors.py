"""The analytics figures of a team, an agent or a version, over a range of time: read from
the hourly rollup (AgentHourlyStats), never from the sessions' events. One query reads the
range's rollup rows and the figures are merged here; the number of queries does not grow with
sessions, events or rows. Percentiles come from fixed histograms (analytics.histograms): each
is the upper edge of the bucket holding it, exact to one bucket (about 19% for latencies)."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from teams.models import Team

from . import histograms
from .models import AgentHourlyStats

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
    """One version's figures; `version` None: sessions with no version recorded."""

    agent_id: UUID | None
    agent_name: str
    version: int | None
    headline: Headline
    tools: list[ToolFigures]
    voice_stages: dict[str, Percentiles]
    errors: dict[str, int]


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
    by_version: list[VersionFigures] = field(default_factory=list)


@dataclass
class _Sums:
    """What rollup rows add up to; merged row by row."""

    sessions: int = 0
    ended: int = 0
    duration: int = 0
    turns: int = 0
    duration_hist: list[int] = field(default_factory=list)
    turns_hist: list[int] = field(default_factory=list)
    end_reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tools: dict[str, list[int]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, row: Mapping[str, Any]) -> None:
        self.sessions += row["sessions"]
        self.ended += row["ended_sessions"]
        self.duration += row["duration_seconds"]
        self.turns += row["turns"]
        histograms.merge(self.duration_hist, row["duration_histogram"])
        histograms.merge(self.turns_hist, row["turns_histogram"])
        for reason, count in row["end_reasons"].items():
            self.end_reasons[reason] += count
        for tool, (calls, failures) in row["tools"].items():
            total = self.tools.setdefault(tool, [0, 0])
            total[0] += calls
            total[1] += failures
        for code, count in row["errors"].items():
            self.errors[code] += count
        for kind, counts in row["latency"].items():
            histograms.merge(self.latency[kind], counts)


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


def _tools(sums: _Sums) -> list[ToolFigures]:
    found = [
        ToolFigures(tool=name, calls=calls, failures=failures, failure_rate=_rate(failures, calls))
        for name, (calls, failures) in sums.tools.items()
    ]
    return sorted(found, key=lambda tool: (-tool.calls, tool.tool))


def _headline(sums: _Sums) -> Headline:
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
    hours, from the hourly rollup: optionally one agent's (`agent_id`, which the caller has
    checked is the team's), one version number's (`version`), by `bucket` of time in the
    series. Sessions are counted in the hour they started. One query."""
    start = start.replace(minute=0, second=0, microsecond=0)
    if end.replace(minute=0, second=0, microsecond=0) != end:
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    rows = AgentHourlyStats.objects.filter(team=team, hour__gte=start, hour__lt=end)
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
    if version is not None:
        rows = rows.filter(agent_version__number=version)
    total = _Sums()
    versions: dict[tuple[UUID | None, int | None], _Sums] = defaultdict(_Sums)
    names: dict[UUID | None, str] = {}
    series: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for row in rows.values(
        "hour", "channel", "type", "agent_id", "agent__name", "agent_version__number",
        "sessions", "ended_sessions", "duration_seconds", "turns", "duration_histogram",
        "turns_histogram", "end_reasons", "tools", "errors", "latency",
    ):  # fmt: skip
        total.add(row)
        versions[(row["agent_id"], row["agent_version__number"])].add(row)
        names[row["agent_id"]] = row["agent__name"] or ""
        at = row["hour"].astimezone(UTC)
        if bucket == "day":
            at = at.replace(hour=0)
        series[(at, row["channel"], row["type"])] += row["sessions"]
    return AnalyticsFigures(
        start=start,
        end=end,
        bucket=bucket,
        totals=_headline(total),
        series=[
            SeriesPoint(at=at, channel=channel, type=kind, sessions=count)
            for (at, channel, kind), count in sorted(series.items())
        ],
        duration=_bins(total.duration_hist, histograms.DURATION_EDGES),
        turns=_bins(total.turns_hist, histograms.TURN_EDGES),
        end_reasons=_by_count(total.end_reasons),
        tools=_tools(total),
        llm_ttft=_percentiles(total.latency["ttft"]),
        voice_to_voice=_percentiles(total.latency["voice"]),
        voice_stages={stage: _percentiles(total.latency[stage]) for stage in VOICE_STAGES},
        errors=_by_count(total.errors),
        by_version=[
            VersionFigures(
                agent_id=agent,
                agent_name=names[agent],
                version=number,
                headline=_headline(sums),
                tools=_tools(sums),
                voice_stages={stage: _percentiles(sums.latency[stage]) for stage in VOICE_STAGES},
                errors=_by_count(sums.errors),
            )
            for (agent, number), sums in sorted(
                versions.items(), key=lambda item: (names[item[0][0]], item[0][1] or 0)
            )
        ],
    )
