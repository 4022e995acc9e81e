"""Signing in to the pages: one-time sign-in tokens, server-side sessions, CSRF tokens.

`labelport serve` prints a link with a random token (like Jupyter). Redeeming it once turns it
into a session and deletes it, so a link copied from a terminal's scrollback later is worthless.
An API key (client id + secret) signs in too, to its own project only.

The session cookie is a random token; the database keeps only its SHA-256 (store/sessions.py),
as it does for the sign-in tokens. So every API server over the same database knows every
session and link (the scale-out of docs/deploy.md), a restart signs no one out, and signing out
revokes the session everywhere at once, whoever still holds a copy of the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from labelport.store.coltypes import utcnow
from labelport.store.records import WebSession as SessionRow

COOKIE = "labelport_session"
LOGIN_CSRF_COOKIE = "labelport_signin_csrf"
SESSION_SECONDS = 7 * 24 * 3600
TOKEN_SECONDS = 24 * 3600
_MAX_TOKEN = 200  # ours are 43 characters; anything much longer is not worth a hash or a query


@dataclass(frozen=True)
class WebSession:
    """Who is signed in: every project of the server (a token link) or one (an API key)."""

    all_projects: bool
    project_id: int | None
    csrf: str
    expires: datetime
    who: str  # shown in the header: "sign-in link" or the key's client id

    def may_see(self, project_id: int) -> bool:
        return self.all_projects or self.project_id == project_id


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _plausible(token: str | None) -> bool:
    return bool(token) and len(token or "") <= _MAX_TOKEN


def _from_row(row: SessionRow) -> WebSession:
    return WebSession(
        all_projects=row.all_projects,
        project_id=row.project_id,
        csrf=row.csrf,
        expires=row.expires_at,
        who=row.principal,
    )


class Sessions:
    """Sign-in tokens and sessions of one app, kept in its service's database."""

    def __init__(self, service: Any) -> None:
        # The service, not its store: an app may be built before it has one (the schema).
        self._service = service

    @property
    def _store(self) -> Any:
        return self._service.store

    def issue_token(self, ttl: float = TOKEN_SECONDS) -> str:
        """A new one-time sign-in token; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        self._store.create_signin_token(token_hash(token), now + timedelta(seconds=ttl), now=now)
        return token

    def start(self, *, project_id: int | None, who: str) -> tuple[str, WebSession]:
        """A new session: (cookie value, session). For every project when `project_id` is None."""
        started = self._create(project_id=project_id, who=who, signin_token_hash=None)
        if started is None:  # only a sign-in token can make the store refuse
            raise RuntimeError("the store refused a session that needs no sign-in token")
        return started

    def redeem(self, signin_token: str | None) -> tuple[str, WebSession] | None:
        """A session for every project if `signin_token` is redeemed now (once, in the same
        transaction); None when it was already used, has expired or never existed."""
        if not _plausible(signin_token):
            return None
        return self._create(
            project_id=None, who="sign-in link", signin_token_hash=token_hash(str(signin_token))
        )

    def _create(
        self, *, project_id: int | None, who: str, signin_token_hash: str | None
    ) -> tuple[str, WebSession] | None:
        cookie = secrets.token_urlsafe(32)
        now = utcnow()
        row = self._store.create_web_session(
            token_hash(cookie),
            project_id=project_id,
            principal=who,
            csrf=secrets.token_urlsafe(24),
            expires_at=now + timedelta(seconds=SESSION_SECONDS),
            signin_token_hash=signin_token_hash,
            now=now,
        )
        return None if row is None else (cookie, _from_row(row))

    def load(self, cookie: str | None) -> WebSession | None:
        """The live session of a cookie: None if unknown, expired or signed out."""
        if not _plausible(cookie):
            return None
        row = self._store.get_web_session(token_hash(str(cookie)))
        return None if row is None else _from_row(row)

    def revoke(self, cookie: str | None) -> bool:
        if not _plausible(cookie):
            return False
        return bool(self._store.revoke_web_session(token_hash(str(cookie))))


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))
