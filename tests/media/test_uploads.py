import hashlib
import io

import pytest

from labelport.media import (
    FetchConfig,
    LocalBlobStore,
    MediaError,
    fetch_url,
    probe_file,
    store_fetched,
    store_inline_text,
    store_local_file,
    store_stream,
)
from labelport.media.uploads import safe_extension
from media_factory import make_png, serve_directory


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def test_local_file_is_content_addressed_and_deduplicated(store, tmp_path):
    path = make_png(tmp_path / "Photo.PNG", 10, 10)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    first = store_local_file(store, path)
    assert first.key == f"files/{sha[:2]}/{sha}.png"
    assert (first.sha256, first.original_filename) == (sha, "Photo.PNG")
    again = store_local_file(store, path, original_filename="other.png")
    assert again.key == first.key
    with store.open(first.key) as f:
        assert f.read() == path.read_bytes()


def test_missing_local_file(store, tmp_path):
    with pytest.raises(MediaError) as err:
        store_local_file(store, tmp_path / "nope.jpg")
    assert err.value.code == "media.file_not_found"


def test_stream_upload_and_limit(store):
    stored = store_stream(store, io.BytesIO(b"abc" * 1000), "clip.mp4")
    assert stored.key.endswith(".mp4") and stored.size == 3000
    with pytest.raises(MediaError) as err:
        store_stream(store, io.BytesIO(b"x" * 5000), "big.bin", max_bytes=4096)
    assert err.value.code == "media.too_large"


def test_inline_text_stored_as_txt_byte_for_byte(store):
    text = "Zoë\r\nline two."
    stored = store_inline_text(store, text, original_filename="notes.md")
    assert stored.key.endswith(".txt")
    assert stored.original_filename == "notes.md"
    with store.open(stored.key) as f:
        assert f.read().decode("utf-8") == text
    assert probe_file(store.local_path(stored.key), "text").token_count == 4


def test_fetched_body_stored(store, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    make_png(www / "a.png", 4, 4)
    with (
        serve_directory(www) as srv,
        fetch_url(srv.url("a.png"), FetchConfig(allow_private=True)) as result,
    ):
        stored = store_fetched(store, result)
    assert stored.key.endswith(".png")
    assert store.size(stored.key) == (www / "a.png").stat().st_size


def test_safe_extension():
    assert safe_extension("a.JPG") == ".jpg"
    assert safe_extension("archive.tar.gz") == ".gz"
    assert safe_extension("../../evil.sh/..") == ""
    assert safe_extension("weird.ex t") == ""
    assert safe_extension(None) == ""
