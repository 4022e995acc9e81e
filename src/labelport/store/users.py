"""User accounts, their memberships in projects, and the shared count of sign-in attempts.

Passwords arrive here already hashed (auth.hash_password); emails are looked up by their
lower-case form (`email_key`), so one address is one account whatever its capitals.

The attempt counter backs auth.DatabaseLimiter: every server over the database counts failed
sign-ins in the same rows, so a limit of 10 per minute is 10 per minute for the deployment, not
10 per server. On PostgreSQL a transaction-scoped advisory lock per counted key serialises the
check-and-count of concurrent attempts; SQLite's write lock already does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, text, update

from labelport.store import tables as t
from labelport.store.base import StoreBase
from labelport.store.coltypes import utcnow
from labelport.store.errors import NotFound
from labelport.store.records import from_row


def email_key(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    password_hash: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True, slots=True)
class Membership:
    user_id: int
    project_id: int
    project_string_id: str
    project_name: str
    role: str


class UsersMixin(StoreBase):
    # -- accounts -------------------------------------------------------------------------

    def create_user(self, email: str, password_hash: str, *, now: datetime | None = None) -> User:
        """A new account; Conflict if the email (in any capitals) already has one."""
        u = t.user_account
        with self._write() as conn:
            row = conn.execute(
                insert(u)
                .values(
                    email=email.strip(),
                    email_key=email_key(email),
                    password_hash=password_hash,
                    created_at=now or utcnow(),
                    disabled=False,
                )
                .returning(*u.c)
            ).one()
        return from_row(User, row)

    def get_user_by_email(self, email: str) -> User | None:
        u = t.user_account
        with self._read() as conn:
            row = conn.execute(select(u).where(u.c.email_key == email_key(email))).first()
        return None if row is None else from_row(User, row)

    def get_user(self, user_id: int) -> User:
        u = t.user_account
        with self._read() as conn:
            row = conn.execute(select(u).where(u.c.id == user_id)).first()
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return from_row(User, row)

    def list_users(self) -> list[User]:
        u = t.user_account
        with self._read() as conn:
            rows = conn.execute(select(u).order_by(u.c.email_key)).all()
        return [from_row(User, r) for r in rows]

    def update_user(
        self, user_id: int, *, password_hash: str | None = None, disabled: bool | None = None
    ) -> User:
        u = t.user_account
        values: dict[str, object] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled"] = disabled
        with self._write() as conn:
            row = conn.execute(
                update(u).where(u.c.id == user_id).values(**values).returning(*u.c)
            ).first()
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return from_row(User, row)

    # -- memberships ----------------------------------------------------------------------

    def grant(
        self, user_id: int, project_id: int, role: str, *, now: datetime | None = None
    ) -> None:
        """Make the user a member of the project with `role` (replacing a role it had)."""
        m = t.membership
        with self._write() as conn:
            done = conn.execute(
                update(m)
                .where(m.c.user_id == user_id, m.c.project_id == project_id)
                .values(role=role)
            ).rowcount
            if not done:
                conn.execute(
                    insert(m).values(
                        user_id=user_id,
                        project_id=project_id,
                        role=role,
                        created_at=now or utcnow(),
                    )
                )

    def revoke(self, user_id: int, project_id: int) -> bool:
        """End a membership; False if there was none."""
        m = t.membership
        with self._write() as conn:
            gone = conn.execute(
                delete(m).where(m.c.user_id == user_id, m.c.project_id == project_id)
            ).rowcount
        return gone == 1

    def memberships(self, user_id: int) -> list[Membership]:
        """The user's projects with its role in each, by project name."""
        m, p = t.membership, t.project
        q = (
            select(
                m.c.user_id,
                m.c.project_id,
                p.c.string_id.label("project_string_id"),
                p.c.name.label("project_name"),
                m.c.role,
            )
            .join(p, p.c.id == m.c.project_id)
            .where(m.c.user_id == user_id)
            .order_by(func.lower(p.c.name), p.c.id)
        )
        with self._read() as conn:
            return [from_row(Membership, r) for r in conn.execute(q).all()]

    def account_in_project(self, user_id: int, project_id: int) -> tuple[User, str | None] | None:
        """The account as it is now and its role in the project (None: not a member), in one
        query; None if the account is gone."""
        u, m = t.user_account, t.membership
        q = (
            select(u, m.c.role)
            .select_from(u.outerjoin(m, (m.c.user_id == u.c.id) & (m.c.project_id == project_id)))
            .where(u.c.id == user_id)
        )
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else (from_row(User, row), row.role)

    # -- the shared count of sign-in attempts ---------------------------------------------

    def _relaxed(self, conn: Connection) -> None:
        if self.dialect == "postgresql":
            # A count of sign-in attempts need not wait for the disk: a crash may forget the
            # last few milliseconds of attempts, never break anything (~10 ms less per commit).
            conn.execute(text("SET LOCAL synchronous_commit TO OFF"))

    def _lock_keys(self, conn: Connection, key_hashes: list[str]) -> None:
        if self.dialect != "postgresql":
            return  # SQLite: the write transaction already holds the database's write lock
        for key in sorted(set(key_hashes)):  # one order everywhere: no deadlock
            # 60 bits of the SHA-256 as the lock's bigint key; released at commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(key[:15], 16)})

    def begin_auth_attempt(
        self, key_hashes: list[str], *, now: float, window: float, max_failures: int
    ) -> list[int] | float:
        """Count one attempt against each key, or say how long to wait (seconds, > 0) when one
        of them is at its limit. Returns the attempt rows' ids for `end_auth_attempt`."""
        a = t.auth_attempt
        horizon = now - window
        with self._write() as conn:
            self._relaxed(conn)
            self._lock_keys(conn, key_hashes)
            # Attempts older than the window count for nothing: dropped, so the table stays small.
            conn.execute(delete(a).where(a.c.at <= horizon))
            wait = 0.0
            for key in key_hashes:
                rows = conn.execute(
                    select(a.c.at, a.c.pending)
                    .where(a.c.key_hash == key, a.c.at > horizon)
                    .order_by(a.c.at)
                ).all()
                failures = [r.at for r in rows if not r.pending]
                pending = len(rows) - len(failures)
                if len(failures) >= max_failures:
                    # Free again when enough of the oldest failures leave the window.
                    oldest = failures[len(failures) - max_failures]
                    wait = max(wait, oldest + window - now)
                elif len(failures) + pending >= max_failures:
                    wait = max(wait, 1.0)  # checks running now decide it in milliseconds
            if wait > 0:
                return wait
            ids: list[int] = []
            for key in key_hashes:
                ids.append(
                    conn.execute(
                        insert(a).values(key_hash=key, at=now, pending=True).returning(a.c.id)
                    ).scalar_one()
                )
            return ids

    def end_auth_attempt(self, ids: list[int], *, failed: bool, now: float) -> None:
        """The attempt is over: kept as a failure at `now`, or forgiven (deleted)."""
        if not ids:
            return
        a = t.auth_attempt
        with self._write() as conn:
            self._relaxed(conn)
            if failed:
                conn.execute(update(a).where(a.c.id.in_(ids)).values(pending=False, at=now))
            else:
                conn.execute(delete(a).where(a.c.id.in_(ids)))

    def clear_auth_attempts(self) -> None:
        with self._write() as conn:
            conn.execute(delete(t.auth_attempt))
