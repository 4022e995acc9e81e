"""Independent readers agree with labelport's exports: pycocotools (COCO) and globox (COCO,
YOLO, Pascal VOC) see the same annotations, areas and boxes."""

from __future__ import annotations

import json
from pathlib import Path

import globox
import pytest
from convert_helpers import boxes_and_polygons_project, project_instances
from pycocotools.coco import COCO
from test_roundtrip_formats import export_to

from labelport.convert.coco import polygon_area

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def source(service, tmp_path: Path) -> int:
    return boxes_and_polygons_project(service, tmp_path / "media", files=4, per_file=10, seed=3)


def expected_boxes(service, project_id: int) -> dict[str, list[tuple]]:
    """{file name: sorted (label, x_min, y_min, x_max, y_max)} of boxes, and of polygons'
    bounding boxes (what box-only readers see of a polygon)."""
    out = {}
    for name, instances in project_instances(service, project_id).items():
        rows = []
        for inst in instances:
            if inst["type"] == "box":
                rows.append((inst["label_name"], inst["x_min"], inst["y_min"], inst["x_max"],
                             inst["y_max"]))  # fmt: skip
            else:
                xs = [q["x"] for q in inst["points"]]
                ys = [q["y"] for q in inst["points"]]
                rows.append((inst["label_name"], min(xs), min(ys), max(xs), max(ys)))
        out[name] = sorted(rows)
    return out


def globox_boxes(annotations: globox.AnnotationSet) -> dict[str, list[tuple]]:
    return {Path(a.image_id).name: sorted((b.label, *b.ltrb) for b in a.boxes) for a in annotations}


def assert_same(seen: dict, expected: dict, tolerance: float) -> None:
    assert sorted(seen) == sorted(expected)
    for name, rows in expected.items():
        assert len(seen[name]) == len(rows), name
        for got, want in zip(seen[name], rows, strict=True):
            assert got[0] == want[0]
            assert got[1:] == pytest.approx(want[1:], abs=tolerance), name


def test_pycocotools_reads_the_coco_export(service, source: int, tmp_path: Path) -> None:
    export_to(service, source, "coco", tmp_path / "coco")
    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    instances = project_instances(service, source)
    assert len(coco.getAnnIds()) == sum(len(v) for v in instances.values()) == 40
    assert len(coco.getImgIds()) == 4
    by_name = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    for name, insts in instances.items():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[by_name[name]]))
        areas = sorted(a["area"] for a in anns)
        want = sorted(
            (i["x_max"] - i["x_min"]) * (i["y_max"] - i["y_min"])
            if i["type"] == "box"
            else polygon_area(i["points"])
            for i in insts
        )
        assert areas == pytest.approx(want, rel=1e-12)
        for ann in anns:  # pycocotools rasterises every polygon it is given
            if ann["segmentation"]:
                image = coco.imgs[ann["image_id"]]
                assert coco.annToMask(ann).shape == (image["height"], image["width"])


def test_globox_reads_the_coco_export(service, source: int, tmp_path: Path) -> None:
    export_to(service, source, "coco", tmp_path / "coco")
    seen = globox_boxes(globox.AnnotationSet.from_coco(tmp_path / "coco" / "annotations.json"))
    assert_same(seen, expected_boxes(service, source), 1e-9)


def test_globox_reads_the_voc_export(service, source: int, tmp_path: Path) -> None:
    export_to(service, source, "voc", tmp_path / "voc")
    seen = globox_boxes(globox.AnnotationSet.from_pascal_voc(tmp_path / "voc" / "Annotations"))
    assert_same(seen, expected_boxes(service, source), 0.0)


@pytest.mark.parametrize("kind", ["box", "polygon"])
def test_globox_reads_the_yolo_export(service, tmp_path: Path, kind: str) -> None:
    # globox reads box lines (from_yolo_v5) and polygon lines (from_yolo_seg) separately
    source = boxes_and_polygons_project(
        service, tmp_path / "media", files=3, per_file=8, seed=5, kinds=(kind,)
    )
    export_to(service, source, "yolo", tmp_path / "yolo")
    names = (tmp_path / "yolo" / "classes.txt").read_text().split()
    read = (
        globox.AnnotationSet.from_yolo_v5 if kind == "box" else globox.AnnotationSet.from_yolo_seg
    )
    annotations = read(
        tmp_path / "yolo" / "labels", image_folder=tmp_path / "yolo" / "images",
        image_extension=".png",
    ).map_labels({str(n): name for n, name in enumerate(names)})  # fmt: skip
    assert_same(globox_boxes(annotations), expected_boxes(service, source), 1e-9)


def test_coco_export_is_plain_json_with_categories(service, source: int, tmp_path: Path) -> None:
    export_to(service, source, "coco", tmp_path / "coco")
    data = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert [c["name"] for c in data["categories"]] == ["cat", "dog", "person"]
    assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
