"""Fetching media by URL, safely.

`Fetcher.fetch` is the one entry point for every ``media.url``: http(s) here, ``file://`` under
the configured local roots and ``s3://`` in `labelport.media.sources` (refused unless the
config allows them). `Fetcher.probe` probes a source with the least I/O (reference media) and
`Fetcher.open` streams it (the viewer); both live in `labelport.media.sources` too.

How the SSRF guard is enforced (see `labelport.media.guard` for *what* is refused):

1. Only ``http`` and ``https`` URLs are accepted.
2. For every request - the first one and every redirect hop, which we follow ourselves - the
   host is resolved once by `guard.resolve_checked`, and every address it resolves to must be
   public (unless ``allow_private`` or the host is in ``trusted_hosts``).
3. The request is then sent to the *checked IP address itself*: the URL's host is replaced by
   the IP, the ``Host`` header carries the original host name, and for https the TLS
   SNI/certificate check uses the original host name (httpx's ``sni_hostname`` extension), so
   certificates are still verified against the name. httpx never resolves the name again, so
   a DNS answer that changes between check and connect (DNS rebinding) cannot redirect us.
4. Connections are kept alive per host name: each name has its own pool (keyed, inside, by
   the checked IP), so a connection is only ever reused for the name whose certificate it
   checked; a pool reused for a name that now resolves elsewhere opens a new connection to the
   new, checked address. A pool idle for `_KEEPALIVE_SECONDS` is closed. Streams kept open for
   a caller (the viewer's) use a client that keeps nothing alive.
5. Environment proxies are ignored (``trust_env=False``): a proxy would resolve names itself.

Retries: connection errors, timeouts, and 5xx / 408 / 429 answers are retried with exponential
backoff up to ``max_attempts`` in total; a refusal, a 4xx, or a size overrun is final.
The body is streamed to a temp file, hashed on the way, and aborted once it passes
``max_bytes`` (counted after content decoding, so a gzip bomb stops at the limit too).

Slow sources: httpx's timeouts bound each read, not a whole fetch, so a server that sends one
byte every few seconds (headers or body) would hold a worker for as long as it likes. Two more
bounds end such a fetch with ``media.fetch_failed``, whose message names the bound hit; neither
is retried (a retry could only hit it again):

- ``total_timeout``: wall clock for one fetch, every attempt and redirect hop included;
- ``min_rate``: once the body has been arriving for ``rate_grace`` seconds, it must have
  averaged at least ``min_rate`` bytes a second.

Both are checked after every chunk read and, because a read may block for up to
``read_timeout`` on a silent or dribbling server, by one watcher thread per `Fetcher` that
looks at every running attempt a few times a second and shuts down the socket of one out of
bounds (the socket is learnt from httpcore's ``trace`` extension as soon as it connects, and
from the answer's ``network_stream`` on a kept-alive connection, which sends no connect
trace); the blocked read then fails at once and the reader reports the bound. Each request's
own timeouts are also cut to what is left of ``total_timeout``, so that the headers of a
kept-alive connection, read before its socket is known, cannot outlast it either.
"""

from __future__ import annotations

import functools
import hashlib
import io
import mimetypes
import os
import random
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Self, TypeVar
from urllib.parse import unquote

from labelport.media.errors import (
    FETCH_FAILED,
    HTTP_ERROR,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    URL_INVALID,
    URL_REFUSED,
    FetchError,
)
from labelport.media.guard import Resolver, parse_ip_literal, resolve_checked, system_resolver

if TYPE_CHECKING:
    import httpx

    from labelport.media.probe_types import ProbeLimits
    from labelport.media.sources import OpenedSource, SourceProbe
else:

    class _Httpx:
        """httpx, imported on first use (~0.1 s and ~20 MiB): a process that reads only local
        files or object storage never needs it. The import lock makes it thread-safe."""

        def __getattr__(self, name: str) -> Any:
            import httpx

            return getattr(httpx, name)

    httpx = _Httpx()

_T = TypeVar("_T")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CHUNK = 256 * 1024
_WATCH_EVERY = 0.2  # seconds between two looks of the watcher at the running attempts
_KEEPALIVE = 16  # idle connections kept per host name (a batch fetches 8 at once)
_KEEPALIVE_SECONDS = 5.0  # how long an idle connection, or a host's idle pool, is kept


@dataclass
class _Pool:
    """A host name's client, whose kept-alive connections carry only that name's requests."""

    client: httpx.Client
    in_use: int = 0
    last_used: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class FetchConfig:
    """How URLs are fetched. The defaults are the safe production settings."""

    allow_private: bool = False  # turn the SSRF guard off (trusted networks, tests only)
    trusted_hosts: frozenset[str] = frozenset()  # host names exempt from the address check
    max_bytes: int = 2 * 1024**3
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # between two chunks, not for the whole body
    total_timeout: float = 60.0  # wall clock for one fetch, all attempts and hops
    # After ``rate_grace`` seconds of body, it must average at least this many bytes a second
    # (0: no minimum): a dribbling source is dropped long before ``total_timeout``.
    min_rate: int = 10 * 1024
    rate_grace: float = 10.0
    max_attempts: int = 3  # per hop, including the first try
    backoff_base: float = 0.5  # seconds; attempt n waits base * 2**(n-1) (+ jitter)
    backoff_max: float = 8.0
    max_redirects: int = 5
    temp_dir: str | None = None  # where bodies are streamed; default: the system temp dir
    user_agent: str = "labelport media fetcher"
    resolver: Resolver = system_resolver
    # For tests and unusual deployments (e.g. a custom TLS context); None = httpx default.
    transport: httpx.BaseTransport | None = None
    verify_tls: bool = True
    # file:// URLs are read only when their real path (symlinks resolved) lies under one of
    # these directories; none by default, so file:// is refused.
    local_roots: tuple[Path, ...] = ()
    # s3:// URLs are read only when this is on (the server's own AWS credentials are used, so
    # it is off by default); ``s3_buckets``, when not empty, limits them to those buckets.
    allow_s3: bool = False
    s3_buckets: frozenset[str] = frozenset()
    s3_endpoint_url: str | None = None  # None: LABELPORT_S3_ENDPOINT_URL, else AWS's default
    probe_bytes: int = 64 * 1024  # how much of the start `Fetcher.probe` reads for a header


@dataclass
class FetchResult:
    """A fetched body, in a local file (``path``) or, when small and asked for, in memory
    (``data``, ``path`` None until `local_file` writes it out); `cleanup()` (or use ``with``)
    when done.

    ``owned`` says whose file ``path`` is: True for a temp file we wrote (http(s), s3://),
    which `cleanup` deletes; False for the user's own file under a local root (file://), which
    is read in place and never deleted.
    """

    path: Path | None
    size: int
    sha256: str
    content_type: str | None  # media type only, parameters removed, lowercased
    final_url: str  # after redirects
    filename: str  # best guess for the original file name
    redirects: list[str] = field(default_factory=list)  # the URLs that redirected
    owned: bool = True
    # Change detection (reference media): what the source said about its version, if anything.
    etag: str | None = None
    last_modified: str | None = None
    # The body itself, when the reader kept it (`fetch(keep_bytes=)`, `fetch_file(keep_bytes=)`).
    data: bytes | None = None
    temp_dir: str | None = None  # where `local_file` writes a body kept in memory

    def read_bytes(self) -> bytes:
        return self.data if self.data is not None else self.local_file().read_bytes()

    def local_file(self) -> Path:
        """The body's file, for readers that need one (PyAV, the full probes): a body kept in
        memory is written to a temp file now (removed by `cleanup`)."""
        if self.path is None:
            assert self.data is not None
            fd, name = tempfile.mkstemp(prefix="fetch-", dir=self.temp_dir)
            with os.fdopen(fd, "wb") as out:
                out.write(self.data)
            self.path, self.owned = Path(name), True
        return self.path

    def cleanup(self) -> None:
        if not self.owned or self.path is None:
            return
        with suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


class ReceivedBody:
    """A body as its chunks arrive: hashed and counted, kept in memory while it is at most
    ``keep_bytes`` long, moved to a temp file in ``temp_dir`` once it grows past that. One that
    says (``declared``) it is longer goes to the temp file from its first chunk."""

    def __init__(self, keep_bytes: int, temp_dir: str | None, declared: int | None) -> None:
        self.size = 0
        self.digest = hashlib.sha256()
        self._keep_bytes = keep_bytes if declared is None or declared <= keep_bytes else 0
        self._temp_dir = temp_dir
        self._kept: list[bytes] | None = []
        self._out: BinaryIO | None = None
        self._name = ""

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)
        if self._kept is not None and self.size <= self._keep_bytes:
            self._kept.append(chunk)
            return
        if self._out is None:
            fd, self._name = tempfile.mkstemp(prefix="fetch-", dir=self._temp_dir)
            self._out = os.fdopen(fd, "wb")
            self._out.writelines(self._kept or ())
            self._kept = None
        self._out.write(chunk)

    def finish(self) -> tuple[Path | None, bytes | None]:
        """(the temp file, None), or (None, the bytes) of a body kept in memory."""
        if self._out is None:
            return None, b"".join(self._kept or ())
        self._out.close()
        return Path(self._name), None

    def discard(self) -> None:
        """Remove the temp file of a body given up on, if it has one."""
        if self._out is not None:
            self._out.close()
            os.unlink(self._name)


@dataclass
class PartialBody:
    """The first bytes of a body (a Range answer), in memory."""

    data: bytes
    total: int | None  # the whole body's size, from Content-Range; None when not told
    content_type: str | None
    final_url: str
    filename: str
    etag: str | None = None
    last_modified: str | None = None


class _Retryable(Exception):
    def __init__(self, error: FetchError) -> None:
        self.error = error


# A body handler gets the checked URL, the 2xx response (streaming) and the attempt's bounds.
_Handler = Callable[["httpx.URL", "httpx.Response", "_Bounds"], _T]


class _Bounds:
    """The deadline and minimum rate of one attempt, checked by the reading thread after each
    chunk and by the `Fetcher`'s watcher in between (see the module docstring)."""

    def __init__(self, url: httpx.URL, deadline: float, config: FetchConfig) -> None:
        self.url = url
        self.deadline = deadline
        self.total_timeout = config.total_timeout
        self.min_rate = config.min_rate
        self.rate_grace = config.rate_grace
        self.body_started: float | None = None
        self.received = 0
        self.tripped: str | None = None  # why the watcher ended the attempt
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: keeps the socket once connected."""
        if event == "connection.connect_tcp.complete":
            self.connected(info.get("return_value"))

    def connected(self, stream: Any) -> None:
        """The attempt's network stream: its socket is the one the watcher shuts down."""
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sock = sock
                if self.tripped is not None:
                    self._shutdown()

    def start_body(self) -> None:
        self.body_started = time.monotonic()

    def exceeded(self, now: float) -> str | None:
        """Which bound the attempt is over at ``now``, in words; None when within both."""
        if now >= self.deadline:
            return (
                f"fetching {self.url} took longer than the limit of {self.total_timeout:g} s "
                "for one fetch (fetch timeout)"
            )
        started = self.body_started
        if self.min_rate > 0 and started is not None and now - started >= self.rate_grace:
            elapsed = now - started
            if self.received < self.min_rate * elapsed:
                return (
                    f"{self.url} sent {self.received} bytes in {elapsed:.1f} s, under the "
                    f"minimum rate of {self.min_rate / 1024:g} KB/s (fetch too slow)"
                )
        return None

    def check(self) -> None:
        """Raise the final `FetchError` when a bound is passed (the reading thread's check)."""
        reason = self.tripped or self.exceeded(time.monotonic())
        if reason is not None:
            raise FetchError(FETCH_FAILED, reason)

    def trip(self, reason: str) -> None:
        """End the attempt from the watcher: a read blocked on the socket fails at once."""
        with self._lock:
            if self.tripped is None:
                self.tripped = reason
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with suppress(OSError):
                # The plain socket's shutdown, also under TLS: it wakes a blocked read without
                # touching the SSL object the reading thread is using.
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


class Fetcher:
    """Fetches URLs under one `FetchConfig`. Thread-safe: ingest workers share one."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        self._client = self._new_client(keep_alive=False)  # streams kept open; custom transports
        self._pools: dict[tuple[str, str], _Pool] = {}  # (scheme, host name) -> its pool
        self._pools_lock = threading.Lock()
        self._swept = time.monotonic()
        self._s3_client: Any = None
        self._s3_lock = threading.Lock()
        self._watched: set[_Bounds] = set()
        self._watch_lock = threading.Condition()
        self._watcher: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        with self._watch_lock:
            self._closed = True
            self._watch_lock.notify_all()
        self._client.close()
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.client.close()

    def _new_client(self, *, keep_alive: bool) -> httpx.Client:
        c = self.config
        return httpx.Client(
            transport=c.transport,
            verify=c.verify_tls,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=c.connect_timeout, read=c.read_timeout, write=c.read_timeout, pool=5.0
            ),
            limits=httpx.Limits(
                max_keepalive_connections=_KEEPALIVE if keep_alive else 0,
                keepalive_expiry=_KEEPALIVE_SECONDS,
            ),
            headers={"User-Agent": c.user_agent},
        )

    def _take_pool(self, url: httpx.URL) -> _Pool:
        """The pool of `url`'s host name (made on first use), marked in use; pools idle for
        longer than their connections live are closed on the way."""
        key = (url.scheme, url.host)
        now = time.monotonic()
        stale: list[_Pool] = []
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool(self._new_client(keep_alive=True))
            pool.in_use += 1
            if now - self._swept > _KEEPALIVE_SECONDS:
                self._swept = now
                for other_key, other in list(self._pools.items()):
                    if other.in_use == 0 and now - other.last_used > _KEEPALIVE_SECONDS:
                        stale.append(self._pools.pop(other_key))
        for old in stale:
            old.client.close()
        return pool

    def _give_back(self, pool: _Pool) -> None:
        with self._pools_lock:
            pool.in_use -= 1
            pool.last_used = time.monotonic()

    def _watch(self, bounds: _Bounds) -> None:
        with self._watch_lock:
            self._watched.add(bounds)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch_loop, name="labelport-fetch-watch", daemon=True
                )
                self._watcher.start()
            self._watch_lock.notify_all()

    def _unwatch(self, bounds: _Bounds) -> None:
        with self._watch_lock:
            self._watched.discard(bounds)

    def _watch_loop(self) -> None:
        with self._watch_lock:
            while not self._closed:
                if not self._watched:
                    self._watch_lock.wait()  # idle until an attempt starts
                    continue
                self._watch_lock.wait(_WATCH_EVERY)
                now = time.monotonic()
                for bounds in list(self._watched):
                    reason = bounds.exceeded(now)
                    if reason is not None:
                        bounds.trip(reason)

    @property
    def s3_client(self) -> Any:
        """One boto3 client for every s3:// source (made on first use; boto3 is optional)."""
        with self._s3_lock:
            if self._s3_client is None:
                from labelport.media.s3 import make_client

                self._s3_client = make_client(self.config.s3_endpoint_url)
            return self._s3_client

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch(self, url: str, *, keep_bytes: int = 0) -> FetchResult:
        """The body of ``url``; raises `FetchError` with a stable code on failure.

        http(s) and s3:// bodies go to a temp file (``owned``), or stay in memory (``data``,
        no file) when they are at most ``keep_bytes`` long; a file:// URL under a local root
        gives the file itself (not owned: `FetchResult.cleanup` leaves it alone), with its bytes
        too when at most ``keep_bytes`` long.
        """
        scheme = _scheme(url)
        if scheme in ("file", "s3"):
            from labelport.media import sources

            if scheme == "file":
                return sources.fetch_file(self.config, url, keep_bytes=keep_bytes)
            return sources.fetch_s3(self, url, keep_bytes=keep_bytes)
        handler = functools.partial(self._read_body, keep_bytes=keep_bytes)
        result, redirects = self._http(url, handler)
        result.redirects = redirects
        return result

    def probe(
        self,
        url: str,
        media_type: str | None = None,
        *,
        limits: ProbeLimits | None = None,
        header_only: bool = True,
    ) -> SourceProbe:
        """Probe ``url`` keeping no copy, reading as little as will do (see `sources.probe`)."""
        from labelport.media import sources

        return sources.probe(self, url, media_type, limits=limits, header_only=header_only)

    def open(self, url: str) -> OpenedSource:
        """``(stream, content_type, size)`` of ``url`` for streaming; the caller closes it."""
        from labelport.media import sources

        return sources.open_stream(self, url)

    # -- http(s) ---------------------------------------------------------------------------

    def _http(
        self,
        url: str,
        handler: _Handler[_T],
        *,
        headers: dict[str, str] | None = None,
        keep_open: bool = False,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[_T, list[str]]:
        """Run ``handler`` on the final 2xx answer for ``url``, following guarded redirects.

        ``accept`` names non-2xx statuses handed to ``handler`` too; with ``keep_open`` the
        response is left open once the handler returns (it took ownership).
        """
        deadline = time.monotonic() + self.config.total_timeout
        redirects: list[str] = []
        current = _parse_url(url)
        for _hop in range(self.config.max_redirects + 1):
            outcome = self._fetch_hop(current, deadline, handler, headers, keep_open, accept)
            if not isinstance(outcome, _Redirect):
                return outcome, redirects
            redirects.append(str(current))
            current = _parse_url(str(current.join(outcome.location)))
        raise FetchError(
            TOO_MANY_REDIRECTS,
            f"more than {self.config.max_redirects} redirects, last to {str(current)!r}",
        )

    def _fetch_hop(
        self,
        url: httpx.URL,
        deadline: float,
        handler: _Handler[_T],
        headers: dict[str, str] | None,
        keep_open: bool,
        accept: frozenset[int],
    ) -> _T | _Redirect:
        """One hop, with retries: the handler's result, or the Location of a redirect."""
        c = self.config
        last: FetchError | None = None
        for attempt in range(1, max(1, c.max_attempts) + 1):
            if attempt > 1:
                delay = min(c.backoff_max, c.backoff_base * 2 ** (attempt - 2))
                delay += random.uniform(0, c.backoff_base / 2)  # spread retries of many workers
                if time.monotonic() + delay > deadline:
                    break
                time.sleep(delay)
            if time.monotonic() >= deadline:  # e.g. a redirect hop after a slow first one
                _Bounds(url, deadline, c).check()
            try:
                return self._attempt(url, deadline, handler, headers, keep_open, accept)
            except _Retryable as retry:
                last = retry.error
        assert last is not None
        attempts = "attempt" if c.max_attempts == 1 else "attempts"
        raise FetchError(last.code, f"{last.message} (after {c.max_attempts} {attempts})")

    def _attempt(
        self,
        url: httpx.URL,
        deadline: float,
        handler: _Handler[_T],
        extra_headers: dict[str, str] | None,
        keep_open: bool,
        accept: frozenset[int],
    ) -> _T | _Redirect:
        c = self.config
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        # Re-resolved and re-checked on every attempt: a retry must not trust an old answer.
        try:
            addresses = resolve_checked(
                host,
                port,
                allow_private=c.allow_private,
                trusted_hosts=c.trusted_hosts,
                resolver=c.resolver,
            )
        except FetchError as exc:
            if exc.code == FETCH_FAILED:  # a resolver hiccup may pass; a refusal never does
                raise _Retryable(exc) from None
            raise
        address = addresses[0]
        headers = {"Host": url.netloc.decode("ascii").rsplit("@", 1)[-1], **(extra_headers or {})}
        extensions: dict[str, Any] = {}
        if url.scheme == "https" and parse_ip_literal(host) is None:
            extensions["sni_hostname"] = host
        bounds = _Bounds(url, deadline, c)
        extensions["trace"] = bounds.trace
        # A stream kept open (the viewer's) outlives this call and is read at its reader's
        # pace: it takes no pooled connection, and its reads keep the configured timeouts.
        pool = None if keep_open or c.transport is not None else self._take_pool(url)
        client = self._client if pool is None else pool.client
        left = max(0.01, deadline - time.monotonic())
        timeout = httpx.Timeout(
            connect=min(c.connect_timeout, left),
            read=c.read_timeout if keep_open else min(c.read_timeout, left),
            write=min(c.read_timeout, left),
            pool=min(5.0, left),
        )
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers=headers,
            extensions=extensions,
            timeout=timeout,
        )
        self._watch(bounds)
        try:
            return self._exchange(client, url, request, bounds, handler, keep_open, accept)
        finally:
            # A stream kept open (the viewer's) is the caller's to read at its own pace.
            self._unwatch(bounds)
            if pool is not None:
                self._give_back(pool)

    def _exchange(
        self,
        client: httpx.Client,
        url: httpx.URL,
        request: httpx.Request,
        bounds: _Bounds,
        handler: _Handler[_T],
        keep_open: bool,
        accept: frozenset[int],
    ) -> _T | _Redirect:
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            bounds.check()
            raise _Retryable(FetchError(FETCH_FAILED, f"timed out fetching {url}: {exc}")) from None
        except httpx.HTTPError as exc:
            bounds.check()
            raise _Retryable(FetchError(FETCH_FAILED, f"could not fetch {url}: {exc}")) from None
        bounds.connected(response.extensions.get("network_stream"))  # a kept-alive one's
        kept = False
        try:
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                return _Redirect(response.headers["location"])
            if status in _RETRYABLE_STATUS:
                raise _Retryable(FetchError(HTTP_ERROR, f"{url} answered HTTP {status}"))
            if not 200 <= status < 300 and status not in accept:
                raise FetchError(HTTP_ERROR, f"{url} answered HTTP {status}")
            bounds.start_body()
            result = handler(url, response, bounds)
            kept = keep_open
            return result
        finally:
            if not kept:
                response.close()

    def _read_body(
        self, url: httpx.URL, response: httpx.Response, bounds: _Bounds, keep_bytes: int = 0
    ) -> FetchResult:
        """The whole body: in memory while it is at most ``keep_bytes`` long (a body that says
        it is longer goes to a temp file at once, one that grows past it is moved there)."""
        limit = self.config.max_bytes
        declared = response.headers.get("content-length")
        length = int(declared) if declared and declared.isdigit() else None
        if length is not None and length > limit:
            raise FetchError(TOO_LARGE, f"{url} is {length} bytes, over the limit of {limit} bytes")
        body = ReceivedBody(keep_bytes, self.config.temp_dir, length)
        try:
            # Chunks as they come (no chunk size): a slow body is checked as it trickles in.
            for chunk in response.iter_bytes():
                if body.size + len(chunk) > limit:
                    raise FetchError(TOO_LARGE, f"{url} is larger than the limit of {limit} bytes")
                body.add(chunk)
                bounds.received = body.size
                bounds.check()
            path, data = body.finish()
        except BaseException as exc:
            body.discard()
            if isinstance(exc, httpx.HTTPError):
                bounds.check()  # the watcher cut the connection: say which bound, do not retry
                message = f"connection lost reading {url}: {exc}"
                raise _Retryable(FetchError(FETCH_FAILED, message)) from None
            raise
        content_type = _media_type(response.headers.get("content-type"))
        return FetchResult(
            path=path,
            size=body.size,
            sha256=body.digest.hexdigest(),
            content_type=content_type,
            final_url=str(url),
            filename=guess_filename(url, response.headers.get("content-disposition"), content_type),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            data=data,
            temp_dir=self.config.temp_dir,
        )

    def _read_head(self, url: httpx.URL, response: httpx.Response, bounds: _Bounds) -> Any:
        """The answer to a ``Range: bytes=0-N`` request: `PartialBody`, a whole `FetchResult`
        (the range covered the body, or the server ignored Range and sends it all: reading on
        is cheaper than asking again), or None (416: nothing to give; fetch in full)."""
        if response.status_code == 416:
            return None
        if response.status_code != 206:
            return self._read_body(url, response, bounds, keep_bytes=self.config.probe_bytes)
        total = _range_total(response.headers.get("content-range"))
        if total is False:
            return None  # a part we cannot place in the body: not worth guessing
        if total is not None and total > self.config.max_bytes:
            raise FetchError(
                TOO_LARGE,
                f"{url} is {total} bytes, over the limit of {self.config.max_bytes} bytes",
            )
        want = self.config.probe_bytes
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in response.iter_raw():
                chunk = chunk[: want - received]  # a server may send more than asked
                chunks.append(chunk)
                received += len(chunk)
                if received >= want:
                    break
                bounds.received = received
                bounds.check()
        except httpx.HTTPError as exc:
            bounds.check()
            message = f"connection lost reading {url}: {exc}"
            raise _Retryable(FetchError(FETCH_FAILED, message)) from None
        data = b"".join(chunks)
        content_type = _media_type(response.headers.get("content-type"))
        filename = guess_filename(url, response.headers.get("content-disposition"), content_type)
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if total is not None and received >= total:
            # The range held the whole body: hash it, it is a full result.
            return FetchResult(
                path=None,
                size=received,
                sha256=hashlib.sha256(data).hexdigest(),
                content_type=content_type,
                final_url=str(url),
                filename=filename,
                etag=etag,
                last_modified=last_modified,
                data=data,
                temp_dir=self.config.temp_dir,
            )
        return PartialBody(data, total, content_type, str(url), filename, etag, last_modified)

    def _read_stream(self, url: httpx.URL, response: httpx.Response, _bounds: _Bounds) -> Any:
        """The response as a file-like the caller reads and closes (`Fetcher.open`)."""
        encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
        declared = response.headers.get("content-length")
        size = int(declared) if declared and declared.isdigit() and not encoded else None
        if size is not None and size > self.config.max_bytes:
            raise FetchError(
                TOO_LARGE, f"{url} is {size} bytes, over the limit of {self.config.max_bytes} bytes"
            )
        raw = _ResponseReader(response, str(url), self.config.max_bytes)
        return (
            io.BufferedReader(raw, _CHUNK),
            _media_type(response.headers.get("content-type")),
            size,
        )


@dataclass(frozen=True)
class _Redirect:
    location: str


class _ResponseReader(io.RawIOBase):
    """A streaming response as a raw binary file; errors become `FetchError`s."""

    def __init__(self, response: httpx.Response, url: str, limit: int) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes(_CHUNK)
        self._buffer = b""
        self._url = url
        self._limit = limit
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.HTTPError as exc:
                raise FetchError(
                    FETCH_FAILED, f"connection lost reading {self._url}: {exc}"
                ) from None
            self._count += len(self._buffer)
            if self._count > self._limit:
                raise FetchError(
                    TOO_LARGE, f"{self._url} is larger than the limit of {self._limit} bytes"
                )
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def _range_total(header: str | None) -> int | bool | None:
    """The total size in a ``Content-Range: bytes 0-N/TOTAL`` header; None for ``*``; False
    when the header is missing, malformed or the range does not start at 0 (not usable)."""
    match = _CONTENT_RANGE.match(header or "")
    if match is None or int(match.group(1)) != 0:
        return False
    return None if match.group(3) == "*" else int(match.group(3))


def _scheme(url: str) -> str:
    head, sep, _rest = url.partition(":")
    return head.strip().lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head) else ""


def fetch_url(
    url: str,
    config: FetchConfig | None = None,
    *,
    allow_private: bool | None = None,
    max_bytes: int | None = None,
    dest_dir: str | os.PathLike[str] | None = None,
) -> FetchResult:
    """One-off fetch with a fresh `Fetcher` (share a `Fetcher` for many URLs).

    The keyword arguments override the matching `FetchConfig` fields (``dest_dir`` is
    ``temp_dir``: where the body file is written).
    """
    config = config or FetchConfig()
    overrides: dict[str, Any] = {}
    if allow_private is not None:
        overrides["allow_private"] = allow_private
    if max_bytes is not None:
        overrides["max_bytes"] = max_bytes
    if dest_dir is not None:
        overrides["temp_dir"] = str(dest_dir)
    if overrides:
        config = replace(config, **overrides)
    with Fetcher(config) as fetcher:
        return fetcher.fetch(url)


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(URL_INVALID, f"not a valid URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(
            URL_REFUSED,
            f"media URLs are http(s)://, file:// (under a configured local root) or s3:// "
            f"(when allowed), not {parsed.scheme or 'a plain path'!r}",
        )
    if not parsed.host:
        raise FetchError(URL_INVALID, f"URL has no host: {url!r}")
    return parsed


def _media_type(header: str | None) -> str | None:
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    return value or None


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def guess_filename(url: httpx.URL, disposition: str | None, content_type: str | None) -> str:
    """A file name for the body: Content-Disposition, else the URL's last path segment.

    The result is a bare name (no directories, no control characters); when it has no
    extension, one is guessed from the content type.
    """
    name = _disposition_filename(disposition) if disposition else None
    if not name:
        name = unquote(url.path.rsplit("/", 1)[-1])
    return safe_filename(name, content_type)


def safe_filename(name: str, content_type: str | None) -> str:
    """``name`` as a bare file name (no directories, no control characters, at most 255
    characters), with an extension guessed from ``content_type`` when it has none."""
    name = _UNSAFE_NAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    if not name:
        name = "download"
    if "." not in name and content_type:
        ext = mimetypes.guess_extension(content_type)
        if ext:
            name += ext
    return name[:255]


def _disposition_filename(header: str) -> str | None:
    # RFC 6266: filename* (RFC 5987, percent-encoded with a charset) wins over filename.
    star = re.search(r"filename\*\s*=\s*([^';]+)'[^']*'([^;]+)", header, re.IGNORECASE)
    if star:
        try:
            return unquote(star.group(2).strip(), encoding=star.group(1).strip())
        except LookupError:
            pass
    plain = re.search(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', header, re.IGNORECASE)
    if plain:
        return (plain.group(1) if plain.group(1) is not None else plain.group(2)).strip()
    return None
