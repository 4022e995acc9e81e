"""COCO problems are placed by what names a record in COCO (the annotation's id and its image's
file name, an image's id and name), never by an array index: `annotations[id=17] (image
000123.jpg)/bbox/2`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from convert_helpers import cli

from media_factory import make_png


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    assert cli("project", "create", "Places", "--data-dir", data_dir).exit_code == 0
    return data_dir


def coco(folder: Path, annotations: list[dict], names=("000123.jpg", "000456.jpg")) -> Path:
    (folder / "images").mkdir(parents=True)
    for name in names:
        make_png(folder / "images" / name, 64, 48)
    doc = {
        "images": [{"id": 100 + n, "file_name": name, "width": 64, "height": 48}
                   for n, name in enumerate(names)],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "car"}],
        "annotations": annotations,
    }  # fmt: skip
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def problems(data: Path, source: Path, *extra: str) -> list[tuple[str, str]]:
    result = cli("import", source, "-p", "places", "--data-dir", data, "--json", *extra)
    assert result.exit_code == 1, result.output
    return [(p["code"], p["path"]) for p in json.loads(result.output)["problems"]]


def ann(id: int, image: int, category: int = 1, bbox: list | None = None) -> dict:
    return {"id": id, "image_id": image, "category_id": category, "bbox": bbox or [1, 2, 10, 10]}


def test_a_record_that_does_not_decode_is_named_by_its_id_and_image(
    data: Path, tmp_path: Path
) -> None:
    source = coco(tmp_path / "c", [ann(5, 100), ann(17, 101, bbox=[1, 2, "w", 4]), ann(18, 100)])
    found = problems(data, source, "--create-labels")
    assert found == [
        ("convert.invalid", "instances.json:annotations[id=17] (image 000456.jpg)/bbox/2")
    ]


def test_unknown_category_image_and_label_are_named_by_annotation_id(
    data: Path, tmp_path: Path
) -> None:
    source = coco(tmp_path / "c", [ann(5, 100), ann(6, 100, category=9), ann(7, 999)])
    found = problems(data, source, "--create-labels", "--on-error", "skip_files")
    assert set(found) == {
        (
            "convert.class_unknown",
            "instances.json:annotations[id=6] (image 000123.jpg)/category_id",
        ),
        ("convert.image_unknown", "instances.json:annotations[id=7]/image_id"),
    }
    # without --create-labels, a label the project lacks is placed at its annotation too
    source = coco(tmp_path / "d", [ann(5, 100), ann(41, 101, category=2)])
    found = problems(data, source)
    assert ("label.unknown", "instances.json:annotations[id=41] (image 000456.jpg)") in found


def test_a_problem_found_with_the_media_is_placed_at_its_annotation(
    data: Path, tmp_path: Path
) -> None:
    source = coco(tmp_path / "c", [ann(5, 100), ann(77, 101, bbox=[50, 2, 40, 10])])
    found = problems(data, source, "--create-labels")
    assert found == [
        ("shape.outside_media", "instances.json:annotations[id=77] (image 000456.jpg) > x_max")
    ]


def test_the_import_summary_groups_problems(data: Path, tmp_path: Path) -> None:
    anns = [ann(n, 100 + n % 2, category=2) for n in range(1, 41)]
    source = coco(tmp_path / "c", anns)
    result = cli("import", source, "-p", "places", "--data-dir", data)
    assert result.exit_code == 1, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    grouped = [line for line in lines if line.startswith("label.unknown  x40  ")]
    assert len(grouped) == 1, result.output
    assert "instances.json:annotations[id=2] (image 000123.jpg)" in grouped[0]
    assert "40 problems in 1 group" in result.output
