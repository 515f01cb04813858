"""How requests and replies are kept in records: secrets out, bodies capped."""

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .outbound import Delivery
from .redact import REDACTED, redact_headers, redact_json


def text_cut(text: str, limit: int) -> str:
    """The text, or its first `limit` characters and a note saying how long it was."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [cut: the reply was {len(text)} characters]"


def body_capped(value: Any, limit: int) -> Any:
    """A JSON value as it is when small, else its first `limit` characters as text."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return value if len(text) <= limit else text_cut(text, limit)


def url_without_credentials(url: str) -> str:
    """The URL with any user:password it carries replaced by [REDACTED]."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


def reply_record(
    delivery: Delivery, *, limit: int, secrets: Iterable[str | None] = ()
) -> dict[str, Any] | None:
    """The reply as records and test reports show it: {status, status_text, headers, body,
    content_type}, Set-Cookie hidden, the body capped; None when no reply came. The request's
    `secrets`, and anything shaped like a credential, are redacted: a far end may echo them."""
    if delivery.status is None:
        return None
    secrets = list(secrets)
    body = delivery.content if delivery.error is None or delivery.body else None
    headers = {k: REDACTED if k == "set-cookie" else v for k, v in delivery.headers.items()}
    return {
        "status": delivery.status,
        "status_text": delivery.reason,
        "headers": redact_headers(headers, secrets=secrets),
        # Redacted before the cap, so that a cut cannot leave half a secret behind.
        "body": body_capped(redact_json(body, secrets=secrets), limit),
        "content_type": delivery.content_type,
    }
