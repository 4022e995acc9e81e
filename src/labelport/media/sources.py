"""Media sources beyond http(s), probing a source without keeping a copy, and streaming one.

Three kinds of ``media.url`` are read (all through `Fetcher`, which dispatches here):

- ``http(s)://`` - `labelport.media.fetch`, behind the SSRF guard.
- ``file:///abs/path`` - only when the file's real path (symlinks resolved) lies under one of
  ``FetchConfig.local_roots``; read in place, never copied to a temp file, never deleted. A plain
  path (``/abs/path``) is not a URL and is refused.
- ``s3://bucket/key`` - only with ``FetchConfig.allow_s3`` (and, if set, a bucket of
  ``FetchConfig.s3_buckets``), read with the server's own boto3 credentials. The key is taken
  literally, as the AWS tools do (no percent-decoding).

`probe` gives what a file row of *reference* media needs (type, dimensions, frames, size, name,
version tags) with the least I/O: for JPEG/PNG/BMP images, the header from the first
``FetchConfig.probe_bytes`` (an HTTP or S3 Range request); for everything else, or when the
header is not enough, the whole body (fetched to a temp file that is removed at once).
`open_stream` gives a readable stream for the viewer.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import io
import mimetypes
import os
import re
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple
from urllib.parse import unquote_to_bytes, urlsplit

import msgspec

from labelport.media.errors import (
    FETCH_FAILED,
    FILE_NOT_FOUND,
    HTTP_ERROR,
    TOO_LARGE,
    TOO_MANY_PIXELS,
    URL_INVALID,
    URL_REFUSED,
    FetchError,
    ProbeError,
)
from labelport.media.fetch import (
    FetchConfig,
    Fetcher,
    FetchResult,
    PartialBody,
    ReceivedBody,
    _scheme,
    safe_filename,
)
from labelport.media.image import probe_complete_image, probe_image
from labelport.media.probe import normalize_media_type, probe_file, sniff, sniff_bytes
from labelport.media.probe_types import Probe, ProbeLimits

if TYPE_CHECKING:
    from datetime import datetime

_CHUNK = 1024 * 1024
# Image formats whose header alone gives everything the probe reports (size, frames). GIF and
# WebP are not among them: Pillow reads the whole file to count their frames.
_HEADER_FORMATS = frozenset({"jpeg", "png", "bmp"})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})


class SourceProbe(msgspec.Struct, kw_only=True):
    """What a file row of reference media needs, from `probe` (no copy is kept).

    ``probe`` holds the media facts (``media_type``, ``width``, ``height``, ``frame_count``,
    ``fps``, ``duration`` ... and `Probe.media_info` for the checks). ``header_only`` is True
    when only the image header was read: the pixels were not proven to decode. ``sha256`` is
    set only when the whole body was read anyway.
    """

    url: str  # as given
    final_url: str  # after redirects; for file:// the real path's URL
    probe: Probe
    size: int
    filename: str
    content_type: str | None
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    header_only: bool = False

    def fingerprint(self) -> str:
        """A version tag of the source for change detection on re-import: equal fingerprints
        mean "same source, as far as it says". Built from what the source reports (ETag,
        Last-Modified, size); the probe's own facts are compared by the caller as well."""
        return "|".join((self.etag or "", self.last_modified or "", str(self.size)))


class OpenedSource(NamedTuple):
    """A source opened for reading; the caller closes ``stream``."""

    stream: BinaryIO
    content_type: str | None
    size: int | None  # None when the source does not say (a chunked HTTP answer)


# -- file:// ---------------------------------------------------------------------------------


def _file_path(url: str) -> str:
    """The absolute path a ``file:`` URL names (percent-decoded), without touching the disk."""
    if "?" in url or "#" in url:
        raise FetchError(URL_INVALID, f"{url!r}: percent-encode '?' and '#' in file names")
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(URL_REFUSED, f"{url!r}: file URLs must name this machine (file:///path)")
    path = os.fsdecode(unquote_to_bytes(parts.path))
    if "\x00" in path:
        raise FetchError(URL_INVALID, f"{url!r}: a file name cannot hold a NUL byte")
    if not path.startswith("/"):
        raise FetchError(URL_INVALID, f"{url!r}: a file URL needs an absolute path (file:///...)")
    return path


def _roots(config: FetchConfig) -> list[Path]:
    return list(_real_roots(tuple(config.local_roots)))


@functools.lru_cache(maxsize=64)
def _real_roots(roots: tuple[Path, ...]) -> tuple[Path, ...]:
    # Looked up once per set of roots: per file it was a third of a local file's fetch.
    return tuple(Path(os.path.realpath(root)) for root in roots)


def _under(path: str | Path, roots: list[Path]) -> bool:
    # As Path.is_relative_to, on strings (pathlib cost ~5 us a root, three times a file).
    text = str(path)
    for root in roots:
        top = str(root)
        if text == top or text.startswith(top if top.endswith("/") else top + "/"):
            return True
    return False


# folder as named -> (its real path, (st_dev, st_ino) of the directory it led to)
_REAL_FOLDERS: dict[str, tuple[str, tuple[int, int]]] = {}


def _real_path(lexical: str) -> str:
    """``os.path.realpath(lexical, strict=True)`` for one file of many in few folders: a
    folder's real path is kept with the identity (device, inode) of the directory it led to,
    and reused while the folder still leads to that directory (one stat); the file itself
    needs one lstat (a symlinked file is resolved in full). realpath is ~10 lstat calls in
    Python, a third of a small local file's read."""
    folder, name = os.path.split(lexical)
    here = os.stat(folder)  # follows symlinks: the directory the folder leads to now
    known = _REAL_FOLDERS.get(folder)
    if known is None or known[1] != (here.st_dev, here.st_ino):
        real_folder = os.path.realpath(folder, strict=True)
        if len(_REAL_FOLDERS) >= 4096:
            _REAL_FOLDERS.clear()
        _REAL_FOLDERS[folder] = (real_folder, (here.st_dev, here.st_ino))
    else:
        real_folder = known[0]
    candidate = os.path.join(real_folder, name)
    if stat.S_ISLNK(os.lstat(candidate).st_mode):
        return os.path.realpath(lexical, strict=True)
    return candidate


def resolve_local(url: str, config: FetchConfig) -> Path:
    """The real path of a ``file:`` URL, once it is proven to lie under a local root.

    Refused (``media.url_refused``): no roots configured, a path outside them, or a symlink
    leading out of them. Missing files are ``media.file_not_found``.
    """
    path = _file_path(url)
    if not config.local_roots:
        raise FetchError(
            URL_REFUSED,
            "file:// media is refused: no local media roots are configured "
            "(the local_roots setting)",
        )
    roots = _roots(config)
    lexical = os.path.normpath(path)
    shown = ", ".join(str(r) for r in config.local_roots)
    # Checked before the disk is touched, so whether a file outside the roots exists is not
    # revealed by a different error.
    if not (_under(lexical, roots) or _under(lexical, [Path(r) for r in config.local_roots])):
        raise FetchError(URL_REFUSED, f"{path!r} is not under a local media root ({shown})")
    try:
        real = Path(_real_path(lexical))
    except FileNotFoundError:
        raise FetchError(FILE_NOT_FOUND, f"no such file: {path!r}") from None
    except OSError as exc:
        raise FetchError(FETCH_FAILED, f"cannot read {path!r}: {exc.strerror or exc}") from None
    if not _under(real, roots):
        raise FetchError(
            URL_REFUSED, f"{path!r} leads to {str(real)!r}, outside the local media roots ({shown})"
        )
    return real


def _open_local(real: Path, url: str, roots: list[Path]) -> int:
    """An fd on the regular file ``real``, checked once more *after* opening.

    The path was resolved before; a directory on it swapped for a symlink in between would
    make open() land elsewhere, so the opened file's own path (/proc/self/fd) is checked too.
    """
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FetchError(FILE_NOT_FOUND, f"no such file: {url!r}") from None
    except OSError as exc:
        raise FetchError(FETCH_FAILED, f"cannot read {url!r}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FetchError(FILE_NOT_FOUND, f"{url!r} is not a regular file")
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # no /proc: the inode must be the one the checked path names
            check = os.stat(real)
            same = (check.st_dev, check.st_ino) == (info.st_dev, info.st_ino)
        else:
            same = _under(opened, roots)
        if not same:
            raise FetchError(URL_REFUSED, f"{url!r} changed while it was opened")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _file_version(info: os.stat_result) -> tuple[str, str]:
    """(etag, last_modified) of a local file: inode, size and mtime, like a web server's."""
    etag = f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"'
    # email.utils.formatdate(mtime, usegmt=True), without its ~10 us a file
    t = time.gmtime(info.st_mtime)
    modified = (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
    return etag, modified


def fetch_file(
    config: FetchConfig, url: str, *, keep_bytes: int = 0, real: Path | None = None
) -> FetchResult:
    """A file:// source as a `FetchResult` pointing at the file itself (``owned=False``),
    hashed in one read. A file of at most `keep_bytes` also comes with its bytes (``data``),
    so that its copy and probe need not read it again. `real`: what `resolve_local` found for
    `url` a moment ago, if anything (the file opened is checked against the roots anyway)."""
    if real is None:
        real = resolve_local(url, config)
    fd = _open_local(real, url, _roots(config))
    try:
        info = os.fstat(fd)
        if info.st_size > config.max_bytes:
            raise FetchError(TOO_LARGE, _too_large(url, info.st_size, config.max_bytes))
        size, digest, kept = _read_hashed(fd, info.st_size, keep_bytes, config.max_bytes, url)
    finally:
        os.close(fd)
    etag, last_modified = _file_version(info)
    name = safe_filename(os.path.basename(_file_path(url)), None)
    return FetchResult(
        path=real,
        size=size,
        sha256=digest,
        content_type=mimetypes.guess_type(name)[0],
        final_url=real.as_uri(),
        filename=name,
        owned=False,
        etag=etag,
        last_modified=last_modified,
        data=kept,
    )


def _read_hashed(
    fd: int, expected: int, keep_bytes: int, max_bytes: int, url: str
) -> tuple[int, str, bytes | None]:
    """(size, sha256, the bytes if at most `keep_bytes`) of the open file `fd`, read to its end.

    A file that says it is small is read with one `os.read` of its size: a buffered read of a
    1 MiB chunk allocated that much for each small file, and the pieces were then joined into
    a copy. A file larger than it said (still being written) is not kept."""
    digest = hashlib.sha256()
    keep = expected <= keep_bytes
    pieces: list[bytes] = []
    size = 0
    want = expected if keep and expected else _CHUNK
    while chunk := os.read(fd, want):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(TOO_LARGE, _too_large(url, size, max_bytes))
        digest.update(chunk)
        keep = keep and size <= keep_bytes
        if keep:
            pieces.append(chunk)
        want = _CHUNK
    kept = (pieces[0] if len(pieces) == 1 else b"".join(pieces)) if keep else None
    return size, digest.hexdigest(), kept


def _too_large(url: str, size: int, limit: int) -> str:
    return f"{url} is {size} bytes, over the limit of {limit} bytes"


# -- s3:// -----------------------------------------------------------------------------------


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``; the key is taken literally."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("//"):
        raise FetchError(URL_INVALID, f"{url!r}: expected s3://bucket/key")
    bucket, _sep, key = rest[2:].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise FetchError(URL_INVALID, f"{url!r}: {bucket!r} is not an S3 bucket name")
    if not key:
        raise FetchError(URL_INVALID, f"{url!r}: no object key after the bucket")
    return bucket, key


def _s3_allowed(config: FetchConfig, url: str) -> tuple[str, str]:
    bucket, key = parse_s3_url(url)
    if not config.allow_s3:
        raise FetchError(URL_REFUSED, "s3:// media is refused: the allow_s3 setting is off")
    if config.s3_buckets and bucket not in config.s3_buckets:
        allowed = ", ".join(sorted(config.s3_buckets))
        raise FetchError(
            URL_REFUSED, f"bucket {bucket!r} is not an allowed media bucket ({allowed})"
        )
    return bucket, key


def _s3_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else None


def _s3_error(url: str, exc: Exception) -> FetchError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _S3_MISSING or status == "404":
            return FetchError(FILE_NOT_FOUND, f"no such S3 object: {url}")
        return FetchError(HTTP_ERROR, f"{url}: S3 answered {code or status}")
    return FetchError(FETCH_FAILED, f"could not read {url}: {exc}")


def _s3_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError as Urllib3Error

    return (ClientError, BotoCoreError, Urllib3Error, OSError)


def _http_date(value: datetime | None) -> str | None:
    if value is None:
        return None
    # botocore's datetimes carry dateutil's tzutc, which usegmt does not take for UTC.
    return email.utils.formatdate(value.timestamp(), usegmt=True)


def _s3_client(fetcher: Fetcher) -> Any:
    try:
        return fetcher.s3_client
    except RuntimeError as exc:  # boto3 is an optional dependency
        raise FetchError(FETCH_FAILED, str(exc)) from None


def _s3_get(fetcher: Fetcher, url: str, **extra: str) -> tuple[dict[str, Any], str]:
    bucket, key = _s3_allowed(fetcher.config, url)
    client = _s3_client(fetcher)
    try:
        return client.get_object(Bucket=bucket, Key=key, **extra), key
    except _s3_errors() as exc:
        raise _s3_error(url, exc) from None


def _s3_body(
    fetcher: Fetcher, url: str, stream: Any, limit: int, keep_bytes: int, declared: int
) -> ReceivedBody:
    """Up to ``limit`` bytes of an S3 body, hashed as they come, in memory while at most
    ``keep_bytes`` long (see `ReceivedBody`)."""
    body = ReceivedBody(keep_bytes, fetcher.config.temp_dir, declared)
    try:
        with stream:
            while body.size < limit and (chunk := stream.read(min(_CHUNK, limit - body.size))):
                body.add(chunk)
    except BaseException as exc:
        body.discard()
        if isinstance(exc, _s3_errors()):
            raise _s3_error(url, exc) from None
        raise
    return body


def _s3_read(url: str, body: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of an S3 body, in memory."""
    chunks: list[bytes] = []
    size = 0
    try:
        with body:
            while size < limit and (chunk := body.read(limit - size)):
                chunks.append(chunk)
                size += len(chunk)
    except _s3_errors() as exc:
        raise _s3_error(url, exc) from None
    return b"".join(chunks)


def fetch_s3(fetcher: Fetcher, url: str, *, keep_bytes: int = 0) -> FetchResult:
    """An s3:// object, hashed: in memory (``data``) when it is at most ``keep_bytes`` long,
    else in a temp file (``owned``)."""
    config = fetcher.config
    response, key = _s3_get(fetcher, url)
    declared = int(response.get("ContentLength") or 0)
    if declared > config.max_bytes:
        response["Body"].close()
        raise FetchError(TOO_LARGE, _too_large(url, declared, config.max_bytes))
    # One byte over the limit is enough to tell it is too large.
    body = _s3_body(fetcher, url, response["Body"], config.max_bytes + 1, keep_bytes, declared)
    if body.size > config.max_bytes:
        body.discard()
        raise FetchError(TOO_LARGE, f"{url} is larger than the limit of {config.max_bytes} bytes")
    path, data = body.finish()
    content_type = _content_type(response.get("ContentType"))
    return FetchResult(
        path=path,
        size=body.size,
        sha256=body.digest.hexdigest(),
        content_type=content_type,
        final_url=url,
        filename=safe_filename(key.rsplit("/", 1)[-1], content_type),
        etag=response.get("ETag"),
        last_modified=_http_date(response.get("LastModified")),
        data=data,
        temp_dir=config.temp_dir,
    )


def _content_type(value: str | None) -> str | None:
    media = (value or "").split(";", 1)[0].strip().lower()
    return media or None


def _s3_head(fetcher: Fetcher, url: str) -> FetchResult | PartialBody | None:
    """The first ``probe_bytes`` of an s3:// object (a ranged GET), like `Fetcher._read_head`."""
    want = fetcher.config.probe_bytes
    bucket, key = _s3_allowed(fetcher.config, url)
    client = _s3_client(fetcher)
    try:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{want - 1}")
    except _s3_errors() as exc:
        if _s3_code(exc) == "InvalidRange":  # an empty object has no byte 0: fetch in full
            return None
        raise _s3_error(url, exc) from None
    total = _total(response.get("ContentRange"), response.get("ContentLength"))
    if total is None:
        response["Body"].close()
        return None
    if total > fetcher.config.max_bytes:
        response["Body"].close()
        raise FetchError(TOO_LARGE, _too_large(url, total, fetcher.config.max_bytes))
    data = _s3_read(url, response["Body"], want)
    content_type = _content_type(response.get("ContentType"))
    name = safe_filename(key.rsplit("/", 1)[-1], content_type)
    etag, last_modified = response.get("ETag"), _http_date(response.get("LastModified"))
    if len(data) >= total:
        return FetchResult(
            path=None,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type,
            final_url=url,
            filename=name,
            etag=etag,
            last_modified=last_modified,
            data=data,
            temp_dir=fetcher.config.temp_dir,
        )
    return PartialBody(data, total, content_type, url, name, etag, last_modified)


def _total(content_range: str | None, length: int | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+0-\d+/(\d+)\s*", content_range or "")
    if match:
        return int(match.group(1))
    # No Content-Range: the store sent the whole object (it was within the range).
    return int(length) if length is not None and not content_range else None


# -- probing ---------------------------------------------------------------------------------


def _header_probe(head: bytes | Path, declared: str | None, limits: ProbeLimits) -> Probe | None:
    """The image probe from a header alone (a body's first bytes, or a local file), or None
    when a header does not settle it."""
    sniffed, fmt = sniff_bytes(head) if isinstance(head, bytes) else sniff(head)
    if sniffed != "image" or fmt not in _HEADER_FORMATS or declared not in (None, "image"):
        return None
    try:
        probe = probe_image(
            io.BytesIO(head) if isinstance(head, bytes) else head, limits, header_only=True
        )
    except ProbeError as exc:
        if exc.code == TOO_MANY_PIXELS:
            raise  # the whole file would say the same
        return None
    probe.sniffed_type = sniffed
    return probe


def probe(
    fetcher: Fetcher,
    url: str,
    media_type: str | None = None,
    *,
    limits: ProbeLimits | None = None,
    header_only: bool = True,
) -> SourceProbe:
    """Probe ``url`` (any scheme `Fetcher.fetch` takes), keeping no copy.

    ``media_type`` is the packet's claim, as for `probe_file`. With ``header_only`` (the
    default), a JPEG, PNG or BMP image is probed from its first ``probe_bytes`` (ranged
    request) when that settles it; otherwise, and always for other media types, the whole
    body is read and probed in full (then ``sha256`` is set). Raises `FetchError` / `ProbeError`
    with the usual codes.
    """
    limits = limits or ProbeLimits()
    declared = normalize_media_type(media_type)
    try_header = header_only and declared in (None, "image")
    scheme = _scheme(url)
    if scheme == "file":
        return _probe_local(fetcher.config, url, media_type, limits, try_header)
    head: FetchResult | PartialBody | None = None
    if try_header:
        if scheme == "s3":
            head = _s3_head(fetcher, url)
        else:
            headers = {"Range": f"bytes=0-{fetcher.config.probe_bytes - 1}"}
            # Ranges count encoded bytes; an identity body keeps the header readable.
            headers["Accept-Encoding"] = "identity"
            head, _redirects = fetcher._http(
                url, fetcher._read_head, headers=headers, accept=frozenset({416})
            )
    if isinstance(head, PartialBody):
        found = _header_probe(head.data, declared, limits) if head.total is not None else None
        if found is not None:
            assert head.total is not None
            return SourceProbe(
                url=url,
                final_url=head.final_url,
                probe=found,
                size=head.total,
                filename=head.filename,
                content_type=head.content_type,
                etag=head.etag,
                last_modified=head.last_modified,
                header_only=True,
            )
        head = None
    with head if head is not None else fetcher.fetch(url) as whole:
        found = None
        if whole.data is not None and declared in (None, "image"):
            # A whole small image (it fit in the probe window): its header and end marker say
            # it all, as for a copied one (ingest/intake.py), without decoding its pixels.
            found = probe_complete_image(whole.data, limits)
        if found is None:
            found = probe_file(
                whole.local_file(), media_type, limits=limits, filename=whole.filename
            )
        return SourceProbe(
            url=url,
            final_url=whole.final_url,
            probe=found,
            size=whole.size,
            filename=whole.filename,
            content_type=whole.content_type,
            etag=whole.etag,
            last_modified=whole.last_modified,
            sha256=whole.sha256,
        )


def _probe_local(
    config: FetchConfig, url: str, media_type: str | None, limits: ProbeLimits, try_header: bool
) -> SourceProbe:
    real = resolve_local(url, config)
    fd = _open_local(real, url, _roots(config))
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if info.st_size > config.max_bytes:
        raise FetchError(TOO_LARGE, _too_large(url, info.st_size, config.max_bytes))
    name = safe_filename(os.path.basename(_file_path(url)), None)
    found = _header_probe(real, normalize_media_type(media_type), limits) if try_header else None
    if found is None:
        found = probe_file(real, media_type, limits=limits, filename=name)
    etag, last_modified = _file_version(info)
    return SourceProbe(
        url=url,
        final_url=real.as_uri(),
        probe=found,
        size=info.st_size,
        filename=name,
        content_type=mimetypes.guess_type(name)[0],
        etag=etag,
        last_modified=last_modified,
        header_only=bool(found.extra.get("header_only")),
    )


# -- streaming -------------------------------------------------------------------------------


def open_stream(fetcher: Fetcher, url: str) -> OpenedSource:
    """``url`` opened for reading (the viewer streams reference media through the server).

    http(s) goes through the same SSRF guard as `Fetcher.fetch` (every redirect re-checked);
    file:// must lie under a local root; s3:// must be allowed. The caller closes the stream.
    """
    scheme = _scheme(url)
    if scheme == "file":
        real = resolve_local(url, fetcher.config)
        fd = _open_local(real, url, _roots(fetcher.config))
        size: int | None = os.fstat(fd).st_size
        name = os.path.basename(_file_path(url))
        return OpenedSource(os.fdopen(fd, "rb"), mimetypes.guess_type(name)[0], size)
    if scheme == "s3":
        response, _key = _s3_get(fetcher, url)
        length = response.get("ContentLength")
        size = int(length) if length is not None else None
        if size is not None and size > fetcher.config.max_bytes:
            response["Body"].close()
            raise FetchError(TOO_LARGE, _too_large(url, size, fetcher.config.max_bytes))
        return OpenedSource(response["Body"], _content_type(response.get("ContentType")), size)
    opened, _redirects = fetcher._http(
        url, fetcher._read_stream, headers={"Accept-Encoding": "identity"}, keep_open=True
    )
    stream, content_type, size = opened
    return OpenedSource(stream, content_type, size)


# -- one-off helpers -------------------------------------------------------------------------


def probe_source(
    url: str,
    config: FetchConfig | None = None,
    *,
    media_type: str | None = None,
    limits: ProbeLimits | None = None,
    header_only: bool = True,
) -> SourceProbe:
    """`probe` with a fresh `Fetcher` (share one `Fetcher` for many URLs: `Fetcher.probe`)."""
    with Fetcher(config) as fetcher:
        return probe(fetcher, url, media_type, limits=limits, header_only=header_only)


class _ClosingStream:
    """A stream that also closes the `Fetcher` it came from."""

    def __init__(self, stream: BinaryIO, fetcher: Fetcher) -> None:
        self._stream = stream
        self._fetcher = fetcher

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._fetcher.close()

    def __enter__(self) -> _ClosingStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_source(url: str, config: FetchConfig | None = None) -> OpenedSource:
    """`open_stream` with a fresh `Fetcher`, closed with the stream (for many: `Fetcher.open`)."""
    fetcher = Fetcher(config)
    try:
        opened = open_stream(fetcher, url)
    except BaseException:
        fetcher.close()
        raise
    stream: Any = _ClosingStream(opened.stream, fetcher)
    return OpenedSource(stream, opened.content_type, opened.size)


__all__ = [
    "OpenedSource",
    "SourceProbe",
    "fetch_file",
    "fetch_s3",
    "open_source",
    "open_stream",
    "parse_s3_url",
    "probe",
    "probe_source",
    "resolve_local",
]
