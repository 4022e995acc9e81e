"""Putting media into the blob store: local files, upload streams, inline text, fetched URLs.

All media blobs are content-addressed (``files/ab/<sha256><ext>``): the same bytes are
stored once, and re-importing a file does not duplicate it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

import msgspec

from labelport.media.blobs import BlobStore, content_key, sha256_file
from labelport.media.errors import FETCH_FAILED, FILE_NOT_FOUND, TOO_LARGE, MediaError
from labelport.media.fetch import FetchResult

_CHUNK = 1024 * 1024
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")


class StoredMedia(msgspec.Struct, frozen=True):
    """A media blob in the store, ready for a file row."""

    key: str
    sha256: str
    size: int
    original_filename: str | None = None


def safe_extension(filename: str | None) -> str:
    """The lowercased extension of ``filename`` (``.jpg``) if it is plain, else ``""``."""
    if not filename:
        return ""
    suffix = Path(filename.replace("\\", "/")).suffix.lower()
    return suffix if _EXTENSION.fullmatch(suffix) else ""


def _store(
    store: BlobStore, path: Path, sha: str, size: int, name: str | None, durable: bool = True
) -> StoredMedia:
    key = content_key(sha, safe_extension(name))
    if not store.exists(key):
        stored = store.put_file(key, path, durable=durable)
        if stored.sha256 != sha:
            # The file changed between hashing and copying (a user's own file, read in place
            # from a local root): the blob would not match its content key.
            store.delete(key)
            raise MediaError(FETCH_FAILED, f"{name or path.name} changed while it was read")
    return StoredMedia(key=key, sha256=sha, size=size, original_filename=name)


def store_local_file(
    store: BlobStore, path: str | os.PathLike[str], original_filename: str | None = None
) -> StoredMedia:
    """Store a file from the local disk; its name is used when no original name is given."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(FILE_NOT_FOUND, f"no such file: {str(path)!r}")
    sha, size = sha256_file(path)
    return _store(store, path, sha, size, original_filename or path.name)


def store_stream(
    store: BlobStore,
    stream: BinaryIO,
    original_filename: str | None = None,
    *,
    max_bytes: int | None = None,
    temp_dir: str | None = None,
) -> StoredMedia:
    """Store an upload stream (e.g. a multipart part), refusing it past ``max_bytes``.

    The stream is spooled to a temp file first: its hash, and so its key, is only known at
    the end, and a refused upload must leave nothing in the store.
    """
    fd, tmp_name = tempfile.mkstemp(prefix="upload-", dir=temp_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise MediaError(TOO_LARGE, f"upload is larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        return _store(store, Path(tmp_name), digest.hexdigest(), size, original_filename)
    finally:
        with suppress(OSError):
            os.unlink(tmp_name)


def store_inline_text(
    store: BlobStore, text_data: str, original_filename: str | None = None
) -> StoredMedia:
    """Store text given inline as a UTF-8 ``.txt`` blob, byte for byte as sent.

    Nothing is normalised (no newline or Unicode changes): token character offsets the
    caller computed must stay valid.
    """
    data = text_data.encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    key = content_key(sha, ".txt")
    if not store.exists(key):
        store.put_bytes(key, data)
    return StoredMedia(key=key, sha256=sha, size=len(data), original_filename=original_filename)


def store_fetched(store: BlobStore, result: FetchResult, *, durable: bool = True) -> StoredMedia:
    """Store a fetched body (its hash is already known) under its content key.

    ``durable=False`` leaves it to a later `BlobStore.sync` (one flush per batch chunk).
    """
    if result.data is not None:  # kept in memory: stored from there, no file written twice
        key = content_key(result.sha256, safe_extension(result.filename))
        if not store.exists(key):
            store.put_bytes(key, result.data, durable=durable, sha256=result.sha256)
        return StoredMedia(
            key=key, sha256=result.sha256, size=result.size, original_filename=result.filename
        )
    return _store(store, result.local_file(), result.sha256, result.size, result.filename, durable)
