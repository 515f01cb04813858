"""Checks every /v1 request must pass before its body is read."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .responses import error_response

API_PREFIXES = ("/v1/", "/api/v1/")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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

    def _refuse_body(self, request: HttpRequest) -> HttpResponse | None:
        if request.method not in BODY_METHODS:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "bad_request", "The Content-Length header is not a number.")
        if length > settings.API_MAX_BODY_BYTES:
            limit = settings.API_MAX_BODY_BYTES // 1024
            return error_response(
                413, "payload_too_large", f"The request body is over {limit} KiB."
            )
        content_type = request.content_type or ""
        if length and content_type != "application/json" and not content_type.endswith("+json"):
            return error_response(
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
            return error_response(404, "not_found", f"There is no API endpoint at {request.path}.")
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            refusal = error_response(
                405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}."
            )
            refusal["Allow"] = allowed
            return refusal
        if response.status_code >= 400:  # e.g. a Host header this server does not answer to
            code = response.reason_phrase.lower().replace(" ", "_")
            return error_response(response.status_code, code, f"{response.reason_phrase}.")
        return response
