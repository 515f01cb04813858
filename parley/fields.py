"""Model fields that keep their values encrypted in the database."""

import functools
import json
from typing import Any

from cryptography.fernet import MultiFernet
from django.conf import settings
from django.db import models

from parley import crypto


@functools.cache
def _fernet(keys: tuple[str, ...], secret: str) -> MultiFernet:
    return crypto.fernet_from_keys(keys, fallback_secret=secret)


def current_fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS), settings.SECRET_KEY)


class EncryptedJSONField(models.TextField):
    """A JSON value stored as one Fernet token. It cannot be queried, only read whole."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return json.loads(crypto.decrypt(current_fernet(), value))

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(current_fernet(), json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj))
