"""Symmetric encryption at rest with Fernet (AES-128-CBC + HMAC-SHA256), with key rotation."""

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DecryptionError(Exception):
    """Stored ciphertext could not be read with any configured key."""


def fernet_from_keys(keys: Sequence[str], *, fallback_secret: str) -> MultiFernet:
    """Encrypt with the first key, decrypt with any. With no keys, derive one from a secret."""
    if not keys:
        derived = hashlib.sha256(b"parley-encryption:" + fallback_secret.encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(fernet: MultiFernet, plaintext: str) -> str:
    return fernet.encrypt(plaintext.encode()).decode()


def decrypt(fernet: MultiFernet, ciphertext: str) -> str:
    try:
        return fernet.decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        # Never hand ciphertext back as if it were the value: a wrong key is an operator error.
        raise DecryptionError("stored secret cannot be decrypted with the configured keys") from exc
