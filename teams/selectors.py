import hmac

from cachetools import TTLCache
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from parley.tokens import token_digest

from .models import ApiKey, Invitation, Membership, Team, User

# Keys found in the last few seconds, by digest, in this process: most requests then spend no
# query on authentication. A revocation reaches other processes when their entry expires.
_recent_keys: TTLCache[str, ApiKey] = TTLCache(
    maxsize=10_000, ttl=max(settings.API_KEY_CACHE_SECONDS, 0.001)
)


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key matching a presented secret, revoked or not; at most one indexed query.

    Candidates are found by the key's public prefix; the secret's HMAC is then compared in
    constant time, so response timing tells nothing about how close a guess was."""
    if not secret.startswith(settings.API_KEY_PREFIX) or len(secret) > 200:
        return None
    digest = token_digest(secret, key=settings.SECRET_KEY)
    if (cached := _recent_keys.get(digest)) is not None:
        return cached
    candidates = ApiKey.objects.select_related("team").filter(prefix=ApiKey.prefix_of(secret))
    for api_key in candidates:
        if hmac.compare_digest(api_key.digest, digest):
            if settings.API_KEY_CACHE_SECONDS > 0:
                _recent_keys[digest] = api_key
            return api_key
    return None


def api_key_forget(api_key: ApiKey) -> None:
    """Drop a key from this process's memory, so a change to it counts from the next request."""
    _recent_keys.pop(api_key.digest, None)


def membership_current(*, user: User, team_id: int | None) -> Membership | None:
    """The membership a signed-in person acts through: the chosen team, else their first."""
    memberships = Membership.objects.select_related("team").filter(user=user)
    if team_id is not None:
        chosen = memberships.filter(team_id=team_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("created_at", "pk").first()


def membership_list(*, team: Team) -> QuerySet[Membership]:
    """The Team page's members, longest-standing first."""
    return team.memberships.select_related("user").order_by("created_at", "pk")


def invitation_list_pending(*, team: Team) -> QuerySet[Invitation]:
    """Invitations whose links still work, soonest to expire first."""
    return (
        team.invitations.filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())
        .select_related("created_by")
        .order_by("expires_at", "pk")
    )


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link's token belongs to, in whatever state it is.

    Found by the token's HMAC: the digest index answers in one query, and the lookup reveals
    nothing that helps guess a token, which carries 256 random bits."""
    if len(token) > 200:
        return None
    digest = token_digest(token, key=settings.SECRET_KEY)
    return Invitation.objects.select_related("team").filter(digest=digest).first()


def api_key_list(*, team: Team) -> QuerySet[ApiKey]:
    """Every key of the team, revoked ones too, newest first."""
    return team.api_keys.select_related("created_by").order_by("-created_at", "-pk")
