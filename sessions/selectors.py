"""Reads for the dashboard's sessions pages.

The list pages with a keyset (cursor) on (started_at, id), newest first: a page is one indexed
range scan however deep it is, where OFFSET would read and skip every earlier row."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform

from agents.selectors import agent_list
from teams.models import Team

from .models import Session, SessionEvent

PAGE_SIZE = 25
DAMAGED = "This page link is damaged or incomplete."


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """A position between two sessions of the list: the page holds the sessions older than it
    (`older=True`, the "Older" link) or newer than it (the "Newer" link)."""

    started_at: datetime
    id: UUID
    older: bool

    def encode(self) -> str:
        raw = f"{'o' if self.older else 'n'}|{self.started_at.isoformat()}|{self.id.hex}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        """The cursor of an "Older"/"Newer" link; anything else raises InvalidCursor."""
        if len(token) > 200:
            raise InvalidCursor(DAMAGED)
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            direction, started_at, id_hex = raw.split("|")
            when, session_id = datetime.fromisoformat(started_at), UUID(hex=id_hex)
            if direction not in ("o", "n") or when.tzinfo is None:
                raise ValueError(direction)
            return cls(started_at=when.astimezone(UTC), id=session_id, older=direction == "o")
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
            raise InvalidCursor(DAMAGED) from exc


@dataclass(frozen=True)
class SessionFilters:
    agent_id: UUID | None = None
    status: str = ""
    type: str = ""
    started_from: datetime | None = None  # inclusive
    started_before: datetime | None = None  # exclusive
    failed_criterion: str = ""  # the analysis judged this criterion "fail"
    data_field: str = ""  # the analysis extracted this field, equal to data_value
    data_value: str = ""

    def __bool__(self) -> bool:
        return any(
            (
                self.agent_id,
                self.status,
                self.type,
                self.started_from,
                self.started_before,
                self.failed_criterion,
                self.data_field,
            )
        )


@dataclass(frozen=True)
class SessionPage:
    sessions: list[Session]
    newer: Cursor | None  # None on the newest page
    older: Cursor | None  # None on the oldest page


def _filtered(team: Team, filters: SessionFilters) -> QuerySet[Session]:
    if filters.agent_id:
        # Scoped through the agent: on the session's own team column, SQLite (which keeps no
        # statistics) prefers the team's status index and reads every session of that status.
        sessions = Session.objects.filter(agent_id=filters.agent_id, agent__team=team)
    else:
        sessions = Session.objects.filter(team=team)
    sessions = sessions.defer("metadata")  # the list shows none, and it may be large
    if filters.status:
        sessions = sessions.filter(status=filters.status)
    if filters.type:
        sessions = sessions.filter(type=filters.type)
    if filters.started_from:
        sessions = sessions.filter(started_at__gte=filters.started_from)
    if filters.started_before:
        sessions = sessions.filter(started_at__lt=filters.started_before)
    return _analysed(sessions, filters)


def _analysed(sessions: QuerySet[Session], filters: SessionFilters) -> QuerySet[Session]:
    """The analysis app's results, read through its reverse relation by name (this app never
    imports it). Names go in as JSON keys, never as lookups: a field named "contains" is a field."""
    if filters.failed_criterion:
        verdict = KeyTransform(filters.failed_criterion, "analysis__results")
        sessions = sessions.alias(verdict=verdict).filter(verdict="fail")
    if filters.data_field:
        extracted = KeyTransform(filters.data_field, "analysis__data")
        equal = Q(extracted=filters.data_value)
        try:
            parsed = json.loads(filters.data_value)
        except ValueError:
            parsed = None
        if isinstance(parsed, bool | int | float):  # 42 and true as JSON, not as text
            equal |= Q(extracted=parsed)
        sessions = sessions.alias(extracted=extracted).filter(equal)
    return sessions


def session_list(
    *, team: Team, filters: SessionFilters, cursor: Cursor | None = None, size: int = PAGE_SIZE
) -> SessionPage:
    """One page of the team's sessions, newest first, in one query whatever the page.

    Ties on started_at are ordered by id, so every session appears on exactly one page. One row
    more than the page is read to know whether another page follows."""
    sessions = _filtered(team, filters)
    if cursor is None:
        rows = list(sessions.order_by("-started_at", "-id")[: size + 1])
        return SessionPage(rows[:size], newer=None, older=_edge(rows, size, older=True))
    at = cursor.started_at
    if cursor.older:
        # The plain range on started_at is what the index serves; the OR only breaks ties.
        sessions = sessions.filter(started_at__lte=at)
        sessions = sessions.filter(Q(started_at__lt=at) | Q(id__lt=cursor.id))
        rows = list(sessions.order_by("-started_at", "-id")[: size + 1])
        newer = Cursor(rows[0].started_at, rows[0].id, older=False) if rows else None
        return SessionPage(rows[:size], newer=newer, older=_edge(rows, size, older=True))
    sessions = sessions.filter(started_at__gte=at)
    sessions = sessions.filter(Q(started_at__gt=at) | Q(id__gt=cursor.id))
    rows = list(sessions.order_by("started_at", "id")[: size + 1])
    page = rows[:size][::-1]
    older = Cursor(page[-1].started_at, page[-1].id, older=True) if page else None
    return SessionPage(page, newer=_edge(rows, size, older=False), older=older)


def _edge(rows: list[Session], size: int, *, older: bool) -> Cursor | None:
    """The cursor to the next page in the direction read, if the extra row showed there is one."""
    if len(rows) <= size:
        return None
    last = rows[size - 1]
    return Cursor(last.started_at, last.id, older=older)


def session_filter_agents(*, team: Team) -> list[tuple[UUID, str]]:
    """The agents a team's sessions can be filtered by, as (id, name), by name."""
    return list(agent_list(team=team).order_by("name", "id").values_list("id", "name"))


def session_timeline(*, session: Session) -> list[SessionEvent]:
    """Every event of the session in order, in one query: sessions are bounded in length."""
    return list(SessionEvent.objects.filter(session=session).order_by("seq"))


def session_configuration(*, session: Session) -> dict[str, Any]:
    """The agent configuration a session runs: the agent's published one, or for a team's test
    call of a draft or an older version, that version's. Nothing when the agent was deleted."""
    agent = session.agent
    if agent is None:
        return {}
    pinned = session.agent_version_id
    if pinned is None or pinned == agent.published_version_id:
        return agent.configuration
    return session.agent_version.configuration if session.agent_version else agent.configuration
