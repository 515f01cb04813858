"""The JSON API under /v1: one NinjaAPI, one error shape for every failure.

Every error is {"error": "<for a person>", "code": "<for a program>", "details": {...}}."""

import json
import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from agents.api import router as agents_router
from parley.errors import InvalidInput, ParleyError, invalid_input_from_errors
from tools.api import router as tools_router

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


@api.exception_handler(ParleyError)
def _parley_error(request: HttpRequest, exc: ParleyError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Ninja puts where the value came from first ("body", "payload", …); people want the field.
    errors = [e | {"loc": _field_loc(e.get("loc", ()))} for e in exc.errors]
    err = invalid_input_from_errors(errors)
    return error_response(400, err.code, err.message, err.details)


def _field_loc(loc: tuple | list) -> tuple:
    loc = tuple(loc)
    if loc[:1] == ("body",):
        return loc[2:] or ("body",)
    if loc[:1] in (("query",), ("path",)):
        return loc[2:] if len(loc) > 2 and loc[1] in ("filters", "ninja_pagination") else loc[1:]
    return loc


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        401,
        "unauthorized",
        "Send your API key as 'x-api-key: <key>' or 'Authorization: Bearer <key>'.",
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ParleyError):  # ninja wraps what the body parser raised
        return _parley_error(request, exc.__cause__)
    return error_response(exc.status_code, "http_error", exc.message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(403, "forbidden", str(exc) or "You may not do this.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side; it was logged.")
