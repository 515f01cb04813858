"""One strict reader for the JSON that requests send, and the text rules for what gets stored.

Python's json module reads more than JSON: NaN and Infinity, numbers that overflow to inf, strings
with lone surrogates (`"\\ud800"`), nesting that only ends in a RecursionError. Each of those was
a 500 further on (SQLite's JSON_VALID, PostgreSQL's jsonb, encoding a page as UTF-8). Here each is
a 400 that names what is wrong, and a body over the size limit is a 413, however it was sent."""

import json
import math
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from .errors import InvalidInput, ParleyError

# What PostgreSQL's bigint and SQLite's INTEGER hold: a larger integer fails when stored.
LARGEST_INTEGER = 2**63 - 1
REPLACEMENT = "\ufffd"
# A surrogate left in a decoded str is always a lone one: json pairs the escapes it can.
_INVALID_TEXT = re.compile("[\x00\ud800-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ParleyError):
    code = "invalid_json"


class PayloadTooLarge(ParleyError):
    status = 413
    code = "payload_too_large"


def payload_too_large() -> PayloadTooLarge:
    limit = settings.API_MAX_BODY_BYTES // 1024
    return PayloadTooLarge(f"The request body is over {limit} KiB.")


def _constant(name: str) -> Any:
    raise InvalidJSON(f"The request body is not valid JSON: {name} is not a JSON number.")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidJSON(f"The request body has a number too large to use: {text[:40]}.")
    return number


def _int(text: str) -> int:
    number = int(text) if len(text) <= 20 else LARGEST_INTEGER + 1
    if abs(number) > LARGEST_INTEGER:
        raise InvalidJSON(f"The request body has an integer too large to use: {text[:40]}.")
    return number


def _text_problem(text: str) -> str | None:
    if (found := _INVALID_TEXT.search(text)) is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which is not allowed"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not valid Unicode"


def _items(value: dict[Any, Any] | list[Any]) -> Any:
    return value.items() if isinstance(value, dict) else enumerate(value)


def _problem(value: Any, max_depth: int) -> tuple[tuple[object, ...], str] | None:
    """Where the parsed document breaks a rule, and which; None when it keeps them all."""
    stack: list[tuple[Any, tuple[object, ...], int]] = [(value, (), 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if problem := _text_problem(item):
                return path, problem
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return path, "is not a finite number"
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return path, f"is nested deeper than {max_depth} levels"
        for key, child in _items(item):
            if isinstance(key, str) and (problem := _text_problem(key)):
                return (*path, key), f"has a name that {problem}"
            stack.append((child, (*path, key), depth + 1))
    return None


def _field(path: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in path) or "body"


def json_loads(raw: bytes | str, *, max_depth: int) -> Any:
    """The document in `raw`, read as strict JSON (RFC 8259), or InvalidJSON / InvalidInput
    saying what is wrong and where."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise InvalidJSON(f"The request body is nested deeper than {max_depth} levels.") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidJSON(f"The request body is not valid JSON: {exc.msg} at {where}.") from None
    except UnicodeDecodeError:
        raise InvalidJSON("The request body is not valid UTF-8 JSON.") from None
    if (found := _problem(value, max_depth)) is not None:
        path, problem = found
        if problem.startswith("is nested"):
            raise InvalidJSON(f"The request body {problem}.", details={"field": _field(path)})
        raise InvalidInput.for_field(_field(path), problem)
    return value


def json_problem(value: Any, *, max_depth: int) -> str | None:
    """What in `value` (JSON parsed by another reader, e.g. a form's) cannot be stored: a string
    that is not valid Unicode, a number that is not finite, nesting too deep; None if nothing."""
    if (found := _problem(value, max_depth)) is None:
        return None
    path, problem = found
    return f"{_field(path)}: {problem}"


def request_body(request: HttpRequest) -> bytes:
    """The body, or PayloadTooLarge when it is over the limit, with or without Content-Length."""
    try:
        return request.body
    except RequestDataTooBig:
        raise payload_too_large() from None


def request_json(request: HttpRequest, *, empty: Any = None) -> Any:
    """The request's JSON document; `empty` for an empty body, when it is not None."""
    raw = request_body(request)
    if not raw.strip() and empty is not None:
        return empty
    return json_loads(raw, max_depth=settings.API_MAX_JSON_DEPTH)


def text_valid(text: str) -> str:
    """`text` with each lone surrogate and NUL replaced by U+FFFD, so that it can be stored
    (PostgreSQL refuses both) and sent as UTF-8."""
    return _INVALID_TEXT.sub(REPLACEMENT, text) if _INVALID_TEXT.search(text) else text


def json_valid(value: Any) -> Any:
    """`value` (parsed JSON) with every string, keys included, made valid by text_valid."""
    if isinstance(value, str):
        return text_valid(value)
    if isinstance(value, list):
        return [json_valid(item) for item in value]
    if isinstance(value, dict):
        return {json_valid(key): json_valid(item) for key, item in value.items()}
    return value


def has_lone_surrogate(value: Any) -> bool:
    """Whether a lone surrogate sits anywhere in `value` (parsed JSON)."""
    if isinstance(value, str):
        return _LONE_SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(has_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    return False


class ValidTextEncoder(json.JSONEncoder):
    """For a JSONField: what is written has valid text only, wherever it came from."""

    def encode(self, o: Any) -> str:
        return super().encode(json_valid(o))


class ValidTextDecoder(json.JSONDecoder):
    """For a JSONField: what was stored before text was checked reads back valid."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        value = super().decode(s, *args, **kwargs)
        # Only an escape can hold a lone surrogate in stored JSON text: skip the walk otherwise.
        return json_valid(value) if "\\ud" in s or "\\u0000" in s else value
