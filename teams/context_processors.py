from django.http import HttpRequest

from .models import Membership


def team(request: HttpRequest) -> dict[str, object]:
    """The current membership, and every team the person belongs to for the team switcher."""
    membership = getattr(request, "membership", None)
    if not membership:
        return {"membership": None, "memberships": []}
    return {
        "membership": membership,
        "memberships": Membership.objects.filter(user=membership.user_id)
        .select_related("team")
        .order_by("team__name"),
    }
