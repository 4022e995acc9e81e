"""What stored media is served as: a content type from the stored file's probed facts, and the
headers that keep a user's bytes from running as a page on our origin.

The type never comes from a name the caller chose (``x.html``) nor from what a remote server
says: it comes from the file row's probed media type and the format its first bytes show. When
the two disagree (media kept by reference that changed since its import), or the format is not
one we know, the answer is ``application/octet-stream``, downloaded rather than shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import quote

from labelport.media.probe import sniff_bytes

HEAD_BYTES = 4096
OCTET_STREAM = "application/octet-stream"

# (row media type, sniffed format) -> content type. Only types a browser renders inertly are
# image/video/audio; every other answer is sent as an attachment.
_TYPES: dict[tuple[str, str], str] = {
    ("image", "png"): "image/png",
    ("image", "jpeg"): "image/jpeg",
    ("image", "gif"): "image/gif",
    ("image", "bmp"): "image/bmp",
    ("image", "webp"): "image/webp",
    ("image", "tiff"): "image/tiff",
    ("image", "heic"): "image/heic",
    ("image", "heix"): "image/heic",
    ("image", "mif1"): "image/heif",
    ("image", "msf1"): "image/heif-sequence",
    ("image", "avif"): "image/avif",
    ("video", "mp4"): "video/mp4",
    ("video", "matroska"): "video/x-matroska",
    ("video", "avi"): "video/x-msvideo",
    ("video", "mpeg"): "video/mpeg",
    ("video", "mpegts"): "video/mp2t",
    ("video", "ogg"): "video/ogg",
    ("audio", "wav"): "audio/wav",
    ("audio", "mp3"): "audio/mpeg",
    ("audio", "ogg"): "audio/ogg",
    ("audio", "flac"): "audio/flac",
    ("audio", "m4a"): "audio/mp4",
    ("audio", "mp4"): "audio/mp4",
    ("audio", "matroska"): "audio/x-matroska",
    ("text", "text"): "text/plain; charset=utf-8",  # the probe accepts UTF-8 text only
    ("geo", "geojson"): "application/geo+json",
    ("geo", "tiff"): "image/tiff",
    ("point_cloud", "pcd"): OCTET_STREAM,
    ("point_cloud", "ply"): OCTET_STREAM,
}
_INLINE_PREFIXES = ("image/", "video/", "audio/")


def served_type(media_type: str | None, head: bytes) -> str:
    """The content type to serve a stored file as, from its row's probed `media_type` and its
    first bytes (`head`); `application/octet-stream` when they do not agree on a known type."""
    _sniffed_type, fmt = sniff_bytes(head)
    if media_type is None or fmt is None:
        return OCTET_STREAM
    content_type = _TYPES.get((media_type, fmt), OCTET_STREAM)
    if content_type == "video/x-matroska" and b"webm" in head[:64]:
        content_type = "video/webm"  # WebM is Matroska with its own doctype near the start
    elif content_type == "audio/x-matroska" and b"webm" in head[:64]:
        content_type = "audio/webm"
    return content_type


def is_inline(content_type: str) -> bool:
    """Whether a browser shows this type inertly (an image, a video, a sound)."""
    return content_type.startswith(_INLINE_PREFIXES)


def safety_headers(content_type: str, filename: str | None) -> dict[str, str]:
    """Headers for stored bytes served from our origin: no type sniffing, no script (the bytes
    are never a page, even when a browser is pointed straight at them), and a download for
    every type that is not shown inertly."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
    if not is_inline(content_type):
        headers["Content-Disposition"] = _attachment(filename)
    return headers


def _attachment(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if not name:
        return "attachment"
    # The quoted form is plain ASCII without quotes or controls; the real name goes in
    # filename* (RFC 6266), percent-encoded, so no name can break the header.
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass
class ServedMedia:
    """A stored file's bytes opened for serving: the stream (the caller closes it), the type
    to send, and the headers to send with it."""

    stream: BinaryIO
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class PrefixedStream:
    """A stream whose first bytes were already read (to learn its type): those bytes, then the
    rest. For streams that cannot seek back (media streamed from where it is kept)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._stream.read(n)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> PrefixedStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_head(stream: BinaryIO) -> bytes:
    """Up to `HEAD_BYTES` from the start of `stream` (a network stream may give less per read)."""
    parts: list[bytes] = []
    got = 0
    while got < HEAD_BYTES:
        chunk = stream.read(HEAD_BYTES - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
