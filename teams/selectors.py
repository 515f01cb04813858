from django.conf import settings

from parley.tokens import token_digest

from .models import ApiKey, Membership, User


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key matching a presented secret, revoked or not; one indexed query.

    The lookup is by the secret's HMAC, so the database comparison never sees the secret
    and timing reveals nothing an attacker could use to guess it."""
    if not secret.startswith(settings.API_KEY_PREFIX) or len(secret) > 200:
        return None
    digest = token_digest(secret, key=settings.SECRET_KEY)
    return ApiKey.objects.select_related("team").filter(digest=digest).first()


def membership_current(*, user: User, team_id: int | None) -> Membership | None:
    """The membership a signed-in person acts through: the chosen team, else their first."""
    memberships = Membership.objects.select_related("team").filter(user=user)
    if team_id is not None:
        chosen = memberships.filter(team_id=team_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("created_at", "pk").first()
