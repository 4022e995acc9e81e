"""API key secrets: generated here, shown once, stored only as a salted scrypt hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ROLES = ("admin", "editor", "viewer")

# scrypt cost: ~10 ms per check on this class of machine — cheap for a request, slow for guessing.
_N, _R, _P = 2**14, 8, 1


def new_client_id() -> str:
    return "lp_" + secrets.token_hex(8)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt = base64.b64decode(salt_b64)
    expected = base64.b64decode(digest_b64)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected))
    return hmac.compare_digest(digest, expected)
