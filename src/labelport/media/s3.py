"""`S3BlobStore`: the BlobStore protocol over an S3-compatible object store (AWS S3, MinIO, ...).

Chosen with ``--storage-url s3://bucket/prefix``. Credentials and region come from the usual AWS
settings (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, profiles,
instance roles); the endpoint of a non-AWS store from ``LABELPORT_S3_ENDPOINT_URL`` (or boto3's
own ``AWS_ENDPOINT_URL``).

Atomicity needs nothing extra here: S3 makes an object visible only once its PUT (or multipart
upload) completes, so readers see the old object or the whole new one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from labelport.media.blobs import StoredBlob, validate_key
from labelport.media.errors import BLOB_NOT_FOUND, BlobError

ENDPOINT_ENV = "LABELPORT_S3_ENDPOINT_URL"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def parse_storage_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/some/prefix``; the prefix has no slashes at its ends."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"storage URL {url!r}: expected s3://bucket[/prefix]")
    return parts.netloc, parts.path.strip("/")


class _HashingReader:
    """Reads through a stream, hashing and counting what passes (boto3 pulls from it)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._stream.read(n)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


class S3BlobStore:
    """Blobs as objects ``<prefix>/<key>`` in one bucket. Thread-safe (boto3 clients are)."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else make_client()

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3BlobStore:
        """Open ``s3://bucket/prefix``; fails now, with the reason, if the bucket is unreachable."""
        bucket, prefix = parse_storage_url(url)
        store = cls(bucket, prefix, client=make_client(endpoint_url))
        store.check()
        return store

    def __repr__(self) -> str:
        return f"S3BlobStore('s3://{self.bucket}/{self.prefix}')"

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise ConnectionError(f"cannot reach bucket {self.bucket!r}: {exc}") from None

    def _name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # ``durable`` is accepted for the BlobStore protocol and needs nothing: S3 acknowledges a
    # PUT only once the object is stored durably.
    def put_stream(self, key: str, stream: BinaryIO, *, durable: bool = True) -> StoredBlob:
        # upload_fileobj switches to a multipart upload past 8 MiB, so memory stays bounded.
        reader = _HashingReader(stream)
        self.client.upload_fileobj(reader, self.bucket, self._name(key))
        return StoredBlob(key=key, size=reader.size, sha256=reader.digest.hexdigest())

    def put_bytes(
        self, key: str, data: bytes, *, durable: bool = True, sha256: str | None = None
    ) -> StoredBlob:
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)
        digest = sha256 or hashlib.sha256(data).hexdigest()
        return StoredBlob(key=key, size=len(data), sha256=digest)

    def put_file(
        self, key: str, path: str | os.PathLike[str], *, durable: bool = True
    ) -> StoredBlob:
        with open(path, "rb") as src:
            return self.put_stream(key, src)

    def sync(self) -> None:
        """Nothing to do: every put was durable when it returned."""

    def open(self, key: str) -> BinaryIO:
        """The object's body, streamed from S3 as it is read."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                raise BlobError(BLOB_NOT_FOUND, f"no blob with key {key!r}") from None
            raise
        body: BinaryIO = response["Body"]  # botocore's StreamingBody
        return body

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
            return head
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def delete(self, key: str) -> bool:
        # S3 deletes are silent about missing objects; the HEAD answers "did it exist".
        existed = self.exists(key)
        if existed:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        return existed

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise BlobError(BLOB_NOT_FOUND, f"no blob with key {key!r}")
        return int(head["ContentLength"])


def _missing(exc: Any) -> bool:
    error = exc.response.get("Error", {})
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return error.get("Code") in _MISSING or status == "404"


def make_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client from the environment; ``LABELPORT_S3_ENDPOINT_URL`` overrides the
    endpoint (boto3 itself also honours ``AWS_ENDPOINT_URL``)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise RuntimeError("s3:// storage needs boto3: pip install 'labelport[s3]'") from None
    endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        # One client serves every import thread of the process.
        max_pool_connections=32,
    )
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def open_blob_store(storage_url: str) -> Any:
    """The BlobStore for a storage URL: ``s3://bucket/prefix`` or a local directory path."""
    if storage_url.startswith("s3://"):
        return S3BlobStore.from_url(storage_url)
    from labelport.media.blobs import LocalBlobStore

    path = storage_url.removeprefix("file://")
    return LocalBlobStore(path)
