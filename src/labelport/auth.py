"""API key secrets and user passwords: stored only as salted scrypt hashes.

Also the guard in front of the scrypt: a limit on failed sign-ins per client id (or account) and
per remote address, shared by every way in (HTTP Basic, the compat routes, /ui sign-in). A
Service's limit is counted in its database (`DatabaseLimiter`), so every server of a scale-out
shares one count; `FailureLimiter` is the in-memory one (an app without a service, tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from labelport.errors import Forbidden, LabelportError

if TYPE_CHECKING:
    from labelport.service import Service

ROLES = ("admin", "editor", "viewer")
_RANK = {"viewer": 0, "editor": 1, "admin": 2}


def role_at_least(have: str, need: str) -> bool:
    """The one role check, for keys, accounts and web sessions alike."""
    return _RANK.get(have, -1) >= _RANK[need]


class NotAMember(Forbidden):
    """An account that is not a member of the (existing) project it named."""

    code = "auth.not_a_member"


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


_dummy_lock = threading.Lock()
_dummy: list[str] = []


def dummy_hash() -> str:
    """A hash no secret matches, made once per process (on first use: importing stays cheap).

    Checking a secret of an unknown client id against it costs the same scrypt as a wrong
    secret of a real one, so answer times do not tell which client ids exist.
    """
    with _dummy_lock:
        if not _dummy:
            _dummy.append(hash_secret(secrets.token_urlsafe(32)))
        return _dummy[0]


def _parse(stored: str) -> tuple[bytes, bytes] | None:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return None
        salt = base64.b64decode(salt_b64, validate=True)
        return salt, base64.b64decode(digest_b64, validate=True)
    except ValueError:
        return None


def _dummy_parts() -> tuple[bytes, bytes]:
    parsed = _parse(dummy_hash())
    assert parsed is not None  # made by hash_secret above
    return parsed


def verify_secret(secret: str, stored: str | None) -> bool:
    """Whether `secret` matches `stored`. None (no such key) or an unreadable hash is False
    after the same work as a wrong secret."""
    parsed = _parse(stored) if stored is not None else None
    known = parsed is not None
    salt, expected = parsed if parsed is not None else _dummy_parts()
    digest = hashlib.scrypt(
        secret.encode(errors="surrogatepass"), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected)
    )
    return hmac.compare_digest(digest, expected) and known


# -- user passwords -----------------------------------------------------------------------------

# A person's password has far less entropy than a key's 256-bit secret: twice the work of a key
# check (32 MB, ~0.1-0.2 s here). The parameters are stored with each hash, so raising them later
# leaves existing passwords readable.
PASSWORD_N, PASSWORD_R, PASSWORD_P = 2**15, 8, 1
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # a megabyte "password" must not cost a megabyte of hashing per guess
# Bounds on the parameters read back from a row: a tampered hash must not make one check take
# a gigabyte of memory.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def _maxmem(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2) + (1 << 20)


def _encode_password(password: str) -> bytes:
    return password.encode("utf-8", errors="surrogatepass")


def hash_password(
    password: str, *, n: int = PASSWORD_N, r: int = PASSWORD_R, p: int = PASSWORD_P
) -> str:
    """`scrypt$n$r$p$salt$digest` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        _encode_password(password), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=_maxmem(n, r, p)
    )
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_password(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n_s, r_s, p_s, salt_b64, digest_b64 = stored.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        if scheme != "scrypt" or not (1 < n <= _MAX_N and n & (n - 1) == 0):
            return None
        if not (0 < r <= _MAX_R and 0 < p <= _MAX_P):
            return None
        salt = base64.b64decode(salt_b64, validate=True)
        digest = base64.b64decode(digest_b64, validate=True)
        return (n, r, p, salt, digest) if salt and digest else None
    except ValueError:
        return None


_dummy_password: list[str] = []


def _dummy_password_parts() -> tuple[int, int, int, bytes, bytes]:
    with _dummy_lock:
        if not _dummy_password:
            _dummy_password.append(hash_password(secrets.token_urlsafe(32)))
        parsed = _parse_password(_dummy_password[0])
    assert parsed is not None  # made by hash_password above
    return parsed


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored` (hash_password's). None (no such account) or an
    unreadable hash is False after the same work as a wrong password; digests are compared in
    constant time."""
    parsed = _parse_password(stored) if stored is not None else None
    known = parsed is not None
    n, r, p, salt, expected = parsed if parsed is not None else _dummy_password_parts()
    digest = hashlib.scrypt(
        _encode_password(password[:MAX_PASSWORD]),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(expected),
        maxmem=_maxmem(n, r, p),
    )
    return hmac.compare_digest(digest, expected) and known and len(password) <= MAX_PASSWORD


def password_problem(password: str) -> str | None:
    """Why `password` cannot be an account's password, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    if not password.strip():
        return "a password cannot be only spaces"
    return None


# -- failed sign-ins ----------------------------------------------------------------------------

MAX_FAILURES_ENV = "LABELPORT_AUTH_MAX_FAILURES"
FAILURE_WINDOW_ENV = "LABELPORT_AUTH_FAILURE_WINDOW"


class TooManyFailures(LabelportError):
    """Too many failed sign-ins for this client id (or account) or from this address: 429."""

    code = "auth.too_many_failures"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            "too many failed sign-ins for this client id or account, or from this address;"
            f" retry in {retry_after} s"
        )


def _settings_from_environment() -> tuple[int, float]:
    raw_max = os.environ.get(MAX_FAILURES_ENV, "").strip() or "10"
    raw_window = os.environ.get(FAILURE_WINDOW_ENV, "").strip() or "60"
    try:
        max_failures, window = int(raw_max), float(raw_window)
    except ValueError:
        raise ValueError(
            f"{MAX_FAILURES_ENV}={raw_max!r} / {FAILURE_WINDOW_ENV}={raw_window!r}:"
            " a whole number of failures and a number of seconds"
        ) from None
    if not math.isfinite(window) or window <= 0:
        raise ValueError(f"{FAILURE_WINDOW_ENV}={raw_window!r}: more than 0 seconds")
    return max_failures, window


def _hashed(kind: str, value: str) -> bytes:
    # Hashed: a caller picks the client id, and a megabyte of it must not be kept.
    return hashlib.sha256(f"{kind}\0{value}".encode(errors="surrogatepass")).digest()


@dataclass
class _Window:
    failures: deque[float] = field(default_factory=deque)  # clock times, oldest first
    pending: int = 0  # checks running now, each counted as a failure until it succeeds


class FailureLimiter:
    """At most `max_failures` failed sign-ins in any `window` seconds per key (a sliding window).

    A check is counted before its scrypt runs and forgiven when it succeeds, so concurrent
    guesses cannot slip past the limit, and a refused attempt costs no scrypt at all. Refused
    attempts are not failures: waiting out Retry-After is enough. A success does not reset the
    count (or one valid key of one's own would reset an address's budget for guessing others').

    State is in this process's memory: each API server counts on its own, and a restart forgets
    (a Service counts in its database instead: `DatabaseLimiter`). `max_keys` bounds that memory;
    beyond it the least recently touched key is forgotten. `max_failures <= 0` turns it off.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window {window!r}: must be more than 0 seconds")
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._keys: OrderedDict[bytes, _Window] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> FailureLimiter:
        """Settings from $LABELPORT_AUTH_MAX_FAILURES (10) and $LABELPORT_AUTH_FAILURE_WINDOW
        (60 seconds), so every server of a scale-out reads the same."""
        return cls(*_settings_from_environment())

    @staticmethod
    def keys_for(
        client_id: str, remote: str | None, *, kind: str = "client_id"
    ) -> tuple[bytes, ...]:
        """The counted keys of one attempt: the client id (kind "client_id") or the account
        (kind "account", its lower-case email), and the remote address when known."""
        by_id = _hashed(kind, client_id)
        return (by_id,) if remote is None else (by_id, _hashed("remote", remote))

    def _window(self, key: bytes, now: float) -> _Window:
        w = self._keys.get(key)
        if w is None:
            w = self._keys[key] = _Window()
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        horizon = now - self.window
        while w.failures and w.failures[0] <= horizon:
            w.failures.popleft()
        return w

    def begin(self, keys: tuple[bytes, ...]) -> Any:
        """Count one attempt against each key, or raise TooManyFailures if any is at its limit.
        Returns the handle to give `end`."""
        if self.max_failures <= 0:
            return keys
        with self._lock:
            now = self._clock()
            windows = [self._window(k, now) for k in keys]
            wait = 0.0
            for w in windows:
                if len(w.failures) >= self.max_failures:
                    # Free again when enough of the oldest failures leave the window.
                    oldest = w.failures[len(w.failures) - self.max_failures]
                    wait = max(wait, oldest + self.window - now)
                elif len(w.failures) + w.pending >= self.max_failures:
                    wait = max(wait, 1.0)  # checks running now decide it in milliseconds
            if wait > 0:
                raise TooManyFailures(max(1, math.ceil(wait)))
            for w in windows:
                w.pending += 1
        return keys

    def end(self, keys: tuple[bytes, ...], *, failed: bool) -> None:
        """The attempt `begin` counted is over: keep it as a failure, or forgive it."""
        if self.max_failures <= 0:
            return
        with self._lock:
            now = self._clock()
            for k in keys:
                w = self._keys.get(k)
                if w is None:  # forgotten under memory pressure meanwhile
                    continue
                w.pending = max(0, w.pending - 1)
                if failed:
                    w.failures.append(now)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


class DatabaseLimiter:
    """The same limit as `FailureLimiter`, counted in the service's database (store/users.py,
    table auth_attempt): every server over one database shares the count, so N servers do not
    allow N times the failures, and a restart forgets nothing. Same rules: an attempt counts
    before its scrypt and is forgiven when it succeeds; a refused attempt costs no scrypt.

    `clock`: seconds since the epoch, as every server sees it (their clocks must roughly agree).
    """

    def __init__(
        self,
        service: Service,
        max_failures: int = 10,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window {window!r}: must be more than 0 seconds")
        self._service = service  # its store is read late: an app may be built before it has one
        self.max_failures = max_failures
        self.window = window
        self._clock = clock

    @classmethod
    def from_environment(cls, service: Service) -> DatabaseLimiter:
        return cls(service, *_settings_from_environment())

    keys_for = staticmethod(FailureLimiter.keys_for)

    def begin(self, keys: tuple[bytes, ...]) -> Any:
        if self.max_failures <= 0:
            return []
        outcome = self._service.store.begin_auth_attempt(
            [k.hex() for k in keys],
            now=self._clock(),
            window=self.window,
            max_failures=self.max_failures,
        )
        if isinstance(outcome, float):
            raise TooManyFailures(max(1, math.ceil(outcome)))
        return outcome

    def end(self, handle: Any, *, failed: bool) -> None:
        if self.max_failures <= 0 or not handle:
            return
        self._service.store.end_auth_attempt(list(handle), failed=failed, now=self._clock())

    def clear(self) -> None:
        self._service.store.clear_auth_attempts()


Limiter = FailureLimiter | DatabaseLimiter

T = TypeVar("T")


def limited(
    limiter: Limiter,
    check: Callable[[str, str], T | None],
    client_id: str,
    client_secret: str,
    remote: str | None,
    *,
    kind: str = "client_id",
) -> T | None:
    """`check(client_id, client_secret)` (the scrypt) only within the limit; None counts as a
    failure. Raises TooManyFailures, before any scrypt, when the limit is reached.
    kind "account": `client_id` is an account's email, counted by its lower-case form."""
    counted = client_id.strip().lower() if kind == "account" else client_id
    keys = FailureLimiter.keys_for(counted, remote, kind=kind)
    handle = limiter.begin(keys)
    found: T | None = None
    failed = False
    try:
        found = check(client_id, client_secret)
        failed = found is None
        return found
    finally:
        # An error (the database gone) is nobody's wrong guess: forgiven, not counted.
        limiter.end(handle, failed=failed)


_limiters: weakref.WeakKeyDictionary[Any, Limiter] = weakref.WeakKeyDictionary()
# Services that cannot be weakly referenced (None, for an app built only for its schema): kept.
_kept: dict[int, tuple[Any, Limiter]] = {}
_limiters_lock = threading.Lock()


def _register(service: Service, limiter: Limiter) -> None:
    try:
        _limiters[service] = limiter
    except TypeError:
        _kept[id(service)] = (service, limiter)


def limiter_for(service: Service) -> Limiter:
    """The one limiter of a service, shared by the API and the /ui sign-in form, so using both
    does not double an attacker's budget. Made from the environment on first use: counted in
    the service's database, or in memory when there is no service (None)."""
    with _limiters_lock:
        try:
            found = _limiters.get(service)
        except TypeError:
            kept = _kept.get(id(service))
            found = kept[1] if kept is not None else None
        if found is None:
            found = (
                FailureLimiter.from_environment()
                if service is None
                else DatabaseLimiter.from_environment(service)
            )
            _register(service, found)
        return found


def use_limiter(service: Service, limiter: Limiter) -> None:
    """Replace the service's limiter (tests: one with a fake clock)."""
    with _limiters_lock:
        _register(service, limiter)
