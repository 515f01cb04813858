from dataclasses import dataclass
from typing import Any

from parley.diff import changes as diff
from teams.models import ApiKey, Team, User

from .models import Action, ActivityEntry, TargetType


@dataclass(frozen=True)
class Actor:
    """Who is making a change: a signed-in person, or an API key (and the person who made it)."""

    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def person(self) -> User | None:
        if self.user is not None:
            return self.user
        return self.api_key.created_by if self.api_key else None


SYSTEM = Actor()


def activity_record(
    *,
    team: Team,
    actor: Actor,
    action: Action,
    target_type: TargetType,
    target_id: object,
    target_label: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ActivityEntry:
    """Append an entry. With `before` and `after`, records which fields changed and how."""
    return ActivityEntry.objects.create(
        team=team,
        actor=actor.user,
        api_key=actor.api_key,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_label=target_label[:200],
        changes=diff(before or {}, after or {}) if after is not None else {},
    )
