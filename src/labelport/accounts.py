"""User accounts: people who sign in to the pages (and, if they like, the API) with an email and
a password, and their role in each project they belong to.

Roles are an API key's (viewer, editor, admin) and are checked by the same code
(api/auth.py `Principal.may`); an account sees only the projects it is a member of. Passwords
are hashed by `auth.hash_password` (scrypt, per-account salt, parameters kept with the hash) and
never logged, printed or kept in clear.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labelport import auth
from labelport.errors import Conflict, Invalid, NotFound
from labelport.store import errors as store_errors
from labelport.store.users import Membership, User

if TYPE_CHECKING:
    from labelport.store import Store

MAX_EMAIL = 320
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def check_email(email: str) -> str:
    """The email, stripped; Invalid if it is not one."""
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise Invalid(f"{email[:80]!r} is not an email address (name@host)")
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in email):
        raise Invalid("an email address cannot hold control characters")
    return email


def check_password(password: str) -> str:
    problem = auth.password_problem(password)
    if problem is not None:
        raise Invalid(problem)
    return password


@dataclass(frozen=True)
class SignedIn:
    """Who signed in with a password: an account, never its hash."""

    user_id: int
    email: str
    password_hash: str = field(default="", repr=False)  # which hash it matched (never the password)


class Accounts:
    """The accounts of one store (a Service's `store`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- accounts -------------------------------------------------------------------------

    def create(self, email: str, password: str) -> dict[str, Any]:
        email = check_email(email)
        check_password(password)
        if self.store.get_user_by_email(email) is not None:
            raise Conflict(f"an account for {email} already exists", code="user.exists")
        try:
            user = self.store.create_user(email, auth.hash_password(password))
        except store_errors.Conflict:  # created meanwhile by someone else
            raise Conflict(f"an account for {email} already exists", code="user.exists") from None
        return self._public(user)

    def get(self, email: str) -> User:
        user = self.store.get_user_by_email(email)
        if user is None:
            raise NotFound(f"no account for {email.strip()[:80]}", code="user.not_found")
        return user

    def everyone(self) -> list[dict[str, Any]]:
        return [
            self._public(user, self.store.memberships(user.id)) for user in self.store.list_users()
        ]

    def set_password(self, email: str, password: str) -> None:
        """A new password; every session of the account ends (on every server)."""
        user = self.get(email)
        check_password(password)
        self.store.update_user(user.id, password_hash=auth.hash_password(password))
        self.store.revoke_user_sessions(user.id)

    def set_disabled(self, email: str, disabled: bool) -> dict[str, Any]:
        """A disabled account cannot sign in, and its sessions end at once."""
        user = self.store.update_user(self.get(email).id, disabled=disabled)
        if disabled:
            self.store.revoke_user_sessions(user.id)
        return self._public(user)

    # -- memberships ----------------------------------------------------------------------

    def grant(self, email: str, project_string_id: str, role: str) -> dict[str, Any]:
        if role not in auth.ROLES:
            raise Invalid(f"role must be one of {', '.join(auth.ROLES)}, not {role!r}")
        user = self.get(email)
        project = self._project(project_string_id)
        self.store.grant(user.id, project.id, role)
        return {"email": user.email, "project": project.string_id, "role": role}

    def revoke(self, email: str, project_string_id: str) -> bool:
        """End the account's membership of the project (its open pages of it stop at once)."""
        user = self.get(email)
        return bool(self.store.revoke(user.id, self._project(project_string_id).id))

    def memberships(self, user_id: int) -> builtins.list[Membership]:
        return list(self.store.memberships(user_id))

    def _project(self, string_id: str) -> Any:
        try:
            return self.store.get_project_by_string_id(string_id)
        except store_errors.NotFound:
            raise NotFound(f"project {string_id!r} not found") from None

    # -- signing in -----------------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> SignedIn | None:
        """The account if `password` is its password and it is not disabled; else None. An
        unknown or disabled account costs the same scrypt as a wrong password."""
        user = self.store.get_user_by_email(email) if len(email) <= MAX_EMAIL else None
        ok = auth.verify_password(password, user.password_hash if user is not None else None)
        if not ok or user is None or user.disabled:
            return None
        return SignedIn(user_id=user.id, email=user.email, password_hash=user.password_hash)

    @staticmethod
    def _public(user: User, memberships: builtins.list[Membership] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": user.id,
            "email": user.email,
            "created_at": user.created_at.isoformat(),
            "disabled": user.disabled,
        }
        if memberships is not None:
            out["projects"] = [
                {"project": m.project_string_id, "name": m.project_name, "role": m.role}
                for m in memberships
            ]
        return out
