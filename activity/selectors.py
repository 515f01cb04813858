import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from agents.models import Agent
from teams.models import Team, User
from tools.models import Tool

from .models import ActivityEntry, TargetType

PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The dashboard pages of objects that can still be opened from the log.
_DETAIL_PATHS: dict[str, str] = {TargetType.AGENT: "/agents/{}/", TargetType.TOOL: "/tools/{}/"}
_LINKED_MODELS: dict[str, type[Agent] | type[Tool]] = {
    TargetType.AGENT: Agent,
    TargetType.TOOL: Tool,
}


@dataclass(frozen=True)
class Cursor:
    """Where a page of the log ends: entries strictly older than this one come next."""

    created_at: datetime
    id: int

    def __str__(self) -> str:
        return f"{(self.created_at - _EPOCH) // timedelta(microseconds=1)}_{self.id}"

    @classmethod
    def parse(cls, text: str) -> "Cursor | None":
        micros, _, pk = text.partition("_")
        # Bounded so that the date stays a date and the id fits a 64-bit column.
        if not (micros.isdigit() and pk.isdigit()) or len(micros) > 17 or len(pk) > 18:
            return None
        return cls(_EPOCH + timedelta(microseconds=int(micros)), int(pk))


@dataclass(frozen=True)
class ActivityRow:
    entry: ActivityEntry
    # The object's dashboard page, while the object still exists.
    target_url: str | None
    changes: list[tuple[str, str, str]]


@dataclass(frozen=True)
class ActivityPage:
    rows: list[ActivityRow]
    next_cursor: Cursor | None


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _existing_targets(team: Team, entries: list[ActivityEntry]) -> set[tuple[str, str]]:
    """(type, id) of the entries' agents and tools that still exist: one query per type shown."""
    existing = set()
    for target_type, model in _LINKED_MODELS.items():
        ids = set()
        for entry in entries:
            if entry.target_type == target_type:
                try:
                    ids.add(UUID(entry.target_id))
                except ValueError:
                    continue
        if ids:
            found = model.objects.filter(team=team, pk__in=ids).values_list("pk", flat=True)
            existing |= {(target_type, str(pk)) for pk in found}
    return existing


def _row(entry: ActivityEntry, existing: set[tuple[str, str]]) -> ActivityRow:
    url = None
    if (entry.target_type, entry.target_id) in existing:
        url = _DETAIL_PATHS[entry.target_type].format(entry.target_id)
    changes = [(field, _shown(old), _shown(new)) for field, (old, new) in entry.changes.items()]
    return ActivityRow(entry=entry, target_url=url, changes=changes)


def activity_people(*, team: Team) -> QuerySet[User]:
    """The people the log can be filtered by: the team's members."""
    return User.objects.filter(memberships__team=team).order_by("email")


def activity_page(
    *,
    team: Team,
    target_type: str = "",
    actor_id: UUID | None = None,
    since: date | None = None,
    until: date | None = None,
    before: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> ActivityPage:
    """One page of the team's log, newest first; the query count does not grow with the rows."""
    entries = ActivityEntry.objects.filter(team=team).select_related("actor", "api_key")
    if target_type:
        entries = entries.filter(target_type=target_type)
    if actor_id:
        entries = entries.filter(actor_id=actor_id)
    if since:
        entries = entries.filter(created_at__gte=_start_of(since))
    if until:
        entries = entries.filter(created_at__lt=_start_of(until + timedelta(days=1)))
    if before:
        entries = entries.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.id)
        )
    found = list(entries.order_by("-created_at", "-id")[: size + 1])
    shown, more = found[:size], len(found) > size
    existing = _existing_targets(team, shown)
    rows = [_row(entry, existing) for entry in shown]
    next_cursor = Cursor(shown[-1].created_at, shown[-1].id) if more else None
    return ActivityPage(rows=rows, next_cursor=next_cursor)
