"""Signing in to the pages: one-time sign-in tokens, server-side sessions, CSRF tokens.

`labelport serve` prints a link with a random token (like Jupyter). Opening it shows a page
with one button; only that button's POST redeems the token (once: it turns into a session and is
deleted), so a chat app's link preview that fetches the link uses nothing up. An API key (client
id + secret) signs in too, to its own project only, and so does a user account (email +
password, `labelport user create`), to the projects it is a member of with its role in each.

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
from typing import TYPE_CHECKING, Any

from labelport.auth import NotAMember, role_at_least
from labelport.store.coltypes import utcnow
from labelport.store.records import WebSession as SessionRow
from labelport.store.users import Membership

if TYPE_CHECKING:
    from labelport.service import Service

COOKIE = "labelport_session"
LOGIN_CSRF_COOKIE = "labelport_signin_csrf"
SESSION_SECONDS = 7 * 24 * 3600
TOKEN_SECONDS = 24 * 3600
_MAX_TOKEN = 200  # ours are 43 characters; anything much longer is not worth a hash or a query


@dataclass(frozen=True)
class WebSession:
    """Who is signed in: every project of the server (a token link), one (an API key), or a
    user account's projects (its memberships, read fresh with the session on every request)."""

    all_projects: bool
    project_id: int | None
    csrf: str
    expires: datetime
    who: str  # shown in the header: "sign-in link", the key's client id or the account's email
    user_id: int | None = None
    key_role: str | None = None  # a key session's role
    memberships: tuple[Membership, ...] = ()

    def may_see(self, project_id: int) -> bool:
        return self.role_in(project_id) is not None

    def role_in(self, project_id: int) -> str | None:
        """This session's role in a project (the roles and checks of API keys), or None."""
        if self.user_id is not None:
            for m in self.memberships:
                if m.project_id == project_id:
                    return m.role
            return None
        if self.all_projects:
            return "admin"  # the link `labelport serve` prints: the server's operator
        if self.project_id == project_id:
            # Sessions made before keys' roles were kept (migration 0007) read as viewers.
            return self.key_role or "viewer"
        return None

    def may(self, project_id: int, role: str) -> bool:
        found = self.role_in(project_id)
        return found is not None and role_at_least(found, role)

    def check_project(self, project_id: int, string_id: str) -> None:
        """NotAMember for an account outside the project; the caller answers 404 otherwise."""
        if self.user_id is not None and not self.may_see(project_id):
            raise NotAMember(
                f"This account ({self.who}) can't see project {string_id!r}: it is not a"
                " member. An admin of the server can add it with: labelport user grant"
                f" {self.who} {string_id} --role viewer"
            )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _plausible(token: str | None) -> bool:
    return bool(token) and len(token or "") <= _MAX_TOKEN


def _from_row(
    row: SessionRow, *, who: str | None = None, memberships: tuple[Membership, ...] = ()
) -> WebSession:
    return WebSession(
        all_projects=row.all_projects,
        project_id=row.project_id,
        csrf=row.csrf,
        expires=row.expires_at,
        who=who or row.principal,
        user_id=row.user_id,
        key_role=row.role,
        memberships=memberships,
    )


class Sessions:
    """Sign-in tokens and sessions of one app, kept in its service's database."""

    def __init__(self, service: Service) -> None:
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

    def start(
        self, *, project_id: int | None, who: str, role: str | None = None
    ) -> tuple[str, WebSession]:
        """A new session: (cookie value, session). For every project when `project_id` is None;
        `role`: an API key's role in its project."""
        started = self._create(project_id=project_id, who=who, signin_token_hash=None, role=role)
        if started is None:  # only a sign-in token can make the store refuse
            raise RuntimeError("the store refused a session that needs no sign-in token")
        return started

    def start_for_user(self, user_id: int, email: str) -> tuple[str, WebSession]:
        """A new session of a user account: it sees the account's projects, as they are."""
        started = self._create(project_id=None, who=email, signin_token_hash=None, user_id=user_id)
        if started is None:
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

    def link_is_live(self, signin_token: str | None) -> bool:
        """Whether a sign-in link's token would still sign in (without using it)."""
        if not _plausible(signin_token):
            return False
        return bool(self._store.signin_token_live(token_hash(str(signin_token))))

    def _create(
        self,
        *,
        project_id: int | None,
        who: str,
        signin_token_hash: str | None,
        role: str | None = None,
        user_id: int | None = None,
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
            role=role,
            user_id=user_id,
            now=now,
        )
        session = None if row is None else self._session(row)
        return None if session is None else (cookie, session)

    def _session(self, row: SessionRow) -> WebSession | None:
        if row.user_id is None:
            return _from_row(row)
        # An account's session: the account as it is now. A disabled account signs in nowhere,
        # and a revoked membership hides its project at once, on every server.
        user = self._store.get_user(row.user_id)
        if user.disabled:
            return None
        return _from_row(
            row, who=user.email, memberships=tuple(self._store.memberships(row.user_id))
        )

    def load(self, cookie: str | None) -> WebSession | None:
        """The live session of a cookie: None if unknown, expired or signed out."""
        if not _plausible(cookie):
            return None
        row = self._store.get_web_session(token_hash(str(cookie)))
        return None if row is None else self._session(row)

    def revoke(self, cookie: str | None) -> bool:
        if not _plausible(cookie):
            return False
        return bool(self._store.revoke_web_session(token_hash(str(cookie))))


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))
