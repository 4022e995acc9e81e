"""The /ui pages' sessions and one-time sign-in tokens (web/sessions.py hashes; this stores).

Every server over the same database shares them: a link printed by one server signs in on any
other, a session made on one works on all, and a restart keeps them. Only SHA-256 hashes of the
random tokens are given to these methods, so the tables alone sign no one in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.coltypes import utcnow
from labelport.store.records import WebSession, from_row


class SessionsMixin(StoreBase):
    # -- one-time sign-in tokens ----------------------------------------------------------

    def create_signin_token(
        self, token_hash: str, expires_at: datetime, *, now: datetime | None = None
    ) -> None:
        now = now or utcnow()
        tok = t.web_signin_token
        with self._write() as conn:
            # Expired tokens go here, so that the table cannot grow without bound.
            conn.execute(delete(tok).where(tok.c.expires_at <= now))
            conn.execute(insert(tok).values(id=token_hash, created_at=now, expires_at=expires_at))

    def _use_signin_token(self, conn: Connection, token_hash: str, now: datetime) -> bool:
        tok = t.web_signin_token
        # One DELETE decides: of two servers redeeming the same token at once, the row lock
        # (PostgreSQL) or the write lock (SQLite) lets exactly one of them delete the row.
        gone = conn.execute(
            delete(tok).where(tok.c.id == token_hash, tok.c.expires_at > now)
        ).rowcount
        return gone == 1

    def signin_token_live(self, token_hash: str, *, now: datetime | None = None) -> bool:
        """Whether the token exists and has not expired; reading uses nothing up."""
        tok = t.web_signin_token
        q = select(tok.c.id).where(tok.c.id == token_hash, tok.c.expires_at > (now or utcnow()))
        with self._read() as conn:
            return conn.execute(q).first() is not None

    # -- sessions -------------------------------------------------------------------------

    def create_web_session(
        self,
        session_hash: str,
        *,
        project_id: int | None,
        principal: str,
        csrf: str,
        expires_at: datetime,
        signin_token_hash: str | None = None,
        user_id: int | None = None,
        role: str | None = None,
        now: datetime | None = None,
    ) -> WebSession | None:
        """A session for one project, or for every project when `project_id` is None; a user
        account's when `user_id` is given (then `project_id` is None and what it sees is its
        memberships, read on every request). `role`: a key's role in its project.

        With `signin_token_hash` the token is used up in the same transaction: None (and no
        session) when it is unknown, used or expired, and a failed insert leaves it unused.
        """
        now = now or utcnow()
        s = t.web_session
        with self._write() as conn:
            if signin_token_hash is not None and not self._use_signin_token(
                conn, signin_token_hash, now
            ):
                return None
            # Sessions past their expiry are of no use, revoked or not: dropped here.
            conn.execute(delete(s).where(s.c.expires_at <= now))
            row = conn.execute(
                insert(s)
                .values(
                    id=session_hash,
                    project_id=project_id,
                    all_projects=project_id is None and user_id is None,
                    user_id=user_id,
                    role=role,
                    principal=principal,
                    csrf=csrf,
                    created_at=now,
                    expires_at=expires_at,
                    revoked_at=None,
                )
                .returning(*s.c)
            ).one()
        return from_row(WebSession, row)

    def get_web_session(
        self, session_hash: str, *, now: datetime | None = None
    ) -> WebSession | None:
        """The session if it exists, has not expired and was not revoked; else None."""
        s = t.web_session
        q = select(s).where(
            s.c.id == session_hash, s.c.expires_at > (now or utcnow()), s.c.revoked_at.is_(None)
        )
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else from_row(WebSession, row)

    def revoke_web_session(self, session_hash: str, *, now: datetime | None = None) -> bool:
        """End a session on every server at once; False if it was not live."""
        s = t.web_session
        with self._write() as conn:
            done = conn.execute(
                update(s)
                .where(s.c.id == session_hash, s.c.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            ).rowcount
        return done == 1

    def revoke_user_sessions(self, user_id: int, *, now: datetime | None = None) -> int:
        """End every live session of a user account (disabled, or its password changed)."""
        s = t.web_session
        with self._write() as conn:
            return conn.execute(
                update(s)
                .where(s.c.user_id == user_id, s.c.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            ).rowcount
