"""`labelport import` as a user meets it: who made the instances (--machine-made/--human), the
report of skipped instances, re-runs with other flags, and the progress bar's total."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convert_helpers import cli

from labelport.service import Service
from media_factory import make_png


def coco_source(root: Path, names: tuple[str, ...], anns: list[dict[str, Any]]) -> Path:
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not (images / name).exists():
            make_png(images / name, 64, 48)
    doc = {
        "images": [
            {"id": n, "file_name": name, "width": 64, "height": 48}
            for n, name in enumerate(names, start=1)
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": anns,
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(doc))
    return path


def stored(data: Path, project: str) -> dict[str, bool]:
    """{external id: machine_made} of every instance of the project."""
    with Service.open(data_dir=data, workers=0) as service:
        project_id = service.get_project(project)["id"]
        files, _ = service.list_files(project_id, per_page=100)
        out = {}
        for f in files:
            instances, _ = service.list_instances(project_id, f["id"], per_page=1000)
            out.update({i["external_id"]: i["machine_made"] for i in instances})
        return out


def test_annotations_are_human_predictions_machine_made_and_the_flags_override(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    assert cli("project", "create", "Origin", "--data-dir", data).exit_code == 0
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},  # ground truth
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [20, 20, 5, 5], "score": 0.75},
    ]
    source = coco_source(tmp_path / "coco", ("a.png",), anns)
    args = ("import", source, "-p", "origin", "--create-labels", "--json", "--data-dir", data)

    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert stored(data, "origin") == {"coco:ann:1": False, "coco:ann:2": True}

    # What is stored changes, so the file is updated (not "unchanged").
    human = cli(*args, "--human")
    assert human.exit_code == 0, human.output
    assert json.loads(human.output)["files_updated"] == 1
    assert stored(data, "origin") == {"coco:ann:1": False, "coco:ann:2": False}

    machine = cli(*args, "--machine-made")
    assert machine.exit_code == 0, machine.output
    assert stored(data, "origin") == {"coco:ann:1": True, "coco:ann:2": True}
