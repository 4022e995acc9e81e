"""HTTP Basic `client_id:client_secret` (as the `diffgram` SDK sends it), scoped to one project;
or a user account's `email:password`, scoped to the projects it is a member of.

Roles nest: viewer reads; editor also imports and edits labels, attributes, directories; admin
also creates keys. An account's role in a project goes through the same checks as a key's role.
A route whose path names a project answers 404 for a key of another project, exactly as for a
project that does not exist; an account that is not a member of an existing project gets 403
`auth.not_a_member` (it is a person of this server, and is told why).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from labelport.auth import (
    FailureLimiter,
    NotAMember,
    TooManyFailures,
    limited,
    limiter_for,
    role_at_least,
)
from labelport.errors import Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from labelport.service import Service

basic_scheme = HTTPBasic(
    auto_error=False,
    realm="labelport",
    description="client_id:client_secret of a key, or email:password of a user account",
)


def password_proof(stored_hash: str) -> str:
    """A short fingerprint of an account's stored hash: a cached proof of a password holds only
    while the account keeps that hash (a new password ends it on every server at once)."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:32]


def is_account(username: str) -> bool:
    """An email signs in an account; client ids (lp_...) never hold an @."""
    return "@" in username


@dataclass(frozen=True)
class Principal:
    """Who calls: a key (its project and role), or an account. An account's principal is bound
    to one project per request (`check_project`); unbound, its role is "" and may nothing."""

    client_id: str  # a key's client id, or an account's email
    role: str
    project_id: int
    project_string_id: str
    user_id: int | None = None
    service: Any = field(default=None, compare=False, repr=False)  # an account's, to bind it
    proof: str = field(default="", repr=False)  # an account's: which stored hash it matched

    def may(self, role: str) -> bool:
        return role_at_least(self.role, role)


class _Flight:
    """One check under way; identical requests from the same address wait for its outcome."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.principal: Principal | None = None
        self.refused: TooManyFailures | None = None
        self.errored = False


class Authenticator:
    """`service.authenticate` behind a small in-memory cache and the limit on failed sign-ins.

    scrypt costs ~10 ms and 16 MB by design; a client sending many requests should pay it once
    per `ttl`. The cache key is a hash of both halves of the credentials, so a wrong secret never
    hits the entry of the right one, and the secret itself is never kept. A cache hit skips the
    limit: it proves the right secret and costs no scrypt.

    Concurrent identical requests from one address (an SDK's threads starting cold) share one
    check: one scrypt, and one attempt against the limit rather than one each.
    """

    def __init__(
        self,
        service: Service,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        limiter: FailureLimiter | None = None,
    ) -> None:
        self._service = service
        self._ttl = ttl
        self._max = max_entries
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._flights: dict[tuple[bytes, str | None], _Flight] = {}
        self._lock = threading.Lock()
        # The service's own limiter unless given one: the /ui sign-in form counts in it too.
        self.limiter = limiter if limiter is not None else limiter_for(service)

    @staticmethod
    def _key(client_id: str, client_secret: str) -> bytes:
        both = f"{client_id}\0{client_secret}".encode(errors="surrogatepass")
        return hashlib.sha256(both).digest()

    def authenticate(
        self, client_id: str, client_secret: str, remote: str | None = None
    ) -> Principal | None:
        """The key's principal, or None for an unknown client id or a wrong secret.

        remote: the caller's address, limited besides the client id (None: the client id only).
        Raises TooManyFailures (before any scrypt) when either is at its limit.
        """
        key = self._key(client_id, client_secret)
        while True:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] > time.monotonic():
                    return hit[1]
                flight = self._flights.get((key, remote))
                leading = flight is None
                if flight is None:
                    flight = self._flights[(key, remote)] = _Flight()
            if leading:
                return self._lead(flight, key, client_id, client_secret, remote)
            flight.done.wait()
            if flight.refused is not None:
                raise TooManyFailures(flight.refused.retry_after)
            if not flight.errored:
                return flight.principal
            # The leader's check broke (not a wrong secret): try again on our own.

    def _lead(
        self, flight: _Flight, key: bytes, client_id: str, client_secret: str, remote: str | None
    ) -> Principal | None:
        try:
            if is_account(client_id):
                return self._lead_account(flight, key, client_id, client_secret, remote)
            found = limited(
                self.limiter, self._service.authenticate, client_id, client_secret, remote
            )
            principal = None
            if found:
                principal = Principal(
                    client_id=found["client_id"],
                    role=found["role"],
                    project_id=int(found["project_id"]),
                    project_string_id=found["project_string_id"],
                )
            return self._settle(flight, key, principal)
        except TooManyFailures as exc:
            flight.refused = exc
            raise
        except BaseException:
            flight.errored = True
            raise
        finally:
            with self._lock:
                del self._flights[(key, remote)]
            flight.done.set()

    def _settle(self, flight: _Flight, key: bytes, principal: Principal | None) -> Principal | None:
        flight.principal = principal
        if principal is not None:
            with self._lock:
                self._cache[key] = (time.monotonic() + self._ttl, principal)
                self._cache.move_to_end(key)
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        return principal

    def _lead_account(
        self, flight: _Flight, key: bytes, email: str, password: str, remote: str | None
    ) -> Principal | None:
        # Counted per account (its lower-case email) and per address, in the same limiter.
        # Cached like a key: the password is proven; what the account may do (its memberships,
        # whether it is disabled) is read again on every request by `check_project`.
        from labelport.accounts import Accounts

        accounts = Accounts(self._service.store)
        found = limited(
            self.limiter, accounts.authenticate, email, password, remote, kind="account"
        )
        principal = None
        if found is not None:
            principal = Principal(
                client_id=found.email,
                role="",
                project_id=0,
                project_string_id="",
                user_id=found.user_id,
                service=self._service,
                proof=password_proof(found.password_hash),
            )
        return self._settle(flight, key, principal)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def current_principal(
    request: Request, credentials: HTTPBasicCredentials | None = Depends(basic_scheme)
) -> Principal:
    if credentials is None or not credentials.username:
        raise Unauthorized(
            "send HTTP Basic credentials: client_id as user, client_secret as password"
            " (or an account's email and password)"
        )
    authenticator: Authenticator = request.app.state.authenticator
    remote = request.client.host if request.client is not None else None
    principal = authenticator.authenticate(credentials.username, credentials.password, remote)
    if principal is None:
        if is_account(credentials.username):
            raise Unauthorized("unknown account or wrong password")
        raise Unauthorized("unknown client_id or wrong client_secret")
    return principal


def check_project(principal: Principal, project_string_id: str) -> Principal:
    """The principal as it stands in the project: a key's own project only (404 for any other,
    as for a project that does not exist); an account bound to the project with its role there
    (404 for a missing project, 403 `auth.not_a_member` for one it is not a member of)."""
    if principal.user_id is not None:
        return _bind_account(principal, project_string_id)
    if project_string_id != principal.project_string_id:
        # Same answer as for a project that does not exist: a key cannot probe other projects.
        raise NotFound(f"project {project_string_id!r} not found")
    return principal


def _bind_account(principal: Principal, project_string_id: str) -> Principal:
    store = principal.service.store
    try:
        project = store.get_project_by_string_id(project_string_id)
    except NotFound:
        raise NotFound(f"project {project_string_id!r} not found") from None
    found = store.account_in_project(principal.user_id, project.id)
    # The password was proven up to a minute ago (the cache): the account must still be the
    # one it was then, enabled and with the same password.
    if found is None or found[0].disabled:
        raise Unauthorized("this account is disabled")
    if principal.proof != password_proof(found[0].password_hash):
        raise Unauthorized("this account's password has changed; send the new one")
    role = found[1]
    if role is None:
        raise NotAMember(
            f"this account ({principal.client_id}) can't see project {project_string_id!r}:"
            " it is not a member"
        )
    return replace(principal, role=role, project_id=project.id, project_string_id=project.string_id)


def check_role(principal: Principal, role: str) -> None:
    if not principal.may(role):
        whose = "this account's" if principal.user_id is not None else "this key's"
        raise Forbidden(f"{whose} role is {principal.role!r}; this needs {role!r} or above")


def require(role: str) -> Callable[..., Principal]:
    """Dependency: a valid key of the project named in the path, with at least `role`."""

    def dependency(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> Principal:
        psid = request.path_params.get("project_string_id")
        if psid is not None:
            principal = check_project(principal, psid)
        check_role(principal, role)
        return principal

    return dependency


viewer = require("viewer")
editor = require("editor")
admin = require("admin")
