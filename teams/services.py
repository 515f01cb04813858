from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from parley.errors import Conflict
from parley.tokens import token_digest, token_generate

from .models import ApiKey, ApiKeyScope, Membership, Role, Team, User
from .selectors import api_key_forget


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "team"
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def user_sign_up(*, email: str, password: str, team_name: str) -> User:
    """A new account and its first team, which the new person owns."""
    user = User.objects.create_user(email, password)
    team_create(name=team_name, owner=user)
    return user


def _record_key(api_key: ApiKey, actor: Actor, action: Action) -> None:
    label = f"{api_key.prefix}… {api_key.name}".strip()
    activity_record(
        team=api_key.team,
        actor=actor,
        action=action,
        target_type=TargetType.API_KEY,
        target_id=api_key.pk,
        target_label=label,
    )


@transaction.atomic
def team_create(*, name: str, owner: User) -> Team:
    if Team.objects.filter(name__iexact=name).exists():
        raise Conflict(f"A team named {name!r} already exists.")
    team = Team(name=name, slug=_unique_slug(name))
    team.full_clean()
    team.save()
    membership_add(team=team, user=owner, role=Role.OWNER)
    return team


@transaction.atomic
def membership_add(*, team: Team, user: User, role: Role) -> Membership:
    membership = Membership(team=team, user=user, role=role)
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def api_key_create(
    *, team: Team, name: str = "", scope: ApiKeyScope, actor: Actor
) -> tuple[ApiKey, str]:
    """Returns the key row and the secret, which exists only in this return value."""
    secret = token_generate(settings.API_KEY_PREFIX)
    api_key = ApiKey(
        team=team,
        name=name,
        scope=scope,
        created_by=actor.person,
        prefix=ApiKey.prefix_of(secret),
        digest=token_digest(secret, key=settings.SECRET_KEY),
    )
    api_key.full_clean()
    api_key.save()
    _record_key(api_key, actor, Action.CREATED)
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> None:
    now = timezone.now()
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=now):
        api_key.revoked_at = now
        _record_key(api_key, actor, Action.REVOKED)
    api_key_forget(api_key)


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once per minute per key, so reads do not turn into writes."""
    now = timezone.now()
    if api_key.last_used_is_stale(now):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
