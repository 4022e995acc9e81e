"""Signing in to the pages: one-time sign-in tokens, signed session cookies, CSRF tokens.

`labelport serve` prints a link with a random token (like Jupyter). Only the token's SHA-256 is
kept, in memory; redeeming it once turns it into a session cookie and deletes it, so a link
copied from a terminal's scrollback later is worthless. An API key (client id + secret) signs in
too, to its own project only.

The cookie is `base64url(json).hmac`: no server-side session table, and a restart (new key)
signs everyone out, as a restart of Jupyter does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

COOKIE = "labelport_session"
LOGIN_CSRF_COOKIE = "labelport_signin_csrf"
SESSION_SECONDS = 7 * 24 * 3600
TOKEN_SECONDS = 24 * 3600


@dataclass(frozen=True)
class WebSession:
    """Who is signed in: every project of the server (a token link) or one (an API key)."""

    all_projects: bool
    project_id: int | None
    csrf: str
    expires: float
    who: str  # shown in the header: "sign-in link" or the key's client id

    def may_see(self, project_id: int) -> bool:
        return self.all_projects or self.project_id == project_id


class SignInTokens:
    """One-time tokens, kept hashed; thread-safe (the CLI issues, request threads redeem)."""

    def __init__(self) -> None:
        self._hashes: dict[bytes, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _hash(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def issue(self, ttl: float = TOKEN_SECONDS) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            # Expired tokens are dropped here so that the table cannot grow without bound.
            self._hashes = {h: t for h, t in self._hashes.items() if t > now}
            self._hashes[self._hash(token)] = now + ttl
        return token

    def redeem(self, token: str) -> bool:
        """True once for a token that was issued and has not expired; False ever after."""
        if not token or len(token) > 200:
            return False
        with self._lock:
            expires = self._hashes.pop(self._hash(token), None)
        return expires is not None and expires > time.time()


class CookieSigner:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, body: bytes) -> str:
        digest = hmac.new(self._key, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def dump(self, session: WebSession) -> str:
        data = {
            "a": session.all_projects,
            "p": session.project_id,
            "c": session.csrf,
            "e": session.expires,
            "w": session.who,
        }
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        body = body.rstrip(b"=")
        return f"{body.decode()}.{self._mac(body)}"

    def load(self, cookie: str | None) -> WebSession | None:
        """The session in a cookie whose signature holds and that has not expired, else None."""
        if not cookie or "." not in cookie or len(cookie) > 4096:
            return None
        body_text, mac = cookie.rsplit(".", 1)
        body = body_text.encode()
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
            session = WebSession(
                all_projects=bool(data["a"]),
                project_id=None if data["p"] is None else int(data["p"]),
                csrf=str(data["c"]),
                expires=float(data["e"]),
                who=str(data["w"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None


def new_session(*, all_projects: bool, project_id: int | None, who: str) -> WebSession:
    return WebSession(
        all_projects=all_projects,
        project_id=project_id,
        csrf=secrets.token_urlsafe(24),
        expires=time.time() + SESSION_SECONDS,
        who=who,
    )


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))
