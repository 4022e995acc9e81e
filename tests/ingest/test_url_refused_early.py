"""Media URLs the fetch would refuse unfetched are refused at submit (issue 13, item 10): a
file:// URL outside the media roots and a private or loopback address literal (or localhost)
while private URLs are not allowed answer 422 with ``media.url_refused`` at ``media/url`` and
leave no import; in a batch such a line fails alone in the batch job's checks, before any fetch
is tried for it. No DNS at submit: a name's addresses are still the job's to check.

On SQLite and PostgreSQL (`database`)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from ingest_helpers import Media, Project

from labelport import format as fmt
from labelport.api import create_app
from labelport.ingest.intake import MediaResolver, url_refused
from labelport.media import FetchConfig
from labelport.service import Service
from server_helpers import make_project

REFUSED = ("media.url_refused", "media/url")
PRIVATE_URLS = [
    "http://127.0.0.1:9/a.png",
    "http://[::1]/a.png",
    "http://localhost:8000/a.png",
    "http://LOCALHOST./a.png",
    "http://api.localhost/a.png",
    "http://10.0.0.7/a.png",
    "http://169.254.169.254/latest/meta-data/",
    "https://192.168.1.1/a.png",
    "http://[::ffff:127.0.0.1]/a.png",
    "http://0.0.0.0/a.png",
]


@pytest.fixture
def roots(tmp_path: Path, media_root: Path) -> dict[str, Path]:
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "image.png").write_bytes((media_root / "image.png").read_bytes())
    return {"inside": inside, "outside": media_root}


@pytest.fixture
def guarded(database: Any, tmp_path: Path, roots: dict[str, Path]) -> Iterator[Service]:
    """A Service as deployed: private URLs refused, one local media root."""
    svc = Service.open(
        data_dir=tmp_path / "guarded",
        database_url=database.url,
        workers=1,
        media_roots=[roots["inside"]],
    )
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def guarded_project(guarded: Service) -> Project:
    created = guarded.create_project("Guarded project")
    labels = guarded.create_labels(created["id"], ["cat"])
    return Project(guarded, created["id"], {label["name"]: label["id"] for label in labels})


def _packet(url: str, **rest: Any) -> dict[str, Any]:
    box = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
    return {"media": {"url": url, "type": "image"}, "instance_list": [box], **rest}


def _codes(problems: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(p["code"], p["path"]) for p in problems]


def _imports(service: Service, project_id: int) -> int:
    """Imports other than the records of refusals (status `rejected`, docs/imports.md)."""
    items, _ = service.list_imports(project_id, per_page=500)
    return sum(1 for i in items if i["status"] != "rejected")


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_a_private_address_is_refused_at_submit(guarded_project: Project, url: str) -> None:
    problems = guarded_project.rejected(_packet(url))
    assert REFUSED in _codes(problems), problems
    assert _imports(guarded_project.service, guarded_project.id) == 0


def test_a_file_url_outside_the_media_roots_is_refused_at_submit(
    guarded_project: Project, roots: dict[str, Path]
) -> None:
    outside = (roots["outside"] / "image.png").as_uri()
    problems = guarded_project.rejected(_packet(outside))
    assert _codes(problems) == [REFUSED]
    assert "not under a local media root" in problems[0]["message"]
    escape = roots["inside"].as_uri() + "/../" + roots["outside"].name + "/image.png"
    assert _codes(guarded_project.rejected(_packet(escape))) == [REFUSED]
    assert _imports(guarded_project.service, guarded_project.id) == 0
    # Under the root the same packet goes through and imports.
    inside = (roots["inside"] / "image.png").as_uri()
    done = guarded_project.run(_packet(inside))
    assert done["status"] == "success", done


def test_skip_instances_does_not_let_a_refused_url_through(guarded_project: Project) -> None:
    packet = _packet("http://127.0.0.1:9/a.png", on_error="skip_instances")
    packet["instance_list"].append({"type": "box", "name": "nope", "x_min": 1})
    assert REFUSED in _codes(guarded_project.rejected(packet))
    assert _imports(guarded_project.service, guarded_project.id) == 0


def test_a_refused_url_makes_no_label(guarded_project: Project) -> None:
    packet = _packet("http://127.0.0.1:9/a.png", auto_create_labels=True)
    packet["instance_list"][0]["name"] = "brand new"
    assert REFUSED in _codes(guarded_project.rejected(packet))
    names = {label["name"] for label in guarded_project.service.list_labels(guarded_project.id)}
    assert names == {"cat"}


def test_a_dry_run_reports_it_without_a_fetch(guarded_project: Project) -> None:
    answer = guarded_project.submit(_packet("http://10.1.2.3/a.png"), dry_run=True)
    assert answer["status"] == "dry_run"
    assert REFUSED in _codes(answer["problems"])


def test_the_http_answer_is_422_with_the_problem(guarded: Service) -> None:
    keys = make_project(guarded, "Guarded over HTTP")
    guarded.create_labels(keys.id, ["cat"])
    with TestClient(create_app(guarded), raise_server_exceptions=False) as client:
        client.auth = keys.auth("editor")
        response = client.post(keys.url("/packets"), json=_packet("http://127.0.0.1:9/a.png"))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "packet.rejected"
        assert REFUSED in _codes(error["problems"])
        listed = client.get(keys.url("/imports")).json()["items"]
        assert [i["status"] for i in listed] == ["rejected"]  # the refusal's record only


def test_private_urls_allowed_are_accepted(service: Service, project: Project, media: Media):
    """The ingest fixtures allow private URLs: the loopback media server stays usable."""
    done = project.run(_packet(media.url("image.png")))
    assert done["status"] == "success", done


def test_a_batch_line_fails_alone_before_any_fetch(
    guarded: Service,
    guarded_project: Project,
    roots: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolved: list[str | None] = []
    resolve = MediaResolver.resolve

    def recording(self: MediaResolver, project_id: int, packet: Any, *a: Any, **k: Any) -> Any:
        resolved.append(packet.media.url if packet.media is not None else None)
        return resolve(self, project_id, packet, *a, **k)

    monkeypatch.setattr(MediaResolver, "resolve", recording)
    good = (roots["inside"] / "image.png").as_uri()
    outside = (roots["outside"] / "image.png").as_uri()
    lines = [_packet(good), _packet("http://127.0.0.1:9/a.png"), _packet(outside), _packet(good)]
    body = b"".join(msgspec.json.encode(p) + b"\n" for p in lines)
    batch = guarded.submit_batch(guarded_project.id, body)
    ended = guarded.wait_batch(guarded_project.id, batch["id"], timeout=60)
    assert ended["status"] == "partial", ended
    files = guarded.get_batch(guarded_project.id, batch["id"], per_page=100)["files"]
    # refused before any fetch, as a single packet's 422 (docs/imports.md)
    assert [f["status"] for f in files] == ["success", "rejected", "rejected", "success"]
    for f in files[1:3]:
        assert _codes(f["problems"]) == [REFUSED], f
    assert resolved == [good, good]  # the refused lines were never fetched


def test_no_dns_at_submit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A host name is not resolved before acceptance (the job resolves and checks it)."""

    def no_dns(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("DNS was asked at submit")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    config = FetchConfig(local_roots=(tmp_path,))
    for url, refused in [
        ("https://media.example.com/a.png", False),
        ("http://localhost/a.png", True),
        ("http://8.8.8.8/a.png", False),
        ("ftp://8.8.8.8/a.png", True),
        ((tmp_path / "missing.png").as_uri(), False),  # not found is the job's to say
        ("file:///etc/passwd", True),
        ("s3://media-bucket/cat.png", True),  # s3:// is off unless buckets are configured
    ]:
        packet, report = fmt.decode_packet(msgspec.json.encode(_packet(url)))
        assert packet is not None, report.problems
        assert url_refused(packet, config, report) is refused, url
        assert [(p.code, p.path) for p in report.problems] == ([REFUSED] if refused else [])
    allowed = FetchConfig(allow_private=True)
    packet, report = fmt.decode_packet(msgspec.json.encode(_packet("http://127.0.0.1/a.png")))
    assert packet is not None and url_refused(packet, allowed, report) is False


def test_the_job_still_refuses_a_name_that_resolves_to_loopback(
    guarded_project: Project, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted at submit (a name, not resolved there); its DNS answer is loopback, so the job
    refuses it before connecting, as it did before submit checked anything."""
    real = socket.getaddrinfo

    def loopback_name(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "media.example.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_name)
    port = media.url("image.png").split(":")[2].split("/")[0]
    requests_before = len(media.server.requests)
    done = guarded_project.run(_packet(f"http://media.example.test:{port}/image.png"))
    assert done["status"] == "failed"
    assert [(p["code"], p["path"]) for p in done["problems"]] == [("media.url_refused", "media")]
    assert len(media.server.requests) == requests_before
