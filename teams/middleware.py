from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from .selectors import membership_current


class CurrentTeamMiddleware:
    """`request.membership`: the signed-in person's membership in the team they are working in,
    looked up only when a view or template asks for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            user, team_id = request.user, request.session.get("team_id")
            request.membership = SimpleLazyObject(  # type: ignore[attr-defined]
                lambda: membership_current(user=user, team_id=team_id)
            )
        else:
            request.membership = None  # type: ignore[attr-defined]
        return self.get_response(request)
