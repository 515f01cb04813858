"""The addresses Parley hands out for what streams: a session's messages, an agent's chat
completions.

Those are async views, and only the async (ASGI) server streams them: under the web (WSGI) server
Django gathers the whole answer before sending any of it. So every such address points at the
async server, `CHAT_BASE_URL`, when it runs at an address of its own (`make run` sets it); without
it, at the server the request came to."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse


def async_base(request: HttpRequest) -> str:
    """The async server's base URL, without a trailing slash."""
    return settings.CHAT_BASE_URL.rstrip("/") or request.build_absolute_uri("/").rstrip("/")


def async_url(request: HttpRequest, name: str, *args: Any) -> str:
    """The absolute URL of the route `name` on the async server."""
    return async_base(request) + reverse(name, args=args)
