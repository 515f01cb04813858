import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from parley.errors import Conflict, Forbidden, Gone, NotFound
from parley.fields import current_fernet
from parley.tokens import token_digest, token_generate

from .models import ApiKey, ApiKeyScope, Invitation, Membership, Role, Team, User
from .selectors import api_key_forget, invitation_for_token

INVITATION_PREFIX = "inv_"
MANAGERS_ONLY = "Only the team's owners and admins can manage members, invitations and keys."
OWNERS_ONLY = "Only an owner can make someone an owner or change an owner's membership."
LAST_OWNER = (
    "A team needs at least one owner: make someone else an owner first, "
    "then change or remove this one."
)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "team"
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


# Signing up by email: the form's answer is the same whether or not the address has an account
# (nothing tells a stranger who is signed up); the address's owner learns which by the email.
SIGN_UP_LINK_BAD = "This sign-up link is not valid or has expired; sign up again."
SIGN_UP_DONE = "An account with this email exists now; sign in."


def _send(template: str, *, to: str, context: dict[str, Any]) -> None:
    subject, _, body = render_to_string(template, context).strip().partition("\n")
    send_mail(subject.strip(), body.strip() + "\n", settings.DEFAULT_FROM_EMAIL, [to])


def sign_up_request(
    *, email: str, password: str, team_name: str, next_url: str, link_for: Callable[[str], str]
) -> None:
    """Email `email` a link that creates the account (what was typed travels in it encrypted,
    the password hashed), or, when the address has an account already, a note saying so. The
    same work either way, the hash computed whether or not it is used: timing tells nothing."""
    payload = {"email": email, "password": make_password(password), "team": team_name}
    token = current_fernet().encrypt(json.dumps(payload | {"next": next_url}).encode()).decode()
    if User.objects.filter(email__iexact=email).exists():
        _send("registration/sign_up_exists_email.txt", to=email, context={"email": email})
        return
    context = {"email": email, "link": link_for(token), "team_name": team_name}
    _send("registration/sign_up_email.txt", to=email, context=context)


def sign_up_link_read(*, token: str) -> dict[str, str]:
    """What a sign-up link carries; Gone when it was altered or is too old."""
    max_age = int(settings.SIGN_UP_LINK_MAX_AGE.total_seconds())
    try:
        found = json.loads(current_fernet().decrypt(token.encode(), ttl=max_age))
    except (InvalidToken, ValueError):
        raise Gone(SIGN_UP_LINK_BAD) from None
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise Gone(SIGN_UP_LINK_BAD)
    return found


@transaction.atomic
def sign_up_confirm(*, token: str) -> tuple[User, str]:
    """The account a sign-up link stands for, created now, with its team unless joining an
    invitation or the name was taken meanwhile (then the dashboard asks for one); and where to
    go next. Conflict when the address has an account already (the link was used)."""
    found = sign_up_link_read(token=token)
    email = found["email"]
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(SIGN_UP_DONE)
    user = User.objects.create_user(email, None)
    user.password = found["password"]
    user.save(update_fields=["password"])
    if found.get("team") and not Team.objects.filter(name__iexact=found["team"]).exists():
        team_create(name=found["team"], owner=user)
    return user, found.get("next", "")


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


# Members and invitations. Who may do what is decided here, so every caller gets the same rules.


def roles_managed_by(role: str) -> frozenset[str]:
    """The roles someone may hand out, and whose holders they may change or remove:
    owners every role, admins every role but owner, members and viewers none."""
    if role == Role.OWNER:
        return frozenset(Role)
    if role == Role.ADMIN:
        return frozenset(Role) - {Role.OWNER}
    return frozenset()


def _require_manager(team: Team, actor: Actor, *roles: str) -> None:
    """Refuse unless the actor may manage people holding, or being given, each of `roles`.

    An actor with neither a person nor a key is Parley itself, e.g. a management command."""
    if actor.user is None and actor.api_key is None:
        return
    found = None
    if actor.user is not None:
        found = Membership.objects.filter(team=team, user=actor.user).values("role").first()
    managed = roles_managed_by(found["role"]) if found else frozenset()
    if not managed:
        raise Forbidden(MANAGERS_ONLY)
    if not managed.issuperset(roles):
        raise Forbidden(OWNERS_ONLY)


def _lock_for_change(membership: Membership) -> None:
    """Lock the team's row and re-read the role, so that two owners demoting or removing each
    other at once are settled one after the other and cannot leave the team with no owner."""
    Team.objects.select_for_update().get(pk=membership.team_id)
    role = Membership.objects.filter(pk=membership.pk).values_list("role", flat=True).first()
    if role is None:
        raise NotFound(f"{membership.user} is no longer a member of this team.")
    membership.role = role


def _is_last_owner(membership: Membership) -> bool:
    others = Membership.objects.filter(team_id=membership.team_id, role=Role.OWNER)
    return membership.role == Role.OWNER and not others.exclude(pk=membership.pk).exists()


def _record_member(
    membership: Membership, actor: Actor, action: Action, *, old: str | None, new: str | None
) -> None:
    activity_record(
        team=membership.team,
        actor=actor,
        action=action,
        target_type=TargetType.MEMBER,
        target_id=membership.user_id,
        target_label=membership.user.email,
        before={"role": old} if old else {},
        after={"role": new} if new else {},
    )


@transaction.atomic
def membership_role_change(*, membership: Membership, role: Role, actor: Actor) -> Membership:
    _lock_for_change(membership)
    old = membership.role
    _require_manager(membership.team, actor, old, role)
    if old == role:
        return membership
    if _is_last_owner(membership):
        raise Conflict(LAST_OWNER)
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role"])
    _record_member(membership, actor, Action.ROLE_CHANGED, old=old, new=role)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor) -> None:
    _lock_for_change(membership)
    _require_manager(membership.team, actor, membership.role)
    if _is_last_owner(membership):
        raise Conflict(LAST_OWNER)
    membership.delete()
    _record_member(membership, actor, Action.REMOVED, old=membership.role, new=None)


def _record_invitation(invitation: Invitation, actor: Actor, action: Action) -> None:
    activity_record(
        team=invitation.team,
        actor=actor,
        action=action,
        target_type=TargetType.INVITATION,
        target_id=invitation.pk,
        target_label=invitation.email or "anyone with the link",
        before={},
        after={"role": invitation.role} if action == Action.INVITED else None,
    )


@transaction.atomic
def invitation_create(
    *, team: Team, role: Role, email: str = "", expires_in: timedelta, actor: Actor
) -> tuple[Invitation, str]:
    """Returns the invitation and the token for its link, which exists only in this value."""
    _require_manager(team, actor, role)
    token = token_generate(INVITATION_PREFIX)
    invitation = Invitation(
        team=team,
        role=role,
        email=email,
        digest=token_digest(token, key=settings.SECRET_KEY),
        created_by=actor.person,
        expires_at=timezone.now() + expires_in,
    )
    invitation.full_clean()
    invitation.save()
    _record_invitation(invitation, actor, Action.INVITED)
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor) -> None:
    _require_manager(invitation.team, actor, invitation.role)
    now = timezone.now()
    pending = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None)
    if pending.update(revoked_at=now):
        invitation.revoked_at = now
        _record_invitation(invitation, actor, Action.REVOKED)


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the invitation's team. The link works once: of two people opening it at the same
    moment, the conditional update lets exactly one in."""
    invitation = invitation_for_token(token)
    if invitation is None:
        raise NotFound("This invitation link is not valid. Check that it was copied whole.")
    now = timezone.now()
    if reason := invitation.unusable_because(now):
        raise Gone(f"This invitation {reason}. Ask an admin of the team for a new link.")
    if Membership.objects.filter(team=invitation.team, user=user).exists():
        raise Conflict(f"You are already a member of {invitation.team}.")
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at=None, revoked_at=None, expires_at__gt=now
    ).update(accepted_at=now, accepted_by=user)
    if not claimed:
        raise Gone("This invitation has just been used. Ask an admin of the team for a new link.")
    membership = membership_add(team=invitation.team, user=user, role=Role(invitation.role))
    _record_member(membership, Actor(user=user), Action.JOINED, old=None, new=invitation.role)
    return membership
