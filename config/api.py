"""The JSON API under /v1: one NinjaAPI, one error shape for every failure.

Every error is {"error": "<for a person>", "code": "<for a program>", "details": {...}}."""

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from agents.api import router as agents_router
from agora.api import router as agora_router
from completions.api import router as completions_router
from iwy.api import router as iwy_router
from parley.errors import InvalidInput, ParleyError, invalid_input_from_errors
from sessions.api import agent_human_router
from sessions.api import router as sessions_router
from tools.api import router as tools_router
from voice.api import router as voice_router

from .responses import error_response

logger = logging.getLogger(__name__)


class InvalidJSON(ParleyError):
    code = "invalid_json"


class PayloadTooLarge(ParleyError):
    status = 413
    code = "payload_too_large"


def _path_to_nul(value: Any, path: tuple[object, ...] = ()) -> tuple[object, ...] | None:
    """Where a NUL character sits in parsed JSON; PostgreSQL cannot store one in text or jsonb."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*path, key)
        if (found := _path_to_nul(item, (*path, key))) is not None:
            return found
    return None


class JSONBodyParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        data = self._loads(request)
        if (path := _path_to_nul(data)) is not None:
            field = ".".join(str(p) for p in path) or "body"
            raise InvalidInput.for_field(
                field, "contains a NUL character (\\u0000), which is not allowed"
            )
        return data

    def _loads(self, request: HttpRequest) -> Any:
        try:
            return json.loads(request.body)
        except RequestDataTooBig as exc:
            raise PayloadTooLarge("The request body is larger than this API accepts.") from exc
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise InvalidJSON(f"The request body is not valid JSON: {exc.msg} at {where}.") from exc
        except UnicodeDecodeError as exc:
            raise InvalidJSON("The request body is not valid UTF-8 JSON.") from exc


api = NinjaAPI(
    title="Parley API",
    version="1",
    description="Agents, tools and single-use agents. Authenticate with `x-api-key` or "
    "`Authorization: Bearer`. Errors are `{error, code, details}`.",
    parser=JSONBodyParser(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("/", agents_router)
api.add_router("/", tools_router)
api.add_router("/", sessions_router)
api.add_router("/", voice_router)
api.add_router("/", completions_router)
api.add_router("/", agora_router)
api.add_router("/", iwy_router)

# Agent Human's session API, under /api/v1. Its clients read {"success": false, "error"} on a
# failure, so its errors carry that besides Parley's code and details.
agent_human_api = NinjaAPI(
    title="Parley API: Agent Human sessions",
    version="1",
    description="Agent Human's session API: start with `x-api-key`, send messages with the key "
    "or the session token, end. Errors are `{success: false, error, code, details}`.",
    parser=JSONBodyParser(),
    urls_namespace="agenthuman",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
agent_human_api.add_router("/", agent_human_router)


def _agent_human_error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> HttpResponse:
    body = {"success": False, "error": message, "code": code, "details": details or {}}
    return JsonResponse(body, status=status)


def _install_error_handlers(api: NinjaAPI, respond: Callable[..., HttpResponse]) -> None:
    """The same refusals, said in each API's shape."""

    def parley_error(request: HttpRequest, exc: ParleyError) -> HttpResponse:
        return respond(exc.status, exc.code, exc.message, exc.details)

    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # Ninja puts where the value came from first ("body", …); people want the field.
        errors = [e | {"loc": _field_loc(e.get("loc", ()))} for e in exc.errors]
        err = invalid_input_from_errors(errors)
        return respond(400, err.code, err.message, err.details)

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return respond(401, "unauthorized", UNAUTHENTICATED)

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, ParleyError):  # ninja wraps what the body parser raised
            return parley_error(request, exc.__cause__)
        return respond(exc.status_code, "http_error", exc.message)

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(404, "not_found", "Not found.")

    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return respond(403, "forbidden", str(exc) or "You may not do this.")

    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return respond(500, "internal_error", "Something went wrong on our side; it was logged.")

    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (ParleyError, parley_error),
        (ValidationError, validation_error),
        (AuthenticationError, unauthenticated),
        (HttpError, http_error),
        (Http404, not_found),
        (PermissionDenied, forbidden),
        (Exception, unexpected),
    ]
    for kind, handler in handlers:
        api.add_exception_handler(kind, handler)


UNAUTHENTICATED = "Send your API key as 'x-api-key: <key>' or 'Authorization: Bearer <key>'."


def _field_loc(loc: tuple | list) -> tuple:
    loc = tuple(loc)
    if loc[:1] == ("body",):
        return loc[2:] or ("body",)
    if loc[:1] in (("query",), ("path",)):
        return loc[2:] if len(loc) > 2 and loc[1] in ("filters", "ninja_pagination") else loc[1:]
    return loc


_install_error_handlers(api, error_response)
_install_error_handlers(agent_human_api, _agent_human_error)
