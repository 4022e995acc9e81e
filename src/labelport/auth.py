"""API key secrets: generated here, shown once, stored only as a salted scrypt hash.

Also the guard in front of the scrypt: a limit on failed sign-ins per client id and per remote
address (`FailureLimiter`), shared by every way in (HTTP Basic, the compat routes, /ui sign-in).
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
from typing import Any, TypeVar

from labelport.errors import LabelportError

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


# -- failed sign-ins ----------------------------------------------------------------------------

MAX_FAILURES_ENV = "LABELPORT_AUTH_MAX_FAILURES"
FAILURE_WINDOW_ENV = "LABELPORT_AUTH_FAILURE_WINDOW"


class TooManyFailures(LabelportError):
    """Too many failed sign-ins for this client id or from this address: answered 429."""

    code = "auth.too_many_failures"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            "too many failed sign-ins for this client id or from this address;"
            f" retry in {retry_after} s"
        )


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

    State is in this process's memory: each API server counts on its own, and a restart forgets.
    `max_keys` bounds that memory; beyond it the least recently touched key is forgotten.
    `max_failures <= 0` turns the limit off.
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
        return cls(max_failures, window)

    @staticmethod
    def keys_for(client_id: str, remote: str | None) -> tuple[bytes, ...]:
        # Hashed: a caller picks the client id, and a megabyte of it must not be kept.
        def h(kind: str, value: str) -> bytes:
            return hashlib.sha256(f"{kind}\0{value}".encode(errors="surrogatepass")).digest()

        by_id = h("client_id", client_id)
        return (by_id,) if remote is None else (by_id, h("remote", remote))

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

    def begin(self, keys: tuple[bytes, ...]) -> None:
        """Count one attempt against each key, or raise TooManyFailures if any is at its limit."""
        if self.max_failures <= 0:
            return
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


T = TypeVar("T")


def limited(
    limiter: FailureLimiter,
    check: Callable[[str, str], T | None],
    client_id: str,
    client_secret: str,
    remote: str | None,
) -> T | None:
    """`check(client_id, client_secret)` (the scrypt) only within the limit; None counts as a
    failure. Raises TooManyFailures, before any scrypt, when the limit is reached."""
    keys = FailureLimiter.keys_for(client_id, remote)
    limiter.begin(keys)
    found: T | None = None
    failed = False
    try:
        found = check(client_id, client_secret)
        failed = found is None
        return found
    finally:
        # An error (the database gone) is nobody's wrong guess: forgiven, not counted.
        limiter.end(keys, failed=failed)


_limiters: weakref.WeakKeyDictionary[Any, FailureLimiter] = weakref.WeakKeyDictionary()
# Services that cannot be weakly referenced (None, for an app built only for its schema): kept.
_kept: dict[int, tuple[Any, FailureLimiter]] = {}
_limiters_lock = threading.Lock()


def _register(service: Any, limiter: FailureLimiter) -> None:
    try:
        _limiters[service] = limiter
    except TypeError:
        _kept[id(service)] = (service, limiter)


def limiter_for(service: Any) -> FailureLimiter:
    """The one limiter of a service, shared by the API and the /ui sign-in form, so using both
    does not double an attacker's budget. Made from the environment on first use."""
    with _limiters_lock:
        try:
            found = _limiters.get(service)
        except TypeError:
            kept = _kept.get(id(service))
            found = kept[1] if kept is not None else None
        if found is None:
            found = FailureLimiter.from_environment()
            _register(service, found)
        return found


def use_limiter(service: Any, limiter: FailureLimiter) -> None:
    """Replace the service's limiter (tests: one with a fake clock)."""
    with _limiters_lock:
        _register(service, limiter)
