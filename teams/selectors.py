from django.conf import settings

from parley.tokens import token_matches

from .models import ApiKey, Membership, User


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key matching a presented secret, revoked or not; one indexed query.

    Candidates are found by the key's public prefix; the secret's HMAC is then compared in
    constant time, so response timing tells nothing about how close a guess was."""
    if not secret.startswith(settings.API_KEY_PREFIX) or len(secret) > 200:
        return None
    candidates = ApiKey.objects.select_related("team").filter(prefix=ApiKey.prefix_of(secret))
    for api_key in candidates:
        if token_matches(secret, api_key.digest, key=settings.SECRET_KEY):
            return api_key
    return None


def membership_current(*, user: User, team_id: int | None) -> Membership | None:
    """The membership a signed-in person acts through: the chosen team, else their first."""
    memberships = Membership.objects.select_related("team").filter(user=user)
    if team_id is not None:
        chosen = memberships.filter(team_id=team_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("created_at", "pk").first()
