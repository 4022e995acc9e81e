"""The one exception family of `labelport.media`.

Every error carries a stable dotted ``code`` and a plain ``message`` so that ingest can turn it
into a Problem without looking at the exception class. The codes are the public contract; the
subclasses only exist so callers can ``except`` a narrower kind when that helps.
"""

from __future__ import annotations

# Stable codes. Ingest reports these verbatim; never rename one, add new ones instead.
URL_INVALID = "media.url_invalid"  # not a parseable http(s) URL
URL_REFUSED = "media.url_refused"  # scheme not allowed or the address is private (SSRF guard)
FETCH_FAILED = "media.fetch_failed"  # connection error / timeout after all retries
HTTP_ERROR = "media.http_error"  # the server answered with a non-2xx status
TOO_MANY_REDIRECTS = "media.too_many_redirects"
TOO_LARGE = "media.too_large"  # over the configured byte limit
TOO_MANY_PIXELS = "media.too_many_pixels"  # image over the decompression-bomb limit
UNREADABLE = "media.unreadable"  # corrupt, truncated or not the format it claims
TYPE_MISMATCH = "media.type_mismatch"  # declared media type contradicts the content
UNSUPPORTED_TYPE = "media.unsupported_type"  # no probe for this media type / content
BLOB_KEY_INVALID = "media.blob_key_invalid"  # key escapes the store or is malformed
BLOB_NOT_FOUND = "media.blob_not_found"
FILE_NOT_FOUND = "media.file_not_found"  # a local upload path that does not exist


class MediaError(Exception):
    """A media problem with a stable ``code`` and a plain-words ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:  # keep code/message across processes (job workers)
        return (type(self), (self.code, self.message))


class FetchError(MediaError):
    """Fetching a URL failed or was refused."""


class BlobError(MediaError):
    """A blob store operation failed."""


class ProbeError(MediaError):
    """The media could not be probed (unreadable, too large, wrong type)."""
