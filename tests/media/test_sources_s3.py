"""s3:// sources against moto's S3 server on 127.0.0.1 (a real HTTP endpoint, in this process)."""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from labelport.media import FetchConfig, Fetcher, FetchError, open_source, probe_source
from labelport.media.sources import parse_s3_url
from media_factory import make_png

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str
    client: Any

    def config(self, **overrides: Any) -> FetchConfig:
        return FetchConfig(allow_s3=True, s3_endpoint_url=self.endpoint, **overrides)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[S3]:
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        mp.setenv(key, value)
    mp.delenv("LABELPORT_S3_ENDPOINT_URL", raising=False)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"media-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield S3(endpoint, bucket, client)
    finally:
        server.stop()
        mp.undo()


def _big_png_bytes() -> bytes:
    rng = random.Random(3)
    im = Image.frombytes("RGB", (500, 400), rng.randbytes(500 * 400 * 3))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def test_fetch_to_an_owned_temp_file(s3: S3, tmp_path) -> None:
    data = make_png(tmp_path / "a.png", 30, 20).read_bytes()
    url = s3.put("imgs/a.png", data, "image/png")
    with Fetcher(s3.config()) as fetcher, fetcher.fetch(url) as result:
        assert result.owned is True and result.read_bytes() == data
        assert result.sha256 == hashlib.sha256(data).hexdigest() and result.size == len(data)
        assert result.filename == "a.png" and result.content_type == "image/png"
        assert result.etag and result.last_modified and result.final_url == url
        path = result.path
    assert not path.exists()


def test_a_body_within_keep_bytes_stays_in_memory_and_a_longer_one_goes_to_a_file(
    s3: S3, tmp_path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    small = make_png(tmp_path / "s.png", 30, 20).read_bytes()
    large = _big_png_bytes()
    with Fetcher(s3.config(temp_dir=str(temp))) as fetcher:
        with fetcher.fetch(s3.put("imgs/s.png", small, "image/png"), keep_bytes=len(small)) as kept:
            assert kept.path is None and kept.data == small and list(temp.iterdir()) == []
            assert kept.sha256 == hashlib.sha256(small).hexdigest() and kept.size == len(small)
            assert kept.filename == "s.png" and kept.content_type == "image/png"
            assert kept.read_bytes() == small
            written = kept.local_file()  # for a reader that needs a file: written now
            assert written.parent == temp and written.read_bytes() == small
        assert list(temp.iterdir()) == []
        url = s3.put("imgs/big.png", large, "image/png")
        with fetcher.fetch(url, keep_bytes=len(large) - 1) as spooled:
            assert spooled.data is None and spooled.owned and spooled.path is not None
            assert spooled.path.parent == temp and spooled.read_bytes() == large
            assert spooled.sha256 == hashlib.sha256(large).hexdigest()
        assert list(temp.iterdir()) == []
        with fetcher.fetch(s3.put("imgs/empty.bin", b""), keep_bytes=10) as empty:
            assert empty.data == b"" and empty.size == 0 and empty.path is None


def test_refused_unless_allowed_and_bucket_listed(s3: S3) -> None:
    url = s3.put("imgs/b.bin", b"b")
    with pytest.raises(FetchError) as off:
        Fetcher(FetchConfig(s3_endpoint_url=s3.endpoint)).fetch(url)
    assert off.value.code == "media.url_refused" and "allow_s3" in off.value.message
    with pytest.raises(FetchError) as other:
        Fetcher(s3.config(s3_buckets=frozenset({"elsewhere"}))).fetch(url)
    assert other.value.code == "media.url_refused"
    with Fetcher(s3.config(s3_buckets=frozenset({s3.bucket}))) as fetcher:
        assert fetcher.fetch(url).read_bytes() == b"b"


def test_missing_object_and_bucket(s3: S3) -> None:
    with Fetcher(s3.config()) as fetcher:
        for url in (f"s3://{s3.bucket}/nope.png", "s3://no-such-bucket-x/nope.png"):
            with pytest.raises(FetchError) as err:
                fetcher.fetch(url)
            assert err.value.code == "media.file_not_found"


@pytest.mark.parametrize(
    "url", ["s3://", "s3://bucket-only", "s3://bucket-only/", "s3://Bad_Bucket/k", "s3:bucket/k"]
)
def test_malformed_s3_urls(url: str) -> None:
    with pytest.raises(FetchError) as err:
        parse_s3_url(url)
    assert err.value.code == "media.url_invalid"


def test_key_is_taken_literally() -> None:
    assert parse_s3_url("s3://bkt/a%20b/c?.png") == ("bkt", "a%20b/c?.png")


def test_size_limit(s3: S3) -> None:
    url = s3.put("imgs/big.bin", b"x" * 5000)
    with pytest.raises(FetchError) as err:
        Fetcher(s3.config(max_bytes=1000)).fetch(url)
    assert err.value.code == "media.too_large"


def test_probe_reads_only_the_header_range(s3: S3) -> None:
    data = _big_png_bytes()
    assert len(data) > 64 * 1024
    url = s3.put("imgs/big.png", data, "image/png")
    found = probe_source(url, s3.config())
    assert (found.probe.width, found.probe.height) == (500, 400)
    assert found.header_only is True and found.size == len(data) and found.sha256 is None
    assert found.etag and found.last_modified and found.filename == "big.png"


def test_probe_small_object_and_empty_object(s3: S3, tmp_path) -> None:
    data = make_png(tmp_path / "s.png", 12, 8).read_bytes()
    found = probe_source(s3.put("imgs/s.png", data, "image/png"), s3.config())
    assert found.header_only is False and found.sha256 == hashlib.sha256(data).hexdigest()
    assert found.size == len(data)
    with pytest.raises(Exception) as err:
        probe_source(s3.put("imgs/empty.png", b""), s3.config())
    assert err.value.code == "media.unsupported_type"  # type: ignore[attr-defined]


def test_open_source_streams_an_object(s3: S3) -> None:
    data = bytes(range(256)) * 1000
    url = s3.put("clips/raw.bin", data, "video/mp4")
    stream, content_type, size = open_source(url, s3.config())
    with stream:
        assert stream.read(10) == data[:10]
        assert stream.read() == data[10:]
    assert (content_type, size) == ("video/mp4", len(data))
    with pytest.raises(FetchError) as err:
        open_source(url, FetchConfig())
    assert err.value.code == "media.url_refused"
