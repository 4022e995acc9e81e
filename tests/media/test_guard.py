"""The SSRF guard, ON (allow_private=False). No test here sends traffic beyond 127.0.0.1:
refused addresses are refused before any connection, which the recording transports prove."""

import httpx
import pytest

from labelport.media import FetchConfig, FetchError, fetch_url
from labelport.media.guard import address_refusal, resolve_checked, system_resolver
from media_factory import make_png, serve_directory

BLOCKED = [
    "127.0.0.1", "127.8.9.1", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:0a00:0001::1",
]  # fmt: skip
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address):
    assert address_refusal(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address):
    assert address_refusal(address) is None


def _no_network_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"should never be reached")

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/x.png",
        "http://[::1]/x.png",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "https://192.168.0.10/",
        "http://2130706433/",  # 127.0.0.1 as a single decimal number
    ],
)
def test_direct_private_urls_refused_before_connecting(url):
    seen: list[httpx.Request] = []
    config = FetchConfig(transport=_no_network_transport(seen))
    with pytest.raises(FetchError) as err:
        fetch_url(url, config)
    assert err.value.code == "media.url_refused"
    assert err.value.message
    assert seen == []


def test_a_name_resolving_to_any_private_address_is_refused():
    seen: list[httpx.Request] = []

    def resolver(host, port):
        return ["93.184.216.34", "10.1.2.3"]

    config = FetchConfig(resolver=resolver, transport=_no_network_transport(seen))
    with pytest.raises(FetchError) as err:
        fetch_url("http://mixed.example/x", config)
    assert err.value.code == "media.url_refused"
    assert "10.1.2.3" in err.value.message
    assert seen == []


def test_connects_to_the_checked_address_not_a_second_lookup():
    """DNS rebinding: the first answer is checked and used; later answers are never asked."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    calls = []

    def resolver(host, port):
        calls.append(host)
        return next(answers)

    seen: list[httpx.Request] = []
    config = FetchConfig(resolver=resolver, transport=_no_network_transport(seen))
    with fetch_url("https://rebind.example/a.png", config) as result:
        assert result.read_bytes() == b"should never be reached"
        assert result.final_url == "https://rebind.example/a.png"
    assert calls == ["rebind.example"]
    (request,) = seen
    assert request.url.host == "93.184.216.34"
    assert request.headers["host"] == "rebind.example"
    assert request.extensions["sni_hostname"] == "rebind.example"


@pytest.fixture
def server(tmp_path):
    make_png(tmp_path / "cat.png", 8, 8)
    with serve_directory(tmp_path) as srv:
        yield srv


def _first_hop_only(server) -> FetchConfig:
    """Guard ON; only the name 'media.test' is trusted and resolves to the local server."""

    def resolver(host, port):
        if host == "media.test":
            return ["127.0.0.1"]
        if host == "localhost":
            return system_resolver(host, port)  # /etc/hosts, no traffic
        raise OSError(f"test resolver does not know {host}")

    return FetchConfig(trusted_hosts=frozenset({"media.test"}), resolver=resolver, max_attempts=1)


def test_trusted_first_hop_works(server):
    with fetch_url(server.url("cat.png", host="media.test"), _first_hop_only(server)) as result:
        assert result.size == (server.root / "cat.png").stat().st_size


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://10.0.0.1/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/cat.png",
        "http://[::1]:{port}/cat.png",
        "http://[::ffff:127.0.0.1]:{port}/cat.png",
        "http://0.0.0.0:{port}/cat.png",
        "file:///etc/passwd",
    ],
)
def test_redirect_to_private_address_refused(server, target):
    server.redirect("start", target.format(port=server.port))
    with pytest.raises(FetchError) as err:
        fetch_url(server.url("start", host="media.test"), _first_hop_only(server))
    assert err.value.code == "media.url_refused"
    assert server.requests == ["/start"]  # the redirect target was never requested


def test_resolve_checked_allow_private_and_literal():
    assert resolve_checked("127.0.0.1", 80, allow_private=True) == ["127.0.0.1"]
    assert resolve_checked("[::1]", 80, allow_private=True) == ["::1"]
    with pytest.raises(FetchError):
        resolve_checked("127.0.0.1", 80)
