"""Checks every /v1 request must pass before its body is read; and, under ASGI, before Django
spools it (BodyLimit, which config/asgi.py wraps around the app)."""

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from parley.jsonbody import payload_too_large

from .responses import error_response

API_PREFIXES = ("/v1/", "/api/v1/")
AGENT_HUMAN_PREFIX = "/api/v1/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _refusal(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    """The error shape of the API asked: Agent Human's clients read `success: false` too."""
    if not request.path.startswith(AGENT_HUMAN_PREFIX):
        return error_response(status, code, message)
    body = {"success": False, "error": message, "code": code, "details": {}}
    return JsonResponse(body, status=status)


class ApiRequestGuard:
    """413 for oversized bodies and 415 for bodies that are not JSON, in the API's error shape,
    and the same shape for the 404s and 405s Django and ninja answer in plain text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIXES):
            return self.get_response(request)
        if refusal := self._refuse_body(request):
            return refusal
        return self._in_api_shape(request, self.get_response(request))

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        """A body found too large only as it was read (sent without Content-Length, or with one
        that understated it) is a 413 too, from sync and async views alike."""
        if request.path.startswith(API_PREFIXES) and isinstance(exc, RequestDataTooBig):
            error = payload_too_large()
            return _refusal(request, error.status, error.code, error.message)
        return None

    def _refuse_body(self, request: HttpRequest) -> HttpResponse | None:
        if request.method not in BODY_METHODS:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refusal(
                request, 400, "bad_request", "The Content-Length header is not a number."
            )
        if length > settings.API_MAX_BODY_BYTES:
            limit = settings.API_MAX_BODY_BYTES // 1024
            return _refusal(
                request, 413, "payload_too_large", f"The request body is over {limit} KiB."
            )
        content_type = request.content_type or ""
        if length and content_type != "application/json" and not content_type.endswith("+json"):
            return _refusal(
                request,
                415,
                "unsupported_media_type",
                f"Send the body as JSON with 'Content-Type: application/json' "
                f"(got {content_type or 'no content type'!r}).",
            )
        return None

    def _in_api_shape(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return _refusal(
                request, 404, "not_found", f"There is no API endpoint at {request.path}."
            )
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            refusal = _refusal(
                request,
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {allowed}.",
            )
            refusal["Allow"] = allowed
            return refusal
        if response.status_code >= 400:  # e.g. a Host header this server does not answer to
            code = response.reason_phrase.lower().replace(" ", "_")
            return _refusal(request, response.status_code, code, f"{response.reason_phrase}.")
        return response


Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """413 for a body over API_MAX_BODY_BYTES, counted as it arrives. Django's ASGI handler
    spools a body of any size to disk before a middleware sees it, and a chunked body has no
    Content-Length to check first; so the body is read here, up to the limit, and handed on."""

    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self._declared_length(scope) > self.limit:
            return await self._refuse(scope, receive, send, more=True)
        received: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break  # the client left; the app hears it in turn
            size += len(message.get("body", b""))
            more = bool(message.get("more_body"))
            if size > self.limit:
                return await self._refuse(scope, receive, send, more=more)
        pending = iter(received)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, more: bool) -> None:
        # What follows is read and dropped, up to the limit again, so that a client still
        # sending hears the 413 rather than a reset connection; a longer body is cut off.
        dropped = 0
        while more and dropped <= self.limit:
            message = await receive()
            dropped += len(message.get("body", b""))
            more = message["type"] == "http.request" and bool(message.get("more_body"))
        error = f"The request body is over {self.limit // 1024} KiB."
        refusal: dict[str, Any] = {"error": error, "code": "payload_too_large", "details": {}}
        if scope["path"].startswith(AGENT_HUMAN_PREFIX):
            refusal = {"success": False} | refusal
        body = json.dumps(refusal).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
