"""HTTP Basic `client_id:client_secret` (as the `diffgram` SDK sends it), scoped to one project.

Roles nest: viewer reads; editor also imports and edits labels, attributes, directories; admin
also creates keys. A route whose path names a project answers 404 for a key of another project,
exactly as for a project that does not exist.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from labelport.auth import FailureLimiter, TooManyFailures, limited, limiter_for
from labelport.errors import Forbidden, NotFound, Unauthorized

_RANK = {"viewer": 0, "editor": 1, "admin": 2}

basic_scheme = HTTPBasic(auto_error=False, realm="labelport", description="client_id:client_secret")


@dataclass(frozen=True)
class Principal:
    client_id: str
    role: str
    project_id: int
    project_string_id: str

    def may(self, role: str) -> bool:
        return _RANK.get(self.role, -1) >= _RANK[role]


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
        service: Any,
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
            flight.principal = principal
            if principal is not None:
                with self._lock:
                    self._cache[key] = (time.monotonic() + self._ttl, principal)
                    self._cache.move_to_end(key)
                    while len(self._cache) > self._max:
                        self._cache.popitem(last=False)
            return principal
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

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def current_principal(
    request: Request, credentials: HTTPBasicCredentials | None = Depends(basic_scheme)
) -> Principal:
    if credentials is None or not credentials.username:
        raise Unauthorized(
            "send HTTP Basic credentials: client_id as user, client_secret as password"
        )
    authenticator: Authenticator = request.app.state.authenticator
    remote = request.client.host if request.client is not None else None
    principal = authenticator.authenticate(credentials.username, credentials.password, remote)
    if principal is None:
        raise Unauthorized("unknown client_id or wrong client_secret")
    return principal


def check_project(principal: Principal, project_string_id: str) -> None:
    if project_string_id != principal.project_string_id:
        # Same answer as for a project that does not exist: a key cannot probe other projects.
        raise NotFound(f"project {project_string_id!r} not found")


def check_role(principal: Principal, role: str) -> None:
    if not principal.may(role):
        raise Forbidden(f"this key's role is {principal.role!r}; this needs {role!r} or above")


def require(role: str):
    """Dependency: a valid key of the project named in the path, with at least `role`."""

    def dependency(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> Principal:
        psid = request.path_params.get("project_string_id")
        if psid is not None:
            check_project(principal, psid)
        check_role(principal, role)
        return principal

    return dependency


viewer = require("viewer")
editor = require("editor")
admin = require("admin")
