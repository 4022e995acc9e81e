"""The viewer legend's colour route: an editor's session with its CSRF token sets a label's
colour; a viewer's session, a missing token or a bad colour are refused with a code. The labels
the pages show carry the same colours as the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.api import create_app
from labelport.service import Service
from labelport.web import queries
from media_factory import make_png
from web_helpers import import_upload


def _signed_in(app: Any, client_id: str, secret: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=True)
    form = client.get("/ui/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answer = client.post(
        "/ui/signin",
        data={"csrf": csrf, "client_id": client_id, "client_secret": secret},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:300]
    return client


def _page_data(client: TestClient, path: str) -> dict[str, Any]:
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page.text)
    return json.loads(found.group(1))


@pytest.fixture
def setup(service: Service, media_dir: Path) -> dict[str, Any]:
    project = service.create_project("Colour route")
    cat, _another = service.create_labels(project["id"], ["cat", "another"])
    image = make_png(media_dir / "colour-route.png", 64, 48)
    done = import_upload(
        service,
        project["id"],
        image,
        {"instance_list": [{"type": "box", "name": "cat", "x_min": 1, "y_min": 1, "x_max": 9,
                            "y_max": 9}]},
    )  # fmt: skip
    keys = {role: service.create_api_key(project["id"], role=role) for role in ("editor", "viewer")}
    return {"project": project, "cat": cat, "file_id": done["file_id"], "keys": keys}


def test_an_editor_sets_a_colour_and_a_viewer_cannot(service: Service, setup: dict) -> None:
    app = create_app(service)
    psid = setup["project"]["string_id"]
    url = f"/ui/p/{psid}/labels/{setup['cat']['id']}/colour"
    file_page = f"/ui/p/{psid}/files/{setup['file_id']}"

    viewer_key = setup["keys"]["viewer"]
    with _signed_in(app, viewer_key["client_id"], viewer_key["client_secret"]) as viewer:
        data = _page_data(viewer, file_page)
        assert data["can_edit"] is False
        assert 'class="label-colour"' not in viewer.get(file_page).text
        refused = viewer.post(
            url, json={"colour": "#ff8800"}, headers={"X-CSRF-Token": data["csrf"]}
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.forbidden"

    editor_key = setup["keys"]["editor"]
    with _signed_in(app, editor_key["client_id"], editor_key["client_secret"]) as editor:
        data = _page_data(editor, file_page)
        assert data["can_edit"] is True
        assert 'class="label-colour"' in editor.get(file_page).text
        no_token = editor.post(url, json={"colour": "#ff8800"})
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "auth.csrf"
        token = {"X-CSRF-Token": data["csrf"]}
        for bad in ({"colour": "orange"}, {"colour": 7}, {}, []):
            answer = editor.post(url, json=bad, headers=token)
            assert answer.status_code == 400, bad
            assert answer.json()["error"]["code"] == "label.colour_invalid"
        assert service.get_label(setup["project"]["id"], setup["cat"]["id"])["colour_is_default"]

        done = editor.post(url, json={"colour": "#FF8800"}, headers=token)
        assert done.status_code == 200 and done.json()["colour"] == "#ff8800"
        labels = {lab["name"]: lab for lab in _page_data(editor, file_page)["labels"]}
        assert labels["cat"]["colour"] == "#ff8800"
        missing = editor.post(f"/ui/p/{psid}/labels/999999/colour", json={"colour": "#123456"},
                              headers=token)  # fmt: skip
        assert missing.status_code == 404


def test_the_pages_labels_match_the_api_colours(database: Any, tmp_path: Path) -> None:
    svc = Service.open(database_url=database.url, data_dir=tmp_path / "data", workers=0)
    try:
        pid = svc.create_project("Ranked")["id"]
        svc.create_labels(pid, ["zebra", "ant", "moth"])
        other = svc.create_project("Other")["id"]
        svc.create_labels(other, ["x"])  # another project's labels take no places here
        svc.store.get_or_create_labels(pid, ["bee"])
        svc.set_label_colour(pid, svc.list_labels(pid)[2]["id"], "#123456")
        api = {lab["id"]: lab["colour"] for lab in svc.list_labels(pid)}
        pages = queries.labels(svc.store.engine, pid)
        assert [lab["name"] for lab in pages] == ["ant", "bee", "moth", "zebra"]
        assert {lab["id"]: lab["colour"] for lab in pages} == api
        assert len(set(api.values())) == 4
    finally:
        svc.close()
