"""COCO, YOLO and VOC round trips keep every box and polygon exactly, to the float."""

from __future__ import annotations

from pathlib import Path

import pytest
from convert_helpers import boxes_and_polygons_project, geometry

from labelport.convert import module
from labelport.convert.export import Export
from labelport.convert.importer import ImportOptions, run
from labelport.convert.targets import EmbeddedTarget

MEDIA = {"coco": "images", "yolo": "images", "voc": "JPEGImages"}


def export_to(service, project_id: int, fmt: str, out: Path) -> Export:
    export = Export(service, project_id, out / MEDIA.get(fmt, "media"))
    module(fmt).write(export, out)
    return export


def reimport(service, out: Path, fmt: str, name: str):
    service.create_project(name)
    target = EmbeddedTarget(service, name.lower().replace(" ", "-"))
    outcome = run(out, target, ImportOptions(format=fmt, create_labels=True))
    assert not outcome.failed, outcome.problems
    return target.project_id, outcome


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_boxes_and_polygons_survive_exactly(service, tmp_path: Path, fmt: str) -> None:
    source = boxes_and_polygons_project(service, tmp_path / "media", files=3, per_file=8)
    export = export_to(service, source, fmt, tmp_path / fmt)
    assert not export.losses  # boxes and polygons only: nothing to lose
    copy, outcome = reimport(service, tmp_path / fmt, fmt, f"Copy {fmt}")
    assert outcome.files_ok == 3
    assert not outcome.losses
    before, after = geometry(service, source), geometry(service, copy)
    assert after == before  # tuples of floats compared with ==: bit for bit
    assert sum(len(v) for v in after.values()) == 24


def test_auto_detects_each_export(service, tmp_path: Path) -> None:
    from labelport.convert import detect_format

    source = boxes_and_polygons_project(service, tmp_path / "media", files=1, per_file=2)
    for fmt in ("coco", "yolo", "voc", "diffgram"):
        export_to(service, source, fmt, tmp_path / fmt)
        target = {"coco": "annotations.json", "diffgram": "export.json"}.get(fmt)
        path = tmp_path / fmt / target if target else tmp_path / fmt
        assert detect_format(path) == fmt


def test_second_import_of_the_same_export_adds_nothing(service, tmp_path: Path) -> None:
    source = boxes_and_polygons_project(service, tmp_path / "media", files=2, per_file=3)
    export_to(service, source, "coco", tmp_path / "coco")
    copy, first = reimport(service, tmp_path / "coco", "coco", "Copy")
    target = EmbeddedTarget(service, "copy")
    again = run(tmp_path / "coco", target, ImportOptions(format="coco", create_labels=True))
    assert (first.files_ok, again.files_ok, again.files_unchanged) == (2, 0, 2)
    assert service.list_files(copy)[1] == 2
    assert len(service.list_imports(copy)[0]) == 2


def test_other_types_are_counted_as_not_carried(service, tmp_path: Path) -> None:
    from convert_helpers import submit

    from media_factory import make_png

    project = service.create_project("Mixed")
    service.create_labels(project["id"], ["cat"])
    image = make_png(tmp_path / "a.png", 64, 48)
    instances = [
        {"type": "box", "name": "cat", "x_min": 1, "y_min": 1, "x_max": 5, "y_max": 5},
        {"type": "point", "name": "cat", "points": [{"x": 3, "y": 3}]},
        {"type": "ellipse", "name": "cat", "center_x": 9, "center_y": 9, "width": 2, "height": 3},
    ]
    submit(service, project["id"], {"media": {"type": "image"}, "instance_list": instances}, image)
    for fmt in ("coco", "yolo", "voc"):
        export = export_to(service, project["id"], fmt, tmp_path / fmt)
        assert export.losses == {"type_not_in_format": 2}, fmt
