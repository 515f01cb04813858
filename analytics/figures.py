"""The figures a rollup row holds, and how they add up: from sessions and their events (the
hourly rollup), and from other rows (the day and team rollups, and the selectors). Every
figure is a count, a sum or a histogram of counts, so rows of any hours, agents or channels
merge exactly."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sessions.models import EventKind

from . import histograms

# The stored fields, as Figures.add reads them from `.values()` and Figures.fields writes them.
FIELDS = [
    "sessions",
    "ended_sessions",
    "duration_seconds",
    "duration_histogram",
    "turns",
    "turns_histogram",
    "end_reasons",
    "tools",
    "errors",
    "latency",
    "criteria",
]
# A success criterion's verdicts, in the order the rollups count them.
VERDICTS = ["pass", "fail", "unknown"]
# The latencies measured on an agent's replies, by kind: ttft (LLM time to first token), voice
# (voice to voice) and the voice stages.
LATENCY_KEYS = ["ttft", "voice", "turn_detection", "stt", "llm", "tts"]


def _number(value: Any) -> float | None:
    """A measurement read from event data: numbers only (JSON text may come back as str)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _bump(counts: list[int], value: float, edges: list[int]) -> None:
    index = histograms.bucket_of(value, edges)
    if len(counts) <= index:
        counts.extend([0] * (index + 1 - len(counts)))
    counts[index] += 1


@dataclass
class Figures:
    sessions: int = 0
    ended: int = 0
    duration: int = 0  # the ended sessions' length in seconds, added up
    turns: int = 0
    duration_histogram: list[int] = field(default_factory=list)  # ended sessions
    turns_histogram: list[int] = field(default_factory=list)
    end_reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tools: dict[str, list[int]] = field(default_factory=dict)  # {name: [calls, failures]}
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    # {criterion name: [passed, failed, unknown]} over the sessions analysed
    criteria: dict[str, list[int]] = field(default_factory=dict)

    # From sessions and events.

    def add_session(self, *, seconds: int | None, end_reason: str) -> None:
        """A session; `seconds` its length once ended, None while it runs."""
        self.sessions += 1
        if seconds is not None:
            self.ended += 1
            self.duration += seconds
            _bump(self.duration_histogram, seconds, histograms.DURATION_EDGES)
            self.end_reasons[end_reason] += 1

    def add_verdicts(self, results: Mapping[str, Any]) -> None:
        """A session's analysis: {criterion name: "pass" | "fail" | "unknown"}."""
        for name, verdict in results.items():
            counts = self.criteria.setdefault(str(name), [0, 0, 0])
            counts[VERDICTS.index(verdict) if verdict in VERDICTS else 2] += 1

    def add_turns(self, count: int) -> None:
        """One session's turns (the person's messages)."""
        self.turns += count
        _bump(self.turns_histogram, count, histograms.TURN_EDGES)

    def add_event(self, event: Mapping[str, Any]) -> None:
        """A tool call, an error or an assistant's reply with its latencies."""
        if event["kind"] == EventKind.TOOL_CALL:
            counts = self.tools.setdefault(str(event["tool"] or "unknown"), [0, 0])
            counts[0] += 1
            counts[1] += event["outcome"] != "success"
        elif event["kind"] == EventKind.ERROR:
            self.errors[str(event["code"] or "unknown")] += 1
        elif event["role"] == "assistant":
            for kind in LATENCY_KEYS:
                if (value := _number(event[kind])) is not None:
                    _bump(self.latency[kind], value, histograms.LATENCY_EDGES)

    # From other rows.

    def add(self, row: Mapping[str, Any]) -> None:
        """Another row's figures (its FIELDS)."""
        self.sessions += row["sessions"]
        self.ended += row["ended_sessions"]
        self.duration += row["duration_seconds"]
        self.turns += row["turns"]
        histograms.merge(self.duration_histogram, row["duration_histogram"])
        histograms.merge(self.turns_histogram, row["turns_histogram"])
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
        for name, verdicts in row["criteria"].items():
            histograms.merge(self.criteria.setdefault(name, [0, 0, 0]), verdicts)

    def fields(self) -> dict[str, Any]:
        """The model fields that store these figures, each histogram over all its buckets."""
        return {
            "sessions": self.sessions,
            "ended_sessions": self.ended,
            "duration_seconds": self.duration,
            "duration_histogram": _whole(self.duration_histogram, histograms.DURATION_EDGES),
            "turns": self.turns,
            "turns_histogram": _whole(self.turns_histogram, histograms.TURN_EDGES),
            "end_reasons": dict(self.end_reasons),
            "tools": self.tools,
            "errors": dict(self.errors),
            "latency": {
                kind: _whole(counts, histograms.LATENCY_EDGES)
                for kind, counts in self.latency.items()
            },
            "criteria": self.criteria,
        }


def _whole(counts: list[int], edges: list[int]) -> list[int]:
    return histograms.merge(histograms.empty(edges), counts)
