"""A long video through the diffgram SDK's `from_local`: its frame_packet_map travels as one
multipart text part, and a part may be as large as the body limit (not Starlette's 1 MB)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.api import create_app
from labelport.service import Service
from media_factory import make_mp4
from server_helpers import ProjectKeys, make_project, threaded_server

diffgram = pytest.importorskip("diffgram", reason="the dev extra installs diffgram==0.15.0")

FRAMES, PER_FRAME = 200, 100


def frame_packet_map() -> dict[int, list[dict[str, Any]]]:
    return {
        frame: [
            {
                "name": ("cat", "another")[n % 2],
                "number": n // 2 + 1,
                "type": "box",
                "x_min": 1 + n % 20,
                "y_min": 2,
                "x_max": 30 + n % 20,
                "y_max": 40,
                "frame_number": frame,
            }
            for n in range(PER_FRAME)
        ]
        for frame in range(FRAMES)
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ProjectKeys, Service]]:
    service = Service.open(data_dir=tmp_path / "data", workers=1)
    try:
        keys = make_project(service, "Long video")
        service.create_labels(keys.id, ["cat", "another"])
        with threaded_server(create_app(service)) as base_url:
            yield base_url, keys, service
    finally:
        service.close()


def test_from_local_with_a_frame_packet_map_over_2_mb(served, tmp_path: Path) -> None:
    base_url, keys, service = served
    video = make_mp4(tmp_path / "long.mp4", frames=FRAMES, fps=25, width=64, height=48)
    packets = frame_packet_map()
    assert len(json.dumps(packets)) > 2 << 20  # the SDK's part is larger still (label ids)
    client_id, secret = keys.auth("editor")
    project = diffgram.Project(
        project_string_id=keys.string_id,
        client_id=client_id,
        client_secret=secret,
        debug=True,
        host=base_url,
    )
    file = project.file.from_local(str(video), frame_packet_map=packets)
    assert file.id is not None
    stored = service.get_file(keys.id, file.id)
    assert stored["media_type"] == "video"
    imports, _ = service.list_imports(keys.id)
    assert [(i["status"], i["counts"]["instances"]) for i in imports] == [
        ("success", FRAMES * PER_FRAME)
    ]


def test_a_part_over_the_body_limit_is_refused_readably(tmp_path: Path) -> None:
    service = Service.open(data_dir=tmp_path / "data", workers=1)
    try:
        keys = make_project(service, "Small limit")
        app = create_app(service, max_body_bytes=1 << 20)
        big = json.dumps({"frame_packet_map": frame_packet_map()})
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post(
                f"/api/walrus/v1/project/{keys.string_id}/input/from_local",
                auth=keys.auth("editor"),
                files={
                    "file": ("long.mp4", b"\0" * 16, "application/octet-stream"),
                    "json": (None, big, "application/json"),
                },
            )
        assert response.status_code == 400, response.text  # the SDK's routes answer 400
        assert response.json()["code"] == "request.too_large"
        assert "larger than the limit of 1048576 bytes" in response.text
        assert "Traceback" not in response.text
        assert service.list_imports(keys.id)[1] == 0
    finally:
        service.close()
