"""Slow sources (issue 13, item 4): a fetch ends at its deadline or under the minimum rate,
however the server dribbles, with `media.fetch_failed` naming the bound it hit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelport.media import FetchConfig, Fetcher, FetchError
from media_factory import LocalServer, make_png, serve_directory

# read_timeout far above the bounds: only the new bounds can end these fetches in time.
SLOW = dict(allow_private=True, backoff_base=0.01, backoff_max=0.05, read_timeout=30.0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    root = tmp_path / "www"
    root.mkdir()
    make_png(root / "cat.png", 64, 48)
    (root / "big.bin").write_bytes(b"z" * 3_000_000)
    with serve_directory(root) as srv:
        yield srv


def _fetch_error(server: LocalServer, path: str, config: FetchConfig) -> tuple[FetchError, float]:
    started = time.monotonic()
    with Fetcher(config) as fetcher, pytest.raises(FetchError) as err:
        fetcher.fetch(server.url(path))
    return err.value, time.monotonic() - started


def test_dribbling_body_ends_at_the_total_deadline(server: LocalServer) -> None:
    server.dribbles["/cat.png"] = 0.1  # 10 bytes/s: the rate bound is off here
    error, took = _fetch_error(
        server, "cat.png", FetchConfig(**SLOW, total_timeout=1.5, min_rate=0)
    )
    assert error.code == "media.fetch_failed"
    assert "fetch timeout" in error.message and "1.5 s" in error.message
    assert 1.4 < took < 4.0
    assert server.requests.count("/cat.png") == 1  # a bound passed is not retried


def test_dribbling_body_ends_under_the_minimum_rate(server: LocalServer) -> None:
    server.dribbles["/cat.png"] = 0.05
    error, took = _fetch_error(
        server,
        "cat.png",
        FetchConfig(**SLOW, total_timeout=60.0, min_rate=1024, rate_grace=1.0),
    )
    assert error.code == "media.fetch_failed"
    assert "minimum rate of 1 KB/s" in error.message and "too slow" in error.message
    assert took < 4.0


def test_a_source_that_sends_nothing_is_cut_by_the_watcher(server: LocalServer) -> None:
    # No byte for longer than the deadline: no chunk arrives to check, only the watcher can end
    # the read (read_timeout is 30 s).
    server.dribbles["/cat.png"] = 20.0
    error, took = _fetch_error(
        server, "cat.png", FetchConfig(**SLOW, total_timeout=1.0, min_rate=0)
    )
    assert "fetch timeout" in error.message
    assert took < 3.0


def test_slow_headers_count_against_the_deadline(server: LocalServer) -> None:
    server.delays["/cat.png"] = 10.0
    error, took = _fetch_error(server, "cat.png", FetchConfig(**SLOW, total_timeout=1.0))
    assert error.code == "media.fetch_failed"
    assert "fetch timeout" in error.message
    assert took < 3.0


def test_a_fast_body_passes_both_bounds(server: LocalServer, tmp_path: Path) -> None:
    config = FetchConfig(**SLOW, total_timeout=10.0, min_rate=1024, rate_grace=0.0)
    with Fetcher(config) as fetcher, fetcher.fetch(server.url("big.bin")) as result:
        assert result.size == 3_000_000


def test_defaults_bound_a_fetch_to_about_a_minute() -> None:
    config = FetchConfig()
    assert config.total_timeout == 60.0
    assert config.min_rate == 10 * 1024
