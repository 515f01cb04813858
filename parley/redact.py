"""Secrets out of anything Parley keeps or says about an upstream's reply.

An upstream (a tool's webhook, an LLM provider, iwy, Agora) may echo the request it was sent,
headers and all, in a body or an error message. Whatever is recorded from it, logged, or put in
an error passes through `redact` (text) or `redact_json` (a JSON value) first. Two nets:

- the secrets the request used, passed in by the caller (a bearer token, a header value, a
  Basic `user:password`, an HMAC secret, a provider's API key), found as they are, in base64,
  URL-quoted or JSON-escaped;
- anything shaped like a credential: `Basic …`/`Bearer …` values, prefixed keys (`sk-…`,
  `pk_live_…`, `whsec_…`), and long values after a `key`/`token`/`secret`/`password` name.
"""

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

REDACTED = "[REDACTED]"
# Shorter secrets are not searched for: "abc" would blank out ordinary words.
MIN_SECRET_CHARS = 4

# `Authorization: Basic <base64>` / `Bearer <token>` and the like, wherever they are written.
_SCHEME = re.compile(
    r"\b(Basic|Bearer|Token|Digest)([ \t]{1,8})([A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE
)
# Keys with a known prefix: OpenAI's and Stripe-style keys, Standard Webhooks secrets, Parley's
# own (API keys pk_live_, LLM keys ak_, session keys sl_ and tokens st_, invitations inv_).
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-|sk_live_|sk_test_|rk_live_|rk_test_|pk_live_|pk_test_|whsec_|"
    r"ak_|sl_|st_|inv_|ghp_|gho_|github_pat_|xox[abprs]-|AIza)[A-Za-z0-9_\-.:+/=]{12,}"
)
# A long value written after a credential's name: api_key=…, "token": "…", secret: …
# The name is matched from its last word only ("api_key" from "key"), so that no pattern has to
# backtrack over a long run of letters: the time stays linear in the text.
_NAMED = re.compile(
    r"(?i)((?:key|token|secret|password|passwd|credential)s?[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?)"
    r"([A-Za-z0-9+/=_\-.~]{12,})"
)
# JSON members whose value is a credential whatever it looks like.
_SECRET_NAME = re.compile(
    r"(?i)^(?:.*[-_])?(?:authorization|proxy-authorization|cookie|set-cookie|api[-_]?key|apikey"
    r"|secret|password|passwd|token|credentials?)$"
)


def _scheme_value(match: re.Match[str]) -> str:
    value = match.group(3)
    # "Basic plan", "Bearer authentication": words, not credentials.
    looks_random = len(value) >= 16 or any(c.isdigit() or c in "+/=_-." for c in value)
    if not looks_random:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def _forms(secret: str) -> set[str]:
    """How a secret may show up in an echo: as it is, base64 (as Basic auth sends it), quoted."""
    raw = secret.encode()
    encoded = base64.b64encode(raw).decode()
    return {
        secret,
        encoded,
        encoded.rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(secret, safe=""),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
    }


def secret_forms(secrets: Iterable[str | None]) -> list[str]:
    """Every form of the secrets worth searching for, longest first (so a secret inside a
    longer one does not leave the rest of it behind)."""
    found: set[str] = set()
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_CHARS:
            found |= {form for form in _forms(secret) if len(form) >= MIN_SECRET_CHARS}
    return sorted(found, key=len, reverse=True)


def _redact_with(text: str, forms: list[str], *, by_name: bool = True) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    text = _SCHEME.sub(_scheme_value, text)
    text = _PREFIXED.sub(REDACTED, text)
    return _NAMED.sub(lambda m: m.group(1) + REDACTED, text) if by_name else text


def redact(text: str, *, secrets: Iterable[str | None] = (), by_name: bool = True) -> str:
    """The text with the given secrets, and anything shaped like a credential, replaced.

    `by_name=False` keeps values that are merely written after a credential-like name
    (`next_page_token: …`): a tool's reply to the model may need them, and they are not ours."""
    return _redact_with(text, secret_forms(secrets), by_name=by_name) if text else text


def _walk(value: Any, forms: list[str]) -> Any:
    if isinstance(value, str):
        return _redact_with(value, forms)
    if isinstance(value, list):
        return [_walk(item, forms) for item in value]
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(item, str) and item and _SECRET_NAME.match(str(key))
            else _walk(item, forms)
            for key, item in value.items()
        }
    return value


def redact_json(value: Any, *, secrets: Iterable[str | None] = ()) -> Any:
    """A JSON value (a record, a reply's body) with its strings redacted, and the values of
    members named like a credential (`Authorization`, `api_key`, `password`…) replaced whole."""
    return _walk(value, secret_forms(secrets))


def redact_headers(
    headers: dict[str, str], *, secrets: Iterable[str | None] = ()
) -> dict[str, str]:
    """Headers as a record shows them: credentials replaced, the rest redacted as text."""
    shown = redact_json(headers, secrets=secrets)
    return {str(key): str(value) for key, value in shown.items()}
