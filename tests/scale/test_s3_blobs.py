"""S3BlobStore against moto's S3 server (a separate process speaking the S3 protocol)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from labelport.media.blobs import BlobStore, put_content_addressed
from labelport.media.errors import BLOB_KEY_INVALID, BLOB_NOT_FOUND, BlobError
from labelport.media.s3 import S3BlobStore, parse_storage_url


@pytest.fixture
def blobs(s3_env) -> S3BlobStore:
    return S3BlobStore.from_url(s3_env.storage_url("blobs-test"))


def test_round_trip_and_protocol(blobs: S3BlobStore, s3_env) -> None:
    assert isinstance(blobs, BlobStore)
    stored = blobs.put_bytes("packets/a.json", b'{"x": 1}')
    assert stored.sha256 == hashlib.sha256(b'{"x": 1}').hexdigest() and stored.size == 8
    assert blobs.exists("packets/a.json") and blobs.size("packets/a.json") == 8
    with blobs.open("packets/a.json") as f:
        assert f.read() == b'{"x": 1}'
    assert blobs.local_path("packets/a.json") is None
    # The object sits under the prefix, in the configured bucket.
    head = s3_env.client().head_object(Bucket=s3_env.bucket, Key="blobs-test/packets/a.json")
    assert head["ContentLength"] == 8
    assert blobs.delete("packets/a.json") is True
    assert blobs.delete("packets/a.json") is False
    assert not blobs.exists("packets/a.json")


def test_missing_and_bad_keys(blobs: S3BlobStore) -> None:
    with pytest.raises(BlobError) as missing:
        blobs.open("files/none.jpg")
    assert missing.value.code == BLOB_NOT_FOUND
    with pytest.raises(BlobError) as no_size:
        blobs.size("files/none.jpg")
    assert no_size.value.code == BLOB_NOT_FOUND
    for bad in ("../x", "/abs", "a//b", ".hidden"):
        with pytest.raises(BlobError) as exc:
            blobs.put_bytes(bad, b"x")
        assert exc.value.code == BLOB_KEY_INVALID


def test_large_stream_is_multipart_and_streamed_back(blobs: S3BlobStore, tmp_path) -> None:
    data = os.urandom(9 * 1024 * 1024 + 123)  # past boto3's 8 MiB multipart threshold
    stored = blobs.put_stream("files/big.bin", io.BytesIO(data))
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    with blobs.open("files/big.bin") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == stored.sha256
    path = tmp_path / "f.bin"
    path.write_bytes(data[:1000])
    assert blobs.put_file("files/f.bin", path).size == 1000


def test_content_addressed_reuse(blobs: S3BlobStore) -> None:
    first = put_content_addressed(blobs, b"same bytes", ".txt")
    second = put_content_addressed(blobs, io.BytesIO(b"same bytes"), ".txt")
    assert first == second and blobs.exists(first.key)


def test_unreachable_bucket_and_bad_urls(s3_env) -> None:
    with pytest.raises(ConnectionError, match="no-such-bucket"):
        S3BlobStore.from_url("s3://no-such-bucket-here/x")
    for bad in ("http://bucket/x", "s3:///x", "bucket/x"):
        with pytest.raises(ValueError):
            parse_storage_url(bad)
    assert parse_storage_url("s3://b/a/b/") == ("b", "a/b")
