"""Errors the services raise, each carrying the HTTP status and machine code it answers with.

The JSON API renders them as {"error", "code", "details"}; the dashboard shows the message."""

from collections.abc import Mapping, Sequence
from typing import Any


class ParleyError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(ParleyError):
    code = "validation_error"

    @classmethod
    def for_field(cls, field: str, message: str) -> "InvalidInput":
        return cls(
            f"{field}: {message}", details={"errors": [{"field": field, "message": message}]}
        )


class Unauthorized(ParleyError):
    status = 401
    code = "unauthorized"


class Forbidden(ParleyError):
    status = 403
    code = "forbidden"


class NotFound(ParleyError):
    status = 404
    code = "not_found"


class Conflict(ParleyError):
    status = 409
    code = "conflict"


class Gone(ParleyError):
    status = 410
    code = "gone"


class Busy(ParleyError):
    status = 503
    code = "busy"


def _field_path(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) and error.get("type") != "missing":
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "...'"
        message += f" (got {shown})"
    return message


def invalid_input_from_errors(
    errors: Sequence[Mapping[str, Any]], *, prefix: tuple[object, ...] = ()
) -> InvalidInput:
    """One InvalidInput from pydantic-style errors ({loc, msg, input, type}), naming each field."""
    problems = [
        {"field": _field_path(prefix + tuple(e.get("loc", ()))), "message": _describe(e)}
        for e in errors
    ]
    first = problems[0] if problems else {"field": "body", "message": "is not valid"}
    summary = f"{first['field']}: {first['message']}"
    if len(problems) > 1:
        summary += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return InvalidInput(summary, details={"errors": problems})
