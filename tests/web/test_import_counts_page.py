"""The import page shows what the write did: added, replaced, unchanged and removed rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from labelport.api import create_app
from labelport.service import Service
from labelport.web import signin_url
from media_factory import make_png
from signin_helpers import redeem_link
from web_helpers import import_upload


def _box(x: float, external_id: str) -> dict[str, Any]:
    return {"type": "box", "name": "cat", "x_min": x, "y_min": 1, "x_max": x + 5, "y_max": 9,
            "id": external_id}  # fmt: skip


def test_an_update_shows_replaced_rows_apart_from_added(tmp_path: Path) -> None:
    service = Service.open(data_dir=tmp_path / "data", workers=1)
    try:
        project = service.create_project("Counts")
        service.create_labels(project["id"], ["cat"])
        make_png(tmp_path / "a.png", 64, 48)
        first = import_upload(
            service, project["id"], tmp_path / "a.png",
            {"media": {"type": "image"}, "instance_list": [_box(1, "a"), _box(10, "b")]},
        )  # fmt: skip
        update = service.submit_packet(
            project["id"],
            {
                "file_id": first["file_id"],
                "mode": "update",
                "instance_list": [_box(1, "a"), _box(20, "b"), _box(30, "c")],
            },
        )
        done = service.wait_import(project["id"], update["id"], timeout=60)
        counts = done["counts"]
        assert (counts["added"], counts["replaced"], counts["unchanged"]) == (1, 1, 1)
        app = create_app(service)
        with TestClient(app, follow_redirects=True) as client:
            redeem_link(client, signin_url(app, "http://testserver"))
            page = client.get(f"/ui/p/{project['string_id']}/imports/{update['id']}")
        assert page.status_code == 200, page.text
        assert "Added / replaced / unchanged / removed" in page.text
        assert "1 / 1 / 1 / 0" in page.text
    finally:
        service.close()
