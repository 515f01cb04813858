"""Whether the sign-in page shows the demo login."""

import hashlib

from django.contrib.auth.hashers import check_password
from django.core.cache import cache

from teams.models import User

from . import content

# How long a process trusts a verdict: the key names the stored hash, so a new password is a
# new key at once; this only lets go of keys nobody asks for any more.
VERDICT_SECONDS = 24 * 3600


def demo_login_works() -> bool:
    """True while the demo login (content.EMAIL, content.PASSWORD) signs in: its account exists,
    is active and still has the demo password. Checking a password costs ~100 ms of hashing, so
    the verdict is cached under a digest of the stored hash, which every password change
    replaces: one query per page view, and one hashing per password."""
    stored = (
        User.objects.filter(email=content.EMAIL, is_active=True)
        .values_list("password", flat=True)
        .first()
    )
    if not stored:
        return False
    key = "demo-login:" + hashlib.sha256(stored.encode()).hexdigest()
    verdict = cache.get(key)
    if verdict is None:
        verdict = check_password(content.PASSWORD, stored)
        cache.set(key, verdict, VERDICT_SECONDS)
    return bool(verdict)
