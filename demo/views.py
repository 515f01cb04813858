from django.contrib.auth.views import LoginView
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_http_methods

from . import content
from .selectors import demo_login_works


@require_http_methods(["GET", "HEAD", "POST"])
def sign_in(request: HttpRequest) -> HttpResponseBase:
    """Django's sign-in page, which also shows the demo login while it works: `make run` prints
    it, but a newcomer may land here first."""
    demo = {"email": content.EMAIL, "password": content.PASSWORD} if demo_login_works() else None
    return LoginView.as_view(extra_context={"demo_login": demo})(request)
