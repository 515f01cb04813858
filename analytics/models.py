from django.db import models
from django.utils import timezone

from agents.models import Agent, AgentVersion
from sessions.models import Channel
from teams.models import Team


class AgentDailyStats(models.Model):
    """One agent's figures for one day (in TIME_ZONE), over the sessions that started that day.
    The rollup recomputes a day whole, so a row is always right as of `computed_at`."""

    agent = models.ForeignKey(Agent, models.CASCADE, related_name="daily_stats")
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    day = models.DateField()
    sessions = models.PositiveIntegerField(default=0)
    ended_sessions = models.PositiveIntegerField(default=0)
    # The ended sessions' time from start to end, added up.
    duration_seconds = models.PositiveBigIntegerField(default=0)
    turns = models.PositiveIntegerField(default=0)  # the people's messages
    tool_calls = models.PositiveIntegerField(default=0)
    tool_failures = models.PositiveIntegerField(default=0)
    # Time to the first token of the LLM's replies; null on a day without a measured reply.
    llm_ttft_p50_ms = models.FloatField(null=True, blank=True)
    llm_ttft_p95_ms = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "agent daily stats"
        constraints = [
            # One row per agent and day; also the index that reads an agent's days in order.
            models.UniqueConstraint(fields=["agent", "day"], name="agent_daily_stats_once"),
        ]
        indexes = [
            # Analytics pages: a team's figures over a range of days.
            models.Index(fields=["team", "day"], name="agent_daily_stats_team"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.sessions} sessions"


class Figures(models.Model):
    """The figures of a rollup row (analytics.figures): counts, sums, and histograms as lists
    of counts over the fixed buckets of analytics.histograms. Each rollup recomputes its period
    whole, so a row is always right as of `computed_at`."""

    sessions = models.PositiveIntegerField(default=0)
    ended_sessions = models.PositiveIntegerField(default=0)
    duration_seconds = models.PositiveBigIntegerField(default=0)  # the ended sessions'
    duration_histogram = models.JSONField(default=list)  # ended sessions, DURATION_EDGES
    turns = models.PositiveIntegerField(default=0)  # the people's messages
    turns_histogram = models.JSONField(default=list)  # sessions, TURN_EDGES
    end_reasons = models.JSONField(default=dict)  # {reason: ended sessions}
    tools = models.JSONField(default=dict)  # {tool name: [calls, failures]}
    errors = models.JSONField(default=dict)  # {code: error events}
    # {kind: histogram over LATENCY_EDGES}; kinds: ttft (LLM time to first token), voice
    # (voice to voice), turn_detection, stt, llm, tts.
    latency = models.JSONField(default=dict)
    # {criterion name: [passed, failed, unknown]}: the post-call analyses' verdicts
    criteria = models.JSONField(default=dict)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class AgentFigures(Figures):
    """Figures of one agent, version, channel and session type."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    # Null once the agent (or version) is deleted: the team's figures keep its sessions.
    agent = models.ForeignKey(Agent, models.SET_NULL, null=True, blank=True, related_name="+")
    agent_version = models.ForeignKey(
        AgentVersion, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=6, choices=Channel.choices, blank=True)
    type = models.CharField(max_length=5)

    class Meta:
        abstract = True


class TeamFigures(Figures):
    """Figures of a team's agents added up, by channel and session type."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    channel = models.CharField(max_length=6, choices=Channel.choices, blank=True)
    type = models.CharField(max_length=5)

    class Meta:
        abstract = True


class AgentHourlyStats(AgentFigures):
    """The figures of one hour (UTC) of sessions, by the hour they started in: what every
    other rollup is made from."""

    hour = models.DateTimeField()

    class Meta:
        verbose_name_plural = "agent hourly stats"
        indexes = [
            # Analytics: a team's hours over a range, optionally one agent's (agent is next).
            models.Index(fields=["team", "hour"], name="agent_hourly_team"),
            models.Index(fields=["agent", "hour"], name="agent_hourly_agent"),
            # The rollup replaces one hour's rows, across teams.
            models.Index(fields=["hour"], name="agent_hourly_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}: {self.sessions} sessions"


class AgentDayStats(AgentFigures):
    """An agent's hourly rows of one day (UTC) added up: what an agent's analytics over whole
    days read."""

    day = models.DateField()

    class Meta:
        verbose_name_plural = "agent day stats"
        indexes = [
            models.Index(fields=["agent", "day"], name="agent_day_agent"),
            models.Index(fields=["day"], name="agent_day_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.sessions} sessions"


class TeamHourlyStats(TeamFigures):
    """A team's agent rows of one hour added up."""

    hour = models.DateTimeField()

    class Meta:
        verbose_name_plural = "team hourly stats"
        indexes = [
            models.Index(fields=["team", "hour"], name="team_hourly_team"),
            models.Index(fields=["hour"], name="team_hourly_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}: {self.sessions} sessions"


class TeamDayStats(TeamFigures):
    """A team's hourly rows of one day (UTC) added up."""

    day = models.DateField()

    class Meta:
        verbose_name_plural = "team day stats"
        indexes = [
            models.Index(fields=["team", "day"], name="team_day_team"),
            models.Index(fields=["day"], name="team_day_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.sessions} sessions"
