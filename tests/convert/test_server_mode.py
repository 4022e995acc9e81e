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


def test_import_through_a_server_stores_the_losses_on_each_files_import(tmp_path: Path) -> None:
    from test_import_cli import coco_source

    from labelport.convert.importer import ImportOptions, run
    from labelport.convert.targets import ServerTarget
    from labelport.sdk import Project
    from labelport.sdk.errors import LabelportHTTPError

    crowd = {"segmentation": [[1, 1, 9, 1, 9, 9]], "iscrowd": 1}  # the flag is not carried
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 8, 8], **crowd},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 8, 8], **crowd},
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [3, 4, 5, 6]},
    ]
    source = coco_source(tmp_path / "coco", ("a.png", "b.png"), anns)
    images = source.parent / "images"
    with Service.open(data_dir=tmp_path / "data", workers=1, media_roots=[images]) as service:
        keys = make_project(service, "Served losses")
        client_id, secret = keys.auth("editor")
        with threaded_server(_app(service)) as url:
            target = ServerTarget(
                url, f"{client_id}:{secret}", keys.string_id, media_is_shared=True
            )
            options = ImportOptions(format="coco", create_labels=True, media_dir=images)
            outcome = run(source, target, options)
            assert (outcome.files_ok, outcome.files_failed) == (2, 0), outcome.problems
            assert outcome.losses == {"crowd_flag": 2}

            # what the server does with an envelope it cannot read: the request is refused
            with Project(keys.string_id, client_id, secret, host=url) as sdk:
                packet = {"media": {"type": "image", "url": "file:///nowhere.png"}}
                try:
                    sdk.import_batch([packet], losses={0: {"crowd_flag": -1}})
                except LabelportHTTPError as exc:
                    assert exc.status == 400 and "envelope" in exc.message
                else:
                    raise AssertionError("a negative loss count was accepted")
        imports, _ = service.list_imports(keys.id)
        losses = {
            service.get_file(keys.id, i["file_id"])["original_filename"]: (i["counts"] or {}).get(
                "losses"
            )
            for i in imports
        }
        assert losses == {"a.png": {"crowd_flag": 2}, "b.png": None}
        # sent in a batch (the envelope), not packet by packet
        assert all(service.store.get_import(i["id"]).batch_id is not None for i in imports)
