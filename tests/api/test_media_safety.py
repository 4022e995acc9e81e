"""Stored bytes are never served as a page (issue 13, item 1): the media route answers the type
probed from the content, never one from the caller's file name or a remote server's word, with
`nosniff`, a sandbox CSP, and a download for what is not an image, a video or a sound.

On SQLite and PostgreSQL (the file row the type comes from is read from either)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.api import create_app
from labelport.media.served import safety_headers, served_type
from labelport.service import Service
from media_factory import make_png, serve_directory
from server_helpers import ProjectKeys, make_project, wait_import

SCRIPT = b"<html><script>window.pwned = 1; document.title = 'pwned'</script></html>"


@pytest.fixture
def service(database: Any, tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(
        data_dir=tmp_path / "data", database_url=database.url, allow_private_urls=True, workers=1
    )
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def project(service: Service) -> ProjectKeys:
    return make_project(service, "Hostile media")


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def png_with_script(path: Path) -> bytes:
    """A valid PNG with a page appended: the probe reads it as an image, a browser sniffing
    its tail (or told text/html) would run the script."""
    make_png(path, 32, 24)
    data = path.read_bytes() + SCRIPT
    path.write_bytes(data)
    return data


def upload(
    client: TestClient, project: ProjectKeys, name: str, data: bytes, mime: str
) -> dict[str, Any]:
    client.auth = project.auth("editor")
    response = client.post(
        project.url("/files/upload"), files={"file": (name, data, mime)}, data={"packet": "{}"}
    )
    assert response.status_code == 202, response.text
    return wait_import(client, project, response.json()["id"])


def assert_safe(response: Any) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp, csp


def test_a_png_named_html_is_served_as_png_with_safety_headers(
    client: TestClient, project: ProjectKeys, tmp_path: Path
) -> None:
    data = png_with_script(tmp_path / "x.html")
    done = upload(client, project, "x.html", data, "text/html")
    assert done["status"] == "success", done
    client.auth = project.auth("viewer")
    assert client.get(project.url(f"/files/{done['file_id']}")).json()["media_type"] == "image"

    media = client.get(project.url(f"/files/{done['file_id']}/media"))
    assert media.status_code == 200
    assert media.headers["content-type"] == "image/png"
    assert_safe(media)
    assert "content-disposition" not in media.headers  # an image is shown inertly
    assert media.content == data


def test_text_is_plain_text_and_a_download(
    client: TestClient, project: ProjectKeys, service: Service
) -> None:
    done = upload(client, project, "page.html", SCRIPT, "text/html")
    assert done["status"] == "success", done
    media = client.get(project.url(f"/files/{done['file_id']}/media"))
    assert media.status_code == 200
    assert media.headers["content-type"] == "text/plain; charset=utf-8"
    assert_safe(media)
    disposition = media.headers["content-disposition"]
    assert disposition.startswith("attachment") and "page.html" in disposition
    assert media.content == SCRIPT
    # Every way to the bytes answers the same type (the export and the tests use this one).
    stream, content_type = service.open_file_media(project.id, done["file_id"])
    with stream:
        assert stream.read() == SCRIPT
    assert content_type == "text/plain; charset=utf-8"


def test_media_kept_by_reference_gets_the_probed_type_not_the_servers(
    client: TestClient, project: ProjectKeys, service: Service, tmp_path: Path
) -> None:
    root = tmp_path / "served"
    root.mkdir()
    data = png_with_script(root / "evil.html")  # the server says text/html for it
    with serve_directory(root) as server:
        url = server.url("evil.html")
        packet = {"media": {"url": url}, "instance_list": []}
        batch = service.submit_batch(project.id, [packet], media="reference")
        ended = service.wait_batch(project.id, batch["id"], timeout=60)
        assert ended["status"] == "success", service.get_batch(project.id, batch["id"])
        (line,) = service.get_batch(project.id, batch["id"])["files"]
        row = service.store.get_file(line["file_id"], project.id)
        assert row.blob_key is None and row.source_url == url

        client.auth = project.auth("viewer")
        media = client.get(project.url(f"/files/{line['file_id']}/media"))
        assert media.status_code == 200, media.text
        assert media.headers["content-type"] == "image/png"
        assert_safe(media)
        assert media.content == data

        # The source changed into a page since its import: no longer what was probed, so a
        # download of unknown type, never text/html.
        (root / "evil.html").write_bytes(SCRIPT)
        media = client.get(project.url(f"/files/{line['file_id']}/media"))
        assert media.status_code == 200
        assert media.headers["content-type"] == "application/octet-stream"
        assert media.headers["content-disposition"].startswith("attachment")
        assert_safe(media)


@pytest.mark.parametrize(
    ("media_type", "head", "expected"),
    [
        ("image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png"),
        ("image", b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image/jpeg"),
        ("video", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 32, "video/mp4"),
        ("audio", b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        ("text", b"hello <b>world</b>", "text/plain; charset=utf-8"),
        ("geo", b'{"type": "FeatureCollection", "features": []}', "application/geo+json"),
        ("point_cloud", b"ply\nformat ascii 1.0\n", "application/octet-stream"),
        # the row and the bytes disagree: the bytes are not what was probed
        ("image", b"<html><script>alert(1)</script>", "application/octet-stream"),
        ("video", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "application/octet-stream"),
        ("image", b"", "application/octet-stream"),
    ],
)
def test_served_type_comes_from_the_row_and_the_bytes(
    media_type: str, head: bytes, expected: str
) -> None:
    assert served_type(media_type, head) == expected


def test_a_hostile_file_name_cannot_break_the_disposition_header() -> None:
    headers = safety_headers("text/plain; charset=utf-8", 'a"\r\nSet-Cookie: x=1;\u00e9.txt')
    disposition = headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith('attachment; filename="a_')
    assert "filename*=UTF-8''a%22%0D%0ASet-Cookie%3A%20x%3D1%3B%C3%A9.txt" in disposition
    assert "Content-Disposition" not in safety_headers("video/mp4", "x.html")
