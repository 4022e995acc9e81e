"""`labelport export --server` and `labelport import --server`'s loss report: the same results
through a running server's API as through the embedded Service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from convert_helpers import boxes_and_polygons_project, cli

from labelport.convert import media_folder, module
from labelport.convert.export import Export
from labelport.service import Service
from server_helpers import make_project, threaded_server


def _app(service: Service) -> Any:
    from labelport.api import create_app

    return create_app(service)


def tree(root: Path) -> dict[str, Any]:
    """Every file under root: JSON decoded (the API may order an instance's keys otherwise)."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out[str(path.relative_to(root))] = json.loads(data) if path.suffix == ".json" else data
    return out


@pytest.mark.parametrize("fmt", ["diffgram", "coco", "yolo", "voc"])
def test_export_from_a_server_writes_what_the_embedded_export_writes(
    tmp_path: Path, fmt: str
) -> None:
    with Service.open(data_dir=tmp_path / "data", workers=1) as service:
        keys = make_project(service, "Exported")
        service.create_labels(keys.id, ["cat", "dog", "person"])
        source = boxes_and_polygons_project(service, tmp_path / "media", files=3, per_file=5)
        # the helper makes its own project: copy its files into the keyed one
        for f in service.list_files(source, per_page=100)[0]:
            instances, _ = service.list_instances(source, f["id"], per_page=100)
            stream, _ = service.open_file_media(source, f["id"])
            packet = {
                "media": {"type": "image"},
                "instance_list": [_packet_instance(i) for i in instances],
            }
            with stream:
                created = service.submit_packet(
                    keys.id, packet, upload=(f["original_filename"], stream)
                )
            assert service.wait_import(keys.id, created["id"])["status"] == "success"

        embedded = tmp_path / "embedded"
        export = Export(service, keys.id, embedded / media_folder(fmt))
        module(fmt).write(export, embedded)

        client_id, secret = keys.auth("viewer")
        with threaded_server(_app(service)) as url:
            served = tmp_path / "served"
            result = cli(
                "export", "-p", keys.string_id, "--format", fmt, "--out", served,
                "--with-media", "--server", url, "--key", f"{client_id}:{secret}",
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            assert "exported 3 files" in result.output
            bad = cli(
                "export", "-p", keys.string_id, "--out", tmp_path / "x", "--server", url,
                "--key", f"{client_id}:wrong",
            )  # fmt: skip
            assert bad.exit_code == 2 and "server:" in bad.output
    assert len(tree(embedded)) >= 4  # annotations and the three images
    assert tree(served) == tree(embedded)


def _packet_instance(inst: dict[str, Any]) -> dict[str, Any]:
    out = {"type": inst["type"], "name": inst["label_name"], "machine_made": False}
    if inst["type"] == "box":
        out.update({k: inst[k] for k in ("x_min", "y_min", "x_max", "y_max")})
    else:
        out["points"] = inst["points"]
    return out
