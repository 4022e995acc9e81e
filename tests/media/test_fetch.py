import hashlib

import pytest

from labelport.media import FetchConfig, Fetcher, FetchError, fetch_url
from media_factory import make_png, serve_directory

# allow_private: the test server lives on 127.0.0.1; the guard itself is tested in test_guard.
FAST = dict(allow_private=True, backoff_base=0.01, backoff_max=0.05, connect_timeout=2.0)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    make_png(root / "cat.png", 32, 16)
    (root / "notes.txt").write_text("hello", encoding="utf-8")
    (root / "big.bin").write_bytes(b"z" * 300_000)
    with serve_directory(root) as srv:
        yield srv


def test_fetch_returns_file_hash_type_and_name(server, tmp_path):
    expected = (tmp_path / "www" / "cat.png").read_bytes()
    with fetch_url(server.url("cat.png"), FetchConfig(**FAST)) as result:
        assert result.read_bytes() == expected
        assert result.size == len(expected)
        assert result.sha256 == hashlib.sha256(expected).hexdigest()
        assert result.content_type == "image/png"
        assert result.filename == "cat.png"
        assert result.final_url == server.url("cat.png")
        path = result.path
    assert not path.exists()  # cleaned up by the context manager


def test_follows_redirects_and_reports_them(server):
    server.redirect("old/cat", "/cat.png", status=301)
    server.redirect("older", server.url("old/cat"), status=307)
    with Fetcher(FetchConfig(**FAST)) as fetcher:
        result = fetcher.fetch(server.url("older"))
    with result:
        assert result.final_url == server.url("cat.png")
        assert result.redirects == [server.url("older"), server.url("old/cat")]
        assert result.filename == "cat.png"


def test_redirect_loop_is_bounded(server):
    server.redirect("loop", "/loop")
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("loop"), FetchConfig(**FAST, max_redirects=3))
    assert err.value.code == "media.too_many_redirects"
    assert server.requests.count("/loop") == 4


def test_retries_5xx_then_succeeds(server):
    server.fail("notes.txt", times=2, status=503)
    with fetch_url(server.url("notes.txt"), FetchConfig(**FAST, max_attempts=3)) as result:
        assert result.read_bytes() == b"hello"
    assert server.requests.count("/notes.txt") == 3


def test_gives_up_after_bounded_retries(server):
    server.fail("notes.txt", times=10, status=502)
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("notes.txt"), FetchConfig(**FAST, max_attempts=3))
    assert err.value.code == "media.http_error"
    assert "502" in err.value.message
    assert server.requests.count("/notes.txt") == 3


def test_4xx_is_not_retried(server):
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("missing.png"), FetchConfig(**FAST))
    assert err.value.code == "media.http_error"
    assert "404" in err.value.message
    assert server.requests.count("/missing.png") == 1


@pytest.mark.parametrize("query", ["", "?nolength=1"])
def test_size_limit(server, tmp_path, query):
    temp = tmp_path / "fetch-tmp"
    temp.mkdir()
    config = FetchConfig(**FAST, max_bytes=100_000, temp_dir=str(temp))
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("big.bin") + query, config)
    assert err.value.code == "media.too_large"
    assert list(temp.iterdir()) == []  # the partial body is removed
    # Exactly at the limit is fine.
    ok = FetchConfig(**FAST, max_bytes=300_000, temp_dir=str(temp))
    with fetch_url(server.url("big.bin") + query, ok) as result:
        assert result.size == 300_000


def test_connection_refused_is_retried_then_fetch_failed(server):
    port = server.port
    with serve_directory(server.root) as other:
        dead = other.url("cat.png")
    # `other` is shut down: its port now refuses connections.
    with pytest.raises(FetchError) as err:
        fetch_url(dead, FetchConfig(**FAST, max_attempts=2))
    assert err.value.code == "media.fetch_failed"
    assert "after 2 attempts" in err.value.message
    assert port == server.port


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "data:text/plain,hi"]
)
def test_only_http_and_https(url):
    with pytest.raises(FetchError) as err:
        fetch_url(url, FetchConfig(**FAST))
    assert err.value.code == "media.url_refused"


@pytest.mark.parametrize("url", ["not a url", "http://", "http:///path"])
def test_invalid_urls(url):
    with pytest.raises(FetchError) as err:
        fetch_url(url, FetchConfig(**FAST))
    assert err.value.code in ("media.url_invalid", "media.url_refused")


def test_filename_from_content_disposition_and_type():
    import httpx

    from labelport.media.fetch import guess_filename

    url = httpx.URL("https://cdn.example/a/b/download?id=3")
    assert guess_filename(url, 'attachment; filename="../../x.jpg"', None) == "x.jpg"
    assert guess_filename(url, "attachment; filename*=UTF-8''na%C3%AFve.png", None) == "naïve.png"
    assert guess_filename(url, None, "image/png") == "download.png"
    assert guess_filename(httpx.URL("https://h/"), None, None) == "download"
    assert guess_filename(httpx.URL("https://h/p/my%20photo.JPG"), None, None) == "my photo.JPG"


def test_fetch_url_keyword_overrides(server, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    with fetch_url(server.url("notes.txt"), allow_private=True, dest_dir=dest) as result:
        assert result.path.parent == dest
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("big.bin"), allow_private=True, max_bytes=10)
    assert err.value.code == "media.too_large"
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("notes.txt"))  # the guard is on by default
    assert err.value.code == "media.url_refused"


@pytest.mark.parametrize("query", ["", "?nolength=1"])
def test_a_small_body_kept_in_memory_makes_no_temp_file(server, tmp_path, query):
    temp = tmp_path / "fetch-tmp"
    temp.mkdir()
    expected = (tmp_path / "www" / "cat.png").read_bytes()
    with Fetcher(FetchConfig(**FAST, temp_dir=str(temp))) as fetcher:
        result = fetcher.fetch(server.url("cat.png") + query, keep_bytes=len(expected))
    with result:
        assert result.data == expected and result.path is None
        assert result.sha256 == hashlib.sha256(expected).hexdigest()
        assert list(temp.iterdir()) == []
        # A reader that needs a file gets one, removed with the result.
        path = result.local_file()
        assert path.parent == temp and path.read_bytes() == expected
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("query", ["", "?nolength=1"])
def test_a_body_longer_than_kept_goes_to_a_file(server, tmp_path, query):
    """Told its length, the body goes to a file at once; not told, it moves there once it
    grows past what is kept, whole."""
    temp = tmp_path / "fetch-tmp"
    temp.mkdir()
    with Fetcher(FetchConfig(**FAST, temp_dir=str(temp))) as fetcher:
        result = fetcher.fetch(server.url("big.bin") + query, keep_bytes=100_000)
    with result:
        assert result.data is None and result.path is not None and result.path.parent == temp
        assert result.path.read_bytes() == b"z" * 300_000
        assert result.sha256 == hashlib.sha256(b"z" * 300_000).hexdigest()
    assert list(temp.iterdir()) == []
