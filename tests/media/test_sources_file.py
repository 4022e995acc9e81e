"""file:// media: read in place, only under the configured local roots."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from labelport.media import FetchConfig, Fetcher, FetchError, open_source, probe_source
from labelport.media.sources import fetch_file, resolve_local
from media_factory import make_jpeg, make_mp4, make_png


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    inside = tmp_path / "media"
    outside = tmp_path / "private"
    inside.mkdir()
    outside.mkdir()
    make_png(inside / "cat.png", 40, 30)
    (inside / "sub").mkdir()
    make_jpeg(inside / "sub" / "my dog%.jpg", 20, 10)
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    return inside, outside


def _config(*roots: Path) -> FetchConfig:
    return FetchConfig(local_roots=tuple(roots))


def _code(url: str, config: FetchConfig) -> str:
    with pytest.raises(FetchError) as err, Fetcher(config) as fetcher:
        fetcher.fetch(url)
    return err.value.code


def test_file_under_root_is_read_in_place_and_never_deleted(roots) -> None:
    inside, _ = roots
    data = (inside / "cat.png").read_bytes()
    with Fetcher(_config(inside)) as fetcher, fetcher.fetch((inside / "cat.png").as_uri()) as r:
        assert r.path == inside / "cat.png" and r.owned is False
        assert r.size == len(data) and r.sha256 == hashlib.sha256(data).hexdigest()
        assert r.filename == "cat.png" and r.content_type == "image/png"
        assert r.etag and r.last_modified
    assert (inside / "cat.png").read_bytes() == data  # cleanup left the user's file alone


def test_percent_encoded_path_is_decoded(roots) -> None:
    inside, _ = roots
    url = "file://" + str(inside / "sub") + "/my%20dog%25.jpg"
    with Fetcher(_config(inside)) as fetcher, fetcher.fetch(url) as r:
        assert r.path == inside / "sub" / "my dog%.jpg"
        assert r.filename == "my dog%.jpg"
    # file://localhost/... names this machine too.
    with Fetcher(_config(inside)) as fetcher:
        assert fetcher.fetch("file://localhost" + str(inside / "cat.png")).size > 0


def test_no_roots_means_refused_naming_the_setting(roots) -> None:
    inside, _ = roots
    with pytest.raises(FetchError) as err:
        Fetcher(FetchConfig()).fetch((inside / "cat.png").as_uri())
    assert err.value.code == "media.url_refused" and "local_roots" in err.value.message


def test_outside_roots_is_refused(roots) -> None:
    inside, outside = roots
    assert _code((outside / "secret.txt").as_uri(), _config(inside)) == "media.url_refused"
    # A missing file outside the roots gives the same answer: no existence oracle.
    assert _code((outside / "nope.txt").as_uri(), _config(inside)) == "media.url_refused"
    # A root is a directory, not a prefix of names.
    sibling = inside.parent / "media-evil"
    sibling.mkdir()
    (sibling / "x.png").write_bytes(b"x")
    assert _code((sibling / "x.png").as_uri(), _config(inside)) == "media.url_refused"


@pytest.mark.parametrize(
    "tail",
    ["/../private/secret.txt", "/sub/../../private/secret.txt", "/%2e%2e/private/secret.txt"],
)
def test_dot_dot_tricks_are_refused(roots, tail) -> None:
    inside, _ = roots
    assert _code("file://" + str(inside) + tail, _config(inside)) == "media.url_refused"


def test_symlink_escaping_a_root_is_refused(roots) -> None:
    inside, outside = roots
    (inside / "escape.txt").symlink_to(outside / "secret.txt")
    (inside / "dir-escape").symlink_to(outside)
    config = _config(inside)
    assert _code((inside / "escape.txt").as_uri(), config) == "media.url_refused"
    assert _code((inside / "dir-escape" / "secret.txt").as_uri(), config) == "media.url_refused"
    with pytest.raises(FetchError) as err:
        open_source((inside / "escape.txt").as_uri(), config)
    assert err.value.code == "media.url_refused"
    with pytest.raises(FetchError) as err:
        probe_source((inside / "escape.txt").as_uri(), config)
    assert err.value.code == "media.url_refused"


def test_symlink_within_the_root_and_a_symlinked_root_are_fine(roots, tmp_path) -> None:
    inside, _ = roots
    (inside / "alias.png").symlink_to(inside / "cat.png")
    with Fetcher(_config(inside)) as fetcher, fetcher.fetch((inside / "alias.png").as_uri()) as r:
        assert r.path == inside / "cat.png" and r.filename == "alias.png"
    link_root = tmp_path / "link-root"
    link_root.symlink_to(inside)
    with Fetcher(_config(link_root)) as fetcher:
        assert fetcher.fetch((link_root / "cat.png").as_uri()).path == inside / "cat.png"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/abs/path/cat.png", "media.url_refused"),  # a plain path is not a URL
        ("file:relative/cat.png", "media.url_invalid"),
        ("file://otherhost/cat.png", "media.url_refused"),
        ("file:///x/cat.png?v=1", "media.url_invalid"),
        ("file:///x/cat%00.png", "media.url_invalid"),
    ],
)
def test_malformed_file_urls(roots, url, code) -> None:
    inside, _ = roots
    assert _code(url, _config(inside)) == code


def test_missing_file_and_directory(roots) -> None:
    inside, _ = roots
    assert _code((inside / "none.png").as_uri(), _config(inside)) == "media.file_not_found"
    assert _code((inside / "sub").as_uri(), _config(inside)) == "media.file_not_found"


def test_fifo_is_not_read(roots) -> None:
    inside, _ = roots
    os.mkfifo(inside / "pipe")
    assert _code((inside / "pipe").as_uri(), _config(inside)) == "media.file_not_found"


def test_size_limit_applies(roots) -> None:
    inside, _ = roots
    config = FetchConfig(local_roots=(inside,), max_bytes=10)
    assert _code((inside / "cat.png").as_uri(), config) == "media.too_large"


def test_probe_reads_the_header_in_place(roots) -> None:
    inside, _ = roots
    found = probe_source((inside / "sub" / "my dog%.jpg").as_uri(), _config(inside))
    assert (found.probe.media_type, found.probe.width, found.probe.height) == ("image", 20, 10)
    assert found.header_only is True and found.sha256 is None
    assert found.size == (inside / "sub" / "my dog%.jpg").stat().st_size
    assert found.filename == "my dog%.jpg" and found.content_type == "image/jpeg"
    full = probe_source(
        (inside / "cat.png").as_uri(), _config(inside), header_only=False, media_type="image"
    )
    assert full.header_only is False and full.probe.width == 40


def test_probe_video_in_place_and_change_detection(roots) -> None:
    inside, _ = roots
    make_mp4(inside / "clip.mp4", frames=12, fps=6)
    url = (inside / "clip.mp4").as_uri()
    first = probe_source(url, _config(inside))
    assert first.probe.media_type == "video" and first.probe.frame_count == 12
    assert first.header_only is False
    assert probe_source(url, _config(inside)).fingerprint() == first.fingerprint()
    make_mp4(inside / "clip.mp4", frames=20, fps=6)  # replaced by another clip
    second = probe_source(url, _config(inside))
    assert second.probe.frame_count == 20 and second.fingerprint() != first.fingerprint()


def test_open_source_streams_the_file(roots) -> None:
    inside, _ = roots
    data = (inside / "cat.png").read_bytes()
    stream, content_type, size = open_source((inside / "cat.png").as_uri(), _config(inside))
    with stream:
        assert stream.read() == data
    assert (content_type, size) == ("image/png", len(data))


def test_resolve_local_returns_the_real_path(roots) -> None:
    inside, _ = roots
    url = "file://" + str(inside) + "/sub/./../cat.png"
    assert resolve_local(url, _config(inside)) == inside / "cat.png"


def test_a_real_path_found_before_is_checked_again_when_the_file_is_opened(roots) -> None:
    """`fetch_file(real=)` skips the look-up `url_refused` made a moment before, not the check:
    the file it opens must still lie under a root (a folder on the way swapped for a symlink
    out of the roots in between, say)."""
    inside, outside = roots
    config = _config(inside)
    url = (inside / "cat.png").as_uri()
    real = resolve_local(url, config)
    with fetch_file(config, url, real=real) as fetched:
        assert fetched.path == real and fetched.size == (inside / "cat.png").stat().st_size
    with pytest.raises(FetchError) as err:
        fetch_file(config, url, real=outside / "secret.txt")
    assert err.value.code == "media.url_refused"


@pytest.mark.parametrize("size", [0, 1, 4096, 4097, (3 << 20) + 5])
def test_a_file_is_hashed_whole_and_kept_only_when_small(tmp_path: Path, size: int) -> None:
    """A small file comes with its bytes (one read of the size it says); a larger one, read in
    chunks, is hashed whole and not kept. Either way size and digest are the file's."""
    data = os.urandom(size)
    (tmp_path / "f.bin").write_bytes(data)
    url = (tmp_path / "f.bin").as_uri()
    with fetch_file(_config(tmp_path), url, keep_bytes=4096) as fetched:
        assert (fetched.size, fetched.sha256) == (size, hashlib.sha256(data).hexdigest())
        assert fetched.data == (data if size <= 4096 else None)
    if size:
        with pytest.raises(FetchError) as err:
            fetch_file(FetchConfig(local_roots=(tmp_path,), max_bytes=size - 1), url)
        assert err.value.code == "media.too_large"
