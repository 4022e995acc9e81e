import hashlib
import io
import os
import threading

import pytest

from labelport.media import (
    BlobError,
    BlobStore,
    LocalBlobStore,
    content_key,
    local_copy,
    put_content_addressed,
    validate_key,
)


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def test_local_store_satisfies_protocol(store):
    assert isinstance(store, BlobStore)


def test_put_open_exists_size_delete(store):
    stored = store.put_bytes("packets/imp-1.json", b'{"a": 1}')
    assert stored.size == 8
    assert stored.sha256 == hashlib.sha256(b'{"a": 1}').hexdigest()
    assert store.exists("packets/imp-1.json")
    assert store.size("packets/imp-1.json") == 8
    with store.open("packets/imp-1.json") as f:
        assert f.read() == b'{"a": 1}'
    assert store.local_path("packets/imp-1.json").read_bytes() == b'{"a": 1}'
    assert store.delete("packets/imp-1.json") is True
    assert not store.exists("packets/imp-1.json")
    assert store.delete("packets/imp-1.json") is False


def test_put_stream_and_file_hash_while_storing(store, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    stored = store.put_stream("files/x.bin", io.BytesIO(data))
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    assert store.put_file("files/y.bin", src).sha256 == hashlib.sha256(b"hello").hexdigest()


def test_missing_blob_errors_have_codes(store):
    with pytest.raises(BlobError) as err:
        store.open("files/nope.jpg")
    assert err.value.code == "media.blob_not_found"
    with pytest.raises(BlobError) as err:
        store.size("files/nope.jpg")
    assert err.value.code == "media.blob_not_found"


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../outside", "files/../../x", "a//b", "./a", "files/.hidden",
     "a\\b", "files/a b", "files/\x00"],
)  # fmt: skip
def test_escaping_or_malformed_keys_refused(store, key):
    with pytest.raises(BlobError) as err:
        store.put_bytes(key, b"x")
    assert err.value.code == "media.blob_key_invalid"
    with pytest.raises(BlobError):
        store.open(key)


def test_symlink_out_of_root_refused(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "link").symlink_to(outside)
    with pytest.raises(BlobError) as err:
        store.put_bytes("link/x.txt", b"x")
    assert err.value.code == "media.blob_key_invalid"
    assert not (outside / "x.txt").exists()


def test_failed_write_leaves_old_blob_and_no_temp(store):
    store.put_bytes("files/a.txt", b"old")

    class Broken(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def readable(self):
            return True

        def read(self, n=-1):
            self.calls += 1
            if self.calls == 1:
                return b"new partial data"
            raise OSError("connection reset")

    with pytest.raises(OSError):
        store.put_stream("files/a.txt", Broken())
    with store.open("files/a.txt") as f:
        assert f.read() == b"old"
    assert list((store.root / ".tmp").iterdir()) == []  # no temp file, nor its folder


def test_readers_never_see_partial_writes(store):
    big_a, big_b = b"a" * 2_000_000, b"b" * 2_000_000
    store.put_bytes("files/race.bin", big_a)
    seen = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            with store.open("files/race.bin") as f:
                seen.add(f.read())

    t = threading.Thread(target=reader)
    t.start()
    for i in range(20):
        store.put_bytes("files/race.bin", big_b if i % 2 else big_a)
    stop.set()
    t.join()
    assert seen <= {big_a, big_b}


def test_content_key_layout_and_validation():
    sha = hashlib.sha256(b"x").hexdigest()
    assert content_key(sha, ".jpg") == f"files/{sha[:2]}/{sha}.jpg"
    with pytest.raises(BlobError):
        content_key("../../etc", ".jpg")
    assert validate_key("packets/0f3a-12.json") == "packets/0f3a-12.json"


def test_put_content_addressed_dedupes(store, tmp_path):
    src = tmp_path / "photo.jpg"
    src.write_bytes(b"same bytes")
    first = put_content_addressed(store, src, ".jpg")
    second = put_content_addressed(store, src, ".jpg")
    assert first == second
    assert first.key.startswith("files/") and first.key.endswith(".jpg")
    with local_copy(store, first.key) as path:
        assert path.read_bytes() == b"same bytes"


def test_put_content_addressed_from_bytes_and_stream(store):
    from_bytes = put_content_addressed(store, b"payload", ".txt")
    from_stream = put_content_addressed(store, io.BytesIO(b"payload"), ".txt")
    assert from_bytes == from_stream
    assert from_bytes.sha256 == hashlib.sha256(b"payload").hexdigest()
    assert store.size(from_bytes.key) == 7
