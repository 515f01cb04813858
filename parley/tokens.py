"""API-key style secrets: random, prefixed, stored only as a keyed hash."""

import hashlib
import hmac
import secrets


def token_generate(prefix: str) -> str:
    """A new secret such as `pk_live_3x…`: 32 random bytes, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str, *, key: str) -> str:
    """HMAC-SHA256 of the token: fast enough to run on every request, unlike a password hash,
    and safe because the token itself carries 256 bits of entropy."""
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def token_matches(token: str, digest: str, *, key: str) -> bool:
    return hmac.compare_digest(token_digest(token, key=key), digest)
