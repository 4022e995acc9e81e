"""http(s) sources: header probing with Range, the full-fetch fallback, and streaming."""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from labelport.media import FetchConfig, Fetcher, FetchError, ProbeError, open_source, probe_source
from media_factory import make_mp4, make_png

FAST = dict(allow_private=True, backoff_base=0.01, backoff_max=0.05, connect_timeout=2.0)


@dataclass
class RangeServer:
    """Serves ``files`` on 127.0.0.1; honours ``Range`` only when ``ranges`` is on."""

    files: dict[str, tuple[bytes, str]]
    ranges: bool
    port: int = 0
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    sent: int = 0  # body bytes written
    redirects: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


def _handler(state: RangeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            asked = self.headers.get("Range")
            with state.lock:
                state.requests.append((path, asked))
            if path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path not in state.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, content_type = state.files[path]
            match = re.fullmatch(r"bytes=(\d+)-(\d+)", asked or "")
            if state.ranges and match:
                start, end = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
            self.send_header("Last-Modified", "Tue, 01 Apr 2025 10:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)
            with state.lock:
                state.sent += len(body)

    return Handler


@contextmanager
def serve(files: dict[str, tuple[bytes, str]], *, ranges: bool) -> Iterator[RangeServer]:
    state = RangeServer(files, ranges)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _big_jpeg(width: int = 1200, height: int = 900) -> bytes:
    # Noise does not compress: the file is far larger than the 64 KiB probe window.
    import random

    rng = random.Random(7)
    im = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, tuple[bytes, str]]:
    folder = tmp_path_factory.mktemp("media")
    small_png = make_png(folder / "small.png", 40, 30).read_bytes()
    clip = make_mp4(folder / "clip.mp4", frames=15, fps=5).read_bytes()
    big = _big_jpeg()
    assert len(big) > 4 * 64 * 1024
    return {
        "big.jpg": (big, "image/jpeg"),
        "small.png": (small_png, "image/png"),
        "clip.mp4": (clip, "video/mp4"),
        "empty.png": (b"", "image/png"),
    }


def test_big_image_is_probed_from_its_header(media) -> None:
    big = media["big.jpg"][0]
    with serve(media, ranges=True) as srv:
        found = probe_source(srv.url("big.jpg"), FetchConfig(**FAST))
    assert (found.probe.media_type, found.probe.width, found.probe.height) == ("image", 1200, 900)
    assert found.size == len(big) and found.header_only is True and found.sha256 is None
    assert found.probe.extra.get("header_only") is True
    assert found.filename == "big.jpg" and found.content_type == "image/jpeg"
    assert found.etag == f'"{hashlib.md5(big).hexdigest()}"'
    assert found.last_modified == "Tue, 01 Apr 2025 10:00:00 GMT"
    assert srv.requests == [("big.jpg", "bytes=0-65535")]
    assert srv.sent == 64 * 1024  # not one byte more than the probe window


def test_server_ignoring_range_is_read_once_in_full(media) -> None:
    big = media["big.jpg"][0]
    with serve(media, ranges=False) as srv:
        found = probe_source(srv.url("big.jpg"), FetchConfig(**FAST))
    assert found.header_only is False and found.probe.width == 1200
    assert found.size == len(big) and found.sha256 == hashlib.sha256(big).hexdigest()
    assert len(srv.requests) == 1  # the whole body kept coming: read on, not asked again


def test_small_image_in_the_window_gets_a_full_probe(media) -> None:
    png = media["small.png"][0]
    with serve(media, ranges=True) as srv:
        found = probe_source(srv.url("small.png"), FetchConfig(**FAST))
    assert found.header_only is False and found.sha256 == hashlib.sha256(png).hexdigest()
    assert found.size == len(png) and found.probe.width == 40
    assert len(srv.requests) == 1


def test_video_falls_back_to_a_full_fetch(media) -> None:
    clip = media["clip.mp4"][0]
    config = FetchConfig(**FAST, probe_bytes=1024)  # the clip is larger than the window
    with serve(media, ranges=True) as srv:
        found = probe_source(srv.url("clip.mp4"), config)
        assert srv.requests == [("clip.mp4", "bytes=0-1023"), ("clip.mp4", None)]
        declared = probe_source(srv.url("clip.mp4"), config, media_type="video")
        assert srv.requests[2:] == [("clip.mp4", None)]  # declared video: no Range try
    for result in (found, declared):
        assert result.probe.media_type == "video" and result.probe.frame_count == 15
        assert result.size == len(clip) and result.sha256 == hashlib.sha256(clip).hexdigest()


def test_header_only_off_reads_everything(media) -> None:
    with serve(media, ranges=True) as srv:
        found = probe_source(srv.url("big.jpg"), FetchConfig(**FAST), header_only=False)
    assert found.header_only is False and srv.requests == [("big.jpg", None)]


def test_header_that_does_not_fit_the_window_falls_back(media) -> None:
    big = media["big.jpg"][0]
    with serve(media, ranges=True) as srv:
        # 100 bytes hold the JPEG start but not its frame header.
        found = probe_source(srv.url("big.jpg"), FetchConfig(**FAST, probe_bytes=100))
        assert [r[1] for r in srv.requests] == ["bytes=0-99", None]
    assert found.probe.width == 1200 and found.sha256 == hashlib.sha256(big).hexdigest()


def test_empty_body_416_falls_back_and_reports_unreadable(media) -> None:
    with serve(media, ranges=True) as srv, pytest.raises(Exception) as err:
        probe_source(srv.url("empty.png"), FetchConfig(**FAST))
    assert getattr(err.value, "code", None) == "media.unsupported_type"
    assert [r[1] for r in srv.requests] == ["bytes=0-65535", None]


def test_probe_limits_and_errors(media) -> None:
    with serve(media, ranges=True) as srv:
        with pytest.raises(FetchError) as too_large:
            probe_source(srv.url("big.jpg"), FetchConfig(**FAST, max_bytes=100_000))
        assert too_large.value.code == "media.too_large"
        with pytest.raises(FetchError) as missing:
            probe_source(srv.url("none.jpg"), FetchConfig(**FAST))
        assert missing.value.code == "media.http_error"


def test_probe_follows_redirects(media) -> None:
    with serve(media, ranges=True) as srv:
        srv.redirects["old.jpg"] = "/big.jpg"
        found = probe_source(srv.url("old.jpg"), FetchConfig(**FAST))
    assert found.final_url == srv.url("big.jpg") and found.url == srv.url("old.jpg")
    assert found.header_only is True


def test_fetcher_probe_is_shared_across_threads(media) -> None:
    with serve(media, ranges=True) as srv, Fetcher(FetchConfig(**FAST)) as fetcher:
        results: list[int] = []

        def run() -> None:
            results.append(fetcher.probe(srv.url("big.jpg")).size)

        threads = [threading.Thread(target=run) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [len(media["big.jpg"][0])] * 6


# -- streaming ---------------------------------------------------------------------------------


def test_open_source_streams_http(media) -> None:
    big = media["big.jpg"][0]
    with serve(media, ranges=True) as srv:
        srv.redirects["moved.jpg"] = "/big.jpg"
        stream, content_type, size = open_source(srv.url("moved.jpg"), FetchConfig(**FAST))
        with stream:
            first = stream.read(1000)
            rest = stream.read()
        assert first + rest == big and len(first) == 1000
        assert (content_type, size) == ("image/jpeg", len(big))


def test_fetcher_open_keeps_the_fetcher_usable(media) -> None:
    with serve(media, ranges=True) as srv, Fetcher(FetchConfig(**FAST)) as fetcher:
        for _ in range(3):
            opened = fetcher.open(srv.url("small.png"))
            with opened.stream as f:
                assert f.read() == media["small.png"][0]


def test_open_source_refuses_loopback_without_allow_private(media) -> None:
    with serve(media, ranges=True) as srv:
        with pytest.raises(FetchError) as err:
            open_source(srv.url("big.jpg"), FetchConfig())
        assert err.value.code == "media.url_refused"
        with pytest.raises(FetchError) as probe_err:
            probe_source(srv.url("big.jpg"), FetchConfig())
        assert probe_err.value.code == "media.url_refused"
        assert srv.requests == []  # refused before any connection


def test_open_source_rechecks_redirect_targets() -> None:
    # A public name that redirects to loopback: the hop is refused.
    files = {"x.png": (b"png", "image/png")}
    with serve(files, ranges=True) as srv:
        srv.redirects["go"] = srv.url("x.png")

        def resolver(host: str, port: int) -> list[str]:
            return ["127.0.0.1"] if host == "media.test" else []

        config = FetchConfig(resolver=resolver, trusted_hosts=frozenset({"media.test"}))
        with pytest.raises(FetchError) as err:
            open_source(f"http://media.test:{srv.port}/go", config)
        assert err.value.code == "media.url_refused"
        assert srv.requests == [("go", None)]


def test_open_source_enforces_the_size_limit(media) -> None:
    with serve(media, ranges=True) as srv, pytest.raises(FetchError) as err:
        open_source(srv.url("big.jpg"), FetchConfig(**FAST, max_bytes=1000))
    assert err.value.code == "media.too_large"


def test_plain_path_and_unknown_scheme_refused() -> None:
    for url in ("/srv/media/cat.png", "ftp://host/cat.png"):
        with pytest.raises(FetchError) as err:
            open_source(url, FetchConfig(**FAST))
        assert err.value.code == "media.url_refused"


def test_fetch_results_carry_etag(media) -> None:
    with (
        serve(media, ranges=True) as srv,
        Fetcher(FetchConfig(**FAST)) as fetcher,
        fetcher.fetch(srv.url("small.png")) as result,
    ):
        assert result.owned is True and result.etag and result.last_modified
        path = result.path
    assert not path.exists()


def test_a_header_probe_writes_no_file(media, monkeypatch) -> None:
    """The probe window is read into memory: reference media makes no temp file per source."""
    import tempfile

    def no_file(*args: object, **kwargs: object) -> None:
        raise AssertionError("a temp file was made")

    monkeypatch.setattr(tempfile, "mkstemp", no_file)
    with serve(media, ranges=True) as srv:
        found = probe_source(srv.url("big.jpg"), FetchConfig(**FAST))
    assert found.header_only is True and found.probe.width == 1200


def test_a_whole_small_image_is_probed_from_its_bytes(media, monkeypatch) -> None:
    """An image that fits in the probe window is whole in memory: its header and end marker
    settle it, as for a copied image, with no temp file and no decoding."""
    import tempfile

    def no_file(*args: object, **kwargs: object) -> None:
        raise AssertionError("a temp file was made")

    monkeypatch.setattr(tempfile, "mkstemp", no_file)
    png = media["small.png"][0]
    with serve(media, ranges=True) as srv:
        found = probe_source(srv.url("small.png"), FetchConfig(**FAST))
    assert (found.probe.media_type, found.probe.width, found.probe.height) == ("image", 40, 30)
    assert found.sha256 == hashlib.sha256(png).hexdigest() and found.header_only is False


def test_a_cut_small_image_still_gets_the_full_probe() -> None:
    """Cut short, its end marker is missing: the full probe decodes it and says so."""
    image = Image.frombytes("RGB", (64, 48), bytes(range(256)) * 36)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    whole = out.getvalue()
    files = {"cut.jpg": (whole[: len(whole) * 2 // 3], "image/jpeg")}
    with serve(files, ranges=True) as srv, pytest.raises(ProbeError) as err:
        probe_source(srv.url("cut.jpg"), FetchConfig(**FAST))
    assert err.value.code == "media.unreadable"
