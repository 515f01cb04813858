"""What a request body is: a JSON object.

Ninja's Schema reads its fields from any value's attributes, so that it can read a model
instance; a body of `null`, `[]` or `1` has none of them, and a schema whose fields all have
defaults took it as `{}`: `POST /v1/agents/{id}/llm-keys` with `null` minted a key. Every body
schema starts from BodyIn, which refuses anything but an object with a 400 that names the body."""

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import model_validator
from pydantic_core import PydanticCustomError

_JSON_NAMES = {type(None): "null", list: "an array", str: "a string", bool: "a boolean"}


class BodyIn(Schema):
    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # Schema's own validator runs first and wraps the value it was given.
        sent = data._obj if isinstance(data, DjangoGetter) else data
        if isinstance(sent, dict | cls):
            return data
        kind = _JSON_NAMES.get(type(sent), "a number")
        raise PydanticCustomError(
            "body_not_object", "must be a JSON object, not {kind}", {"kind": kind}
        )
