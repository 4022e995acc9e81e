"""Blob puts without a per-file fsync (``durable=False``), made durable by one `sync()`."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from labelport.media import LocalBlobStore, put_content_addressed, store_fetched
from labelport.media import blobs as blobs_module
from labelport.media.blobs import BlobStore, local_copy
from labelport.media.errors import BLOB_NOT_FOUND, BlobError, MediaError
from labelport.media.fetch import FetchResult


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def temp_files(store: LocalBlobStore) -> list[Path]:
    return [p for p in (store.root / ".tmp").rglob("*") if p.is_file()]


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(blobs_module.os, "fsync", counting)
    return calls


def test_deferred_puts_skip_fsync_and_are_readable_before_sync(store, fsyncs) -> None:
    assert isinstance(store, BlobStore)
    a = store.put_bytes("files/a.bin", b"alpha", durable=False)
    b = store.put_stream("files/b.bin", io.BytesIO(b"beta"), durable=False)
    assert fsyncs == []
    assert a.sha256 == hashlib.sha256(b"alpha").hexdigest() and b.size == 4
    # Not at its place yet (a crash now must not leave a key pointing at unflushed data) ...
    assert not (store.root / "files/a.bin").exists()
    # ... but this store serves it.
    assert store.exists("files/a.bin") and store.size("files/a.bin") == 5
    with store.open("files/a.bin") as f:
        assert f.read() == b"alpha"
    with local_copy(store, "files/b.bin") as path:
        assert path.read_bytes() == b"beta"
    # Another store on the same root (another worker) does not see unsynced blobs.
    assert not LocalBlobStore(store.root).exists("files/a.bin")


def test_sync_moves_blobs_into_place_with_one_flush(store, fsyncs, monkeypatch) -> None:
    flushes: list[Path] = []
    real = blobs_module._sync_file_system
    monkeypatch.setattr(
        blobs_module, "_sync_file_system", lambda p: (flushes.append(p), real(p))[1]
    )
    for i in range(20):
        store.put_bytes(f"files/{i}.bin", str(i).encode(), durable=False)
    store.sync()
    assert fsyncs == [] and flushes == [store.root, store.root]  # data, then the renames
    other = LocalBlobStore(store.root)
    assert all(other.exists(f"files/{i}.bin") for i in range(20))
    assert (store.root / "files/7.bin").read_bytes() == b"7"
    assert list((store.root / ".tmp").iterdir()) == []  # nor its folder
    store.sync()  # nothing pending: no flush at all
    assert len(flushes) == 2


def test_sync_uses_syncfs(store, monkeypatch) -> None:
    calls: list[int] = []

    class FakeLibc:
        def syncfs(self, fd: int) -> int:
            calls.append(fd)
            return 0

    monkeypatch.setattr(blobs_module, "_LIBC", FakeLibc())
    monkeypatch.setattr(blobs_module.os, "sync", lambda: pytest.fail("os.sync used"))
    store.put_bytes("files/x.bin", b"x", durable=False)
    store.sync()
    assert len(calls) == 2


def test_sync_falls_back_to_os_sync(store, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(blobs_module, "_LIBC", False)
    monkeypatch.setattr(blobs_module.os, "sync", lambda: calls.append("sync"))
    store.put_bytes("files/x.bin", b"x", durable=False)
    store.sync()
    assert calls == ["sync", "sync"] and store.local_path("files/x.bin") == (
        store.root / "files/x.bin"
    )


def test_real_syncfs_runs(store) -> None:
    store.put_bytes("files/real.bin", b"r", durable=False)
    store.sync()
    assert (store.root / "files/real.bin").read_bytes() == b"r"


def test_durable_default_still_fsyncs(store, fsyncs) -> None:
    store.put_bytes("files/d.bin", b"d")
    assert len(fsyncs) == 1 and (store.root / "files/d.bin").read_bytes() == b"d"


def test_later_put_wins_and_delete_drops_pending(store) -> None:
    store.put_bytes("files/k.bin", b"one", durable=False)
    store.put_bytes("files/k.bin", b"two", durable=False)
    assert len(temp_files(store)) == 1  # the first temp file is gone
    store.put_bytes("files/k.bin", b"three")  # a durable put supersedes the pending one
    store.sync()
    assert (store.root / "files/k.bin").read_bytes() == b"three"
    store.put_bytes("files/gone.bin", b"g", durable=False)
    assert store.delete("files/gone.bin") is True
    assert not store.exists("files/gone.bin")
    with pytest.raises(BlobError) as err:
        store.open("files/gone.bin")
    assert err.value.code == BLOB_NOT_FOUND
    store.sync()
    assert not (store.root / "files/gone.bin").exists()


def test_put_content_addressed_deferred_dedupes_before_sync(store, tmp_path) -> None:
    src = tmp_path / "src.jpg"
    src.write_bytes(b"jpeg bytes")
    first = put_content_addressed(store, src, ".jpg", durable=False)
    again = put_content_addressed(store, b"jpeg bytes", ".jpg", durable=False)
    assert first.key == again.key
    assert len(temp_files(store)) == 1
    store.sync()
    assert (store.root / first.key).read_bytes() == b"jpeg bytes"


def test_concurrent_deferred_puts_and_syncs(store) -> None:
    def writer(n: int) -> None:
        for i in range(30):
            store.put_bytes(f"files/{n}-{i}.bin", f"{n}-{i}".encode(), durable=False)
            if i % 10 == 9:
                store.sync()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.sync()
    other = LocalBlobStore(store.root)
    for n in range(4):
        for i in range(30):
            with other.open(f"files/{n}-{i}.bin") as f:
                assert f.read() == f"{n}-{i}".encode()


def test_store_fetched_refuses_a_source_changed_while_copied(store, tmp_path) -> None:
    user_file = tmp_path / "user.png"
    user_file.write_bytes(b"version 1")
    sha = hashlib.sha256(b"version 1").hexdigest()
    borrowed = FetchResult(user_file, 9, sha, "image/png", user_file.as_uri(), "user.png")
    borrowed.owned = False
    user_file.write_bytes(b"version 2")  # the user edits it between hashing and copying
    with pytest.raises(MediaError) as err:
        store_fetched(store, borrowed, durable=False)
    assert err.value.code == "media.fetch_failed"
    assert not store.exists(f"files/{sha[:2]}/{sha}.png")
    user_file.write_bytes(b"version 1")
    stored = store_fetched(store, borrowed, durable=False)
    store.sync()
    assert (store.root / stored.key).read_bytes() == b"version 1"
    assert user_file.exists()


def test_each_store_object_writes_its_temp_files_in_a_folder_of_its_own(store) -> None:
    # Import workers each open their own store on one root: one shared folder would make the
    # file system create their temp files one at a time.
    other = LocalBlobStore(store.root)
    store.put_bytes("files/a.bin", b"a", durable=False)
    other.put_bytes("files/b.bin", b"b", durable=False)
    mine, theirs = store.local_path("files/a.bin"), other.local_path("files/b.bin")
    assert mine is not None and theirs is not None
    assert mine.parent != theirs.parent and mine.parent.parent == store.root / ".tmp"
    store.sync()
    assert [p.name for p in (store.root / ".tmp").iterdir()] == [theirs.parent.name]
    assert other.open("files/b.bin").read() == b"b"  # still pending: served from its temp file
    other.sync()
    assert list((store.root / ".tmp").iterdir()) == []
    assert (store.root / "files/b.bin").read_bytes() == b"b"
    store.put_bytes("files/c.bin", b"c", durable=False)  # the folder is made again
    store.sync()
    assert (store.root / "files/c.bin").read_bytes() == b"c"
