"""`labelport import` as a user meets it: who made the instances (--machine-made/--human), the
report of skipped instances, re-runs with other flags, and the progress bar's total."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from convert_helpers import cli

from labelport.convert.importer import ImportOptions, Progress, run
from labelport.convert.targets import EmbeddedTarget
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


def test_skip_instances_lists_and_counts_what_was_left_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli("project", "create", "Skips", "--data-dir", data).exit_code == 0
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [60, 2, 20, 10]},  # past the edge
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [1, 2, 10, 10]},
    ]
    source = coco_source(tmp_path / "coco", ("a.png", "b.png"), anns)
    args = ("import", source, "-p", "skips", "--create-labels", "--on-error", "skip_instances")

    result = cli(*args, "--json", "--data-dir", data)
    assert result.exit_code == 1, result.output
    s = json.loads(result.output)
    assert (s["files_ok"], s["files_failed"], s["instances"]) == (2, 0, 2)
    assert s["instances_skipped"] == 1
    assert [(p["code"], p["path"]) for p in s["problems"]] == [
        ("shape.outside_media", "annotations.json:annotations[id=2] (image a.png) > x_max")
    ]
    assert stored(data, "skips") == {"coco:ann:1": False, "coco:ann:3": False}

    # the table, on a fresh project
    assert cli("project", "create", "Skips", "--data-dir", tmp_path / "other").exit_code == 0
    shown = cli(*args, "--data-dir", tmp_path / "other")
    assert shown.exit_code == 1, shown.output
    assert "instances skipped (listed below)" in shown.output
    # grouped: code, count, message, example places (wrapped to the terminal's width)
    assert "1 problems in 1 group" in shown.output
    assert "annotations.json:annotations[id=2]" in shown.output
    assert "shape.outside_media" in shown.output


def test_a_rerun_with_other_flags_is_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli("project", "create", "Reruns", "--data-dir", data).exit_code == 0
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [3, 4, 5, 6], "attributes": {"x": 1}},
    ]
    source = coco_source(tmp_path / "coco", ("a.png", "b.png"), anns)
    args = ("import", source, "-p", "reruns", "--json", "--data-dir", data)

    def files(*flags: str) -> tuple[int, int, int, int]:
        result = cli(*args, *flags)
        assert result.exit_code == 0, result.output
        s = json.loads(result.output)
        return s["files_ok"], s["files_updated"], s["files_unchanged"], s["files_failed"]

    assert files("--create-labels") == (2, 0, 0, 0)
    assert files() == (0, 0, 2, 0)
    assert files("--on-error", "skip_instances") == (0, 0, 2, 0)
    assert files("--create-labels", "--on-error", "skip_files") == (0, 0, 2, 0)
    with Service.open(data_dir=data, workers=0) as service:
        _, total = service.list_imports(service.get_project("reruns")["id"])
        assert total == 2  # nothing was sent again


class Bar(Progress):
    """Records the progress bar's total and whether the files done ever passed it."""

    def __init__(self) -> None:
        self.totals: list[int] = []
        self.files = 0
        self.overshoot = 0

    def total(self, files: int) -> None:
        self.totals.append(files)

    def advance(self, files: int, instances: int) -> None:
        self.files += files
        self.overshoot = max(self.overshoot, self.files - (self.totals or [0])[-1])


@pytest.mark.parametrize("on_error", ["reject", "skip_files", "skip_instances"])
def test_progress_total_covers_every_file_of_a_folder(tmp_path: Path, on_error: str) -> None:
    folder = tmp_path / "coco"
    for part, names in (("train", ("a.png", "b.png")), ("val", ("c.png",))):
        coco_source(folder, names, [])
        (folder / "annotations.json").rename(folder / f"{part}.json")
    with Service.open(data_dir=tmp_path / "data", workers=1, media_roots=[folder]) as service:
        project = service.create_project("Progress")
        bar = Bar()
        outcome = run(
            folder,
            EmbeddedTarget(service, project["string_id"]),
            ImportOptions(format="coco", on_error=on_error, batch_size=1),
            bar,
        )
        assert (outcome.files_ok, outcome.files_failed) == (3, 0)
        assert bar.files == 3 and bar.totals[-1] == 3 and bar.overshoot == 0
        if on_error == "reject":  # the check pass read everything: the total is known at once
            assert bar.totals == [3]


def test_annotations_without_ids_are_named_by_their_place(tmp_path: Path) -> None:
    """COCO asks every annotation for an id, but files without them exist: each is named by
    its place in `annotations`, so several in one image never share an id (and one that has
    an id that is also a place keeps its own)."""
    data = tmp_path / "data"
    assert cli("project", "create", "Ids", "--data-dir", data).exit_code == 0
    anns = [
        {"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},
        {"id": 0, "image_id": 1, "category_id": 2, "bbox": [5, 5, 5, 5]},
        {"image_id": 1, "category_id": 2, "bbox": [20, 20, 5, 5],
         "segmentation": [[20, 20, 25, 20, 25, 25]]},
        {"image_id": 1, "category_id": 1, "bbox": [30, 30, 5, 5], "score": 0.5},
    ]  # fmt: skip
    source = coco_source(tmp_path / "coco", ("a.png",), anns)
    args = ("import", source, "-p", "ids", "--create-labels", "--json", "--data-dir", data)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert set(stored(data, "ids")) == {
        "coco:annotations/0", "coco:ann:0", "coco:annotations/2", "coco:annotations/3",
    }  # fmt: skip
    again = cli(*args)
    assert json.loads(again.output)["files_unchanged"] == 1
