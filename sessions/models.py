import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentVersion
from parley.jsonbody import ValidTextDecoder, ValidTextEncoder
from teams.models import Team


class SessionType(models.TextChoices):
    CHAT = "chat", "Chat"
    VOICE = "voice", "Voice"
    VIDEO = "video", "Video"


class Transport(models.TextChoices):
    """How a voice or video call's media travels; chat sessions have none."""

    NONE = "", "None"
    WEBRTC = "webrtc", "WebRTC, straight to Parley"
    DAILY = "daily", "Daily room"
    AGORA = "agora", "Agora channel"


class Channel(models.TextChoices):
    """Where a session was started from, set at its start; "" for sessions older than the field
    whose origin could not be told."""

    WIDGET = "widget", "Widget"
    HOSTED = "hosted", "Hosted page"
    API = "api", "API"
    REMOTE = "remote", "Remote engine"  # Agora's engine, or /v1/chat/completions
    UNKNOWN = "", "Unknown"


class SessionStatus(models.TextChoices):
    """The lifecycle Agora's engine reports: starting → running → stopping → stopped, or failed."""

    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


# Which status may follow which; stopped and failed are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    SessionStatus.STARTING: frozenset({"running", "stopping", "stopped", "failed"}),
    SessionStatus.RUNNING: frozenset({"stopping", "stopped", "failed"}),
    SessionStatus.STOPPING: frozenset({"stopped", "failed"}),
    SessionStatus.STOPPED: frozenset(),
    SessionStatus.FAILED: frozenset(),
}


class Session(models.Model):
    """One conversation between an agent and a person, over chat, voice or video."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="sessions")
    # Kept when the agent is deleted: the conversation is the team's record, not the agent's.
    agent = models.ForeignKey(
        Agent, models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    agent_name = models.CharField(max_length=200)
    # The version the session ran: the published one, or for a team's test call the one chosen.
    agent_version = models.ForeignKey(
        AgentVersion, models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    type = models.CharField(max_length=5, choices=SessionType.choices, default=SessionType.CHAT)
    status = models.CharField(
        max_length=8, choices=SessionStatus.choices, default=SessionStatus.STARTING
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    # Valid text in and out: a lone surrogate stored once made every page showing it fail.
    metadata = models.JSONField(
        default=dict, blank=True, encoder=ValidTextEncoder, decoder=ValidTextDecoder
    )
    # The sequence number of the newest event; events are numbered 1, 2, 3… per session.
    last_event_seq = models.PositiveIntegerField(default=0)
    # Set while the agent is answering a message: one turn at a time, across every process.
    replying_since = models.DateTimeField(null=True, blank=True)
    # When something last happened: a message, a reply. The idle timeout counts from here.
    last_activity_at = models.DateTimeField(default=timezone.now)
    transport = models.CharField(
        max_length=6, choices=Transport.choices, default=Transport.NONE, blank=True
    )
    channel = models.CharField(
        max_length=6, choices=Channel.choices, default=Channel.UNKNOWN, blank=True
    )
    # The voice worker that holds the call, while it lasts; the signalling goes there.
    worker = models.ForeignKey(
        "voice.VoiceWorker", models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    # What a remote platform knows the call by: a Daily room's name and address, and when
    # Parley deleted it; an Agora agent's id, channel and last known status (agora/).
    remote = models.JSONField(default=dict, blank=True)
    # A test run's conversation (an eval's simulated user, evals/): kept apart from live traffic,
    # with no end-of-conversation callback and no post-call analysis.
    simulated = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # The sessions list: a team's sessions, newest first, optionally by status.
            models.Index(fields=["team", "-started_at"], name="session_team_list"),
            models.Index(fields=["team", "status", "-started_at"], name="session_team_status"),
            models.Index(fields=["agent", "-started_at"], name="session_agent_list"),
            # The sessions list filtered by type: without it a rare or absent type reads the
            # team's every session looking for a page (bench/dashboard.py, "type=video (none)").
            models.Index(fields=["team", "type", "-started_at"], name="session_team_type"),
            # The sessions list filtered by agent and status: an agent with many sessions and
            # a rare status would otherwise be read session by session ("agent + status=running").
            models.Index(fields=["agent", "status", "-started_at"], name="session_agent_status"),
            # The lifecycle sweep reads the sessions still open, few among many ended ones.
            models.Index(fields=["status"], name="session_status"),
            # The reconciler looks for sessions ended lately whose callback never went.
            models.Index(fields=["ended_at"], name="session_ended"),
            # The daily rollup reads one day's sessions, across teams.
            models.Index(fields=["started_at"], name="session_started"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_type_display()} with {self.agent_name} at {self.started_at:%Y-%m-%d %H:%M}"
        )

    @property
    def is_over(self) -> bool:
        return self.status in (SessionStatus.STOPPED, SessionStatus.FAILED)


class EventKind(models.TextChoices):
    MESSAGE = "message", "Message"
    TOOL_CALL = "tool_call", "Tool call"
    STATUS_CHANGE = "status_change", "Status change"
    ERROR = "error", "Error"
    METRIC = "metric", "Metric"


class SessionEvent(models.Model):
    """One entry of a session's timeline. Rows are only ever appended, never changed."""

    session = models.ForeignKey(Session, models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=13, choices=EventKind.choices)
    data = models.JSONField(default=dict, encoder=ValidTextEncoder, decoder=ValidTextDecoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            # Also the index that reads a session's timeline in order.
            models.UniqueConstraint(fields=["session", "seq"], name="session_event_order"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"


class CallbackOutcome(models.TextChoices):
    """parley.outbound.Outcome, plus the attempt under way."""

    PENDING = "pending", "Pending"
    SUCCESS = "success", "Delivered"
    HTTP_ERROR = "http_error", "HTTP error"
    TIMEOUT = "timeout", "Timeout"
    REFUSED = "refused", "Refused"
    DNS_ERROR = "dns_error", "DNS error"
    UNREACHABLE = "unreachable", "Unreachable"
    TOO_LARGE = "too_large", "Reply too large"
    UNDECODABLE = "undecodable", "Unreadable reply"
    TOO_MANY_REDIRECTS = "too_many_redirects", "Too many redirects"


class CallbackDelivery(models.Model):
    """One attempt to deliver a session's end-of-conversation callback: a delivery retried three
    times is four rows, numbered 1 to 4. Rows are facts appended as they happen, so an attempt
    is claimed by inserting its row, which the unique (session, attempt) settles between two
    workers, and no list is read and rewritten under concurrent retries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, models.CASCADE, related_name="callback_deliveries")
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    url = models.CharField(max_length=2000)  # as called, any user:password hidden
    attempt = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(
        max_length=18, choices=CallbackOutcome.choices, default=CallbackOutcome.PENDING
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # {url, method, headers, payload}: the signature headers shown, the payload capped.
    request = models.JSONField(default=dict, blank=True)
    # {status, status_text, headers, body, content_type}, or null when no reply came.
    response = models.JSONField(null=True, blank=True)
    # When the next attempt is due, while this one is the latest and has not settled the
    # delivery (under way, or failed in a way worth retrying); null once nothing follows.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "callback deliveries"
        constraints = [
            # One row per attempt; also the index that reads a session's attempts in order.
            models.UniqueConstraint(fields=["session", "attempt"], name="callback_attempt_once"),
        ]
        indexes = [
            # The reconciler finds attempts whose follow-up is overdue (its message was lost).
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="callback_due",
            ),
        ]

    def __str__(self) -> str:
        return f"Callback attempt {self.attempt}: {self.get_outcome_display()}"

    @property
    def delivered(self) -> bool:
        return self.outcome == CallbackOutcome.SUCCESS
