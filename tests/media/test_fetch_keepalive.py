"""Kept-alive connections: many media from one host reuse a connection (a new one per image
cost more than the GET itself), without ever carrying another host name's request, and with the
fetch bounds still holding on a reused connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelport.media import FetchConfig, Fetcher, FetchError
from media_factory import LocalServer, make_png, serve_directory


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    root = tmp_path / "www"
    root.mkdir()
    for n in range(3):
        make_png(root / f"{n}.png", 32 + n, 24)
    with serve_directory(root) as srv:
        yield srv


def _config(**overrides: object) -> FetchConfig:
    def resolve(host: str, port: int) -> list[str]:  # every test name is this machine
        return ["127.0.0.1"]

    settings: dict[str, object] = dict(
        resolver=resolve,
        trusted_hosts=frozenset({"a.test", "b.test"}),
        backoff_base=0.01,
        backoff_max=0.05,
        read_timeout=30.0,
    )
    return FetchConfig(**{**settings, **overrides})  # type: ignore[arg-type]


def _fetch(fetcher: Fetcher, url: str) -> None:
    with fetcher.fetch(url) as result:
        assert result.size > 0


def test_one_host_reuses_its_connection(server: LocalServer) -> None:
    with Fetcher(_config()) as fetcher:
        for n in range(3):
            _fetch(fetcher, server.url(f"{n}.png", host="a.test"))
    assert len(server.peers) == 3 and len(set(server.peers)) == 1, server.peers


def test_a_connection_never_carries_another_host_names_request(server: LocalServer) -> None:
    # Both names lead to the same address: one shared connection would skip the second name's
    # own checks (its certificate, under https).
    with Fetcher(_config()) as fetcher:
        _fetch(fetcher, server.url("0.png", host="a.test"))
        _fetch(fetcher, server.url("1.png", host="b.test"))
        _fetch(fetcher, server.url("2.png", host="a.test"))
    a_first, b, a_again = server.peers
    assert a_first == a_again and b != a_first


def test_bounds_hold_on_a_reused_connection(server: LocalServer) -> None:
    # The connection is known from its first request; the watcher must still cut the second.
    with Fetcher(_config(total_timeout=1.0, min_rate=0)) as fetcher:
        _fetch(fetcher, server.url("0.png", host="a.test"))
        server.dribbles["/1.png"] = 20.0  # headers at once, then nothing
        started = time.monotonic()
        with pytest.raises(FetchError) as err:
            fetcher.fetch(server.url("1.png", host="a.test"))
        took = time.monotonic() - started
    assert "fetch timeout" in err.value.message and took < 3.0
    assert server.peers[0] == server.peers[1]  # it was the kept-alive connection


def test_slow_headers_on_a_reused_connection_end_at_the_deadline(server: LocalServer) -> None:
    with Fetcher(_config(total_timeout=1.0)) as fetcher:
        _fetch(fetcher, server.url("0.png", host="a.test"))
        server.delays["/1.png"] = 10.0
        started = time.monotonic()
        with pytest.raises(FetchError) as err:
            fetcher.fetch(server.url("1.png", host="a.test"))
        took = time.monotonic() - started
    assert "fetch timeout" in err.value.message and took < 3.0
    assert server.peers[0] == server.peers[1]
