"""A label's colour over the native API, the SDK and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport import palette
from labelport.api import create_app
from labelport.service import Service
from server_helpers import ProjectKeys, make_project, run_cli


@pytest.fixture
def colour_service(database: Any, tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(database_url=database.url, data_dir=tmp_path / "data", workers=0)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def colour_project(colour_service: Service) -> ProjectKeys:
    p = make_project(colour_service, "Colours")
    colour_service.create_labels(p.id, ["cat", "another"])
    return p


@pytest.fixture
def api(colour_service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(colour_service), raise_server_exceptions=False) as c:
        yield c


def test_default_colours_differ_and_a_set_colour_is_kept(
    api: TestClient, colour_project: ProjectKeys
) -> None:
    api.auth = colour_project.auth("editor")
    labels = api.get(colour_project.url("/labels")).json()
    cat, another = labels
    assert cat["colour"] != another["colour"]
    assert cat["colour_is_default"] and another["colour_is_default"]

    put = api.put(colour_project.url(f"/labels/{cat['id']}/colour"), json={"colour": "#FF8800"})
    assert put.status_code == 200, put.text
    assert (put.json()["colour"], put.json()["colour_is_default"]) == ("#ff8800", False)
    got = api.get(colour_project.url(f"/labels/{cat['id']}/colour")).json()
    assert got["colour"] == "#ff8800"
    assert api.get(colour_project.url("/labels")).json()[0]["colour"] == "#ff8800"

    reset = api.put(colour_project.url(f"/labels/{cat['id']}/colour"), json={"colour": None})
    assert reset.json()["colour"] == palette.default_colour(0)


@pytest.mark.parametrize("bad", ["orange", "#ff88", "#ff8800aa", "javascript:x"])
def test_a_bad_colour_is_a_400_with_its_code(
    api: TestClient, colour_project: ProjectKeys, bad: str
) -> None:
    api.auth = colour_project.auth("editor")
    cat = api.get(colour_project.url("/labels")).json()[0]
    answer = api.put(colour_project.url(f"/labels/{cat['id']}/colour"), json={"colour": bad})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "label.colour_invalid" and "#rrggbb" in error["message"]
    created = api.post(colour_project.url("/labels"), json={"names": ["dog"], "colour": bad})
    assert created.json()["error"]["code"] == "label.colour_invalid"
    assert api.get(colour_project.url(f"/labels/{cat['id']}")).json()["colour_is_default"]


def test_a_viewer_cannot_set_and_another_project_is_not_found(
    api: TestClient, colour_service: Service, colour_project: ProjectKeys
) -> None:
    cat = colour_service.list_labels(colour_project.id)[0]
    api.auth = colour_project.auth("viewer")
    path = colour_project.url(f"/labels/{cat['id']}/colour")
    assert api.put(path, json={"colour": "#ff8800"}).status_code == 403
    other = make_project(colour_service, "Other")
    api.auth = other.auth("admin")
    answer = api.put(other.url(f"/labels/{cat['id']}/colour"), json={"colour": "#ff8800"})
    assert answer.status_code == 404
    assert colour_service.get_label(colour_project.id, cat["id"])["colour_is_default"]


def test_the_cli_shows_sets_and_resets(
    database: Any, tmp_path: Path, colour_project: ProjectKeys
) -> None:
    where = ["--database-url", database.url, "--data-dir", str(tmp_path / "data")]
    psid = colour_project.string_id

    def lp(*args: str, check: bool = True) -> Any:
        return run_cli("label", "color", *args, *where, check=check)

    shown = json.loads(lp(psid, "cat", "--json").stdout)
    assert shown["colour_is_default"] and shown["colour"] == palette.default_colour(0)
    assert "#ff8800" in lp(psid, "cat", "#ff8800").stdout
    assert json.loads(lp(psid, "cat", "--json").stdout)["colour"] == "#ff8800"
    bad = lp(psid, "another", "#12345", check=False)
    assert bad.returncode == 2 and "#rrggbb" in bad.stderr and "Traceback" not in bad.stderr
    missing = lp(psid, "zebra", "#123456", check=False)
    assert missing.returncode == 3 and "zebra" in missing.stderr
    reset = json.loads(lp(psid, "cat", "--default", "--json").stdout)
    assert reset["colour_is_default"] and reset["colour"] == palette.default_colour(0)


def test_the_sdk_sets_and_reads(colour_service: Service, colour_project: ProjectKeys) -> None:
    import threading

    import uvicorn

    from labelport.sdk import Project
    from server_helpers import free_port, wait_until_up

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(colour_service), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        client_id, secret = colour_project.auth("editor")
        with Project(
            colour_project.string_id, client_id, secret, host=f"http://127.0.0.1:{port}"
        ) as p:
            cat = p.get_label("cat")
            assert p.set_label_colour(cat["id"], "#00aa11")["colour"] == "#00aa11"
            assert p.label_colour(cat["id"]) == "#00aa11"
    finally:
        server.should_exit = True
        thread.join(10)
