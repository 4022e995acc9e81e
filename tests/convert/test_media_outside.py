"""A file name in a source is data from elsewhere: an import reads media only from --media, the
annotations' folder and the folder above it (and what the reader itself wrote, LabelMe's
embedded images). A name that leads anywhere else (`../../../etc/passwd`, an absolute path) is
`convert.media_outside`, and that file is never read."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from convert_helpers import cli

from media_factory import make_png


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_png(path, 64, 48)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    assert cli("project", "create", "Outside", "--data-dir", data_dir).exit_code == 0
    return data_dir


def run_import(data: Path, source: Path, *extra: str) -> dict:
    args = ("import", source, "--project", "outside", "--data-dir", data, "--create-labels")
    result = cli(*args, "--json", *extra)
    return {"exit_code": result.exit_code, **json.loads(result.output)}


def coco(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "images": [{"id": n, "file_name": name, "width": 64, "height": 48}
                   for n, name in enumerate(names)],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": n, "image_id": n, "category_id": 1, "bbox": [1, 2, 10, 10]}
                        for n in range(len(names))],
    }  # fmt: skip
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """An image well outside the dataset: readable, and an image, so only the rule keeps it out."""
    return png(tmp_path / "home" / "private" / "secret.png")


@pytest.mark.parametrize("how", ["climbing", "absolute"])
def test_a_name_leading_out_of_the_dataset_is_refused_and_not_read(
    tmp_path: Path, data: Path, secret: Path, how: str
) -> None:
    dataset = tmp_path / "home" / "me" / "datasets" / "set1"
    png(dataset / "images" / "ok.png")
    name = "../../../../private/secret.png" if how == "climbing" else str(secret)
    source = coco(dataset / "annotations", "ok.png", name)
    summary = run_import(data, source, "--media", dataset / "images")
    assert summary["exit_code"] == 1 and summary["stopped"] is True
    [problem] = summary["problems"]
    assert problem["code"] == "convert.media_outside"
    assert str(secret) in problem["message"]
    assert summary["files_ok"] == 0  # reject: nothing of the source is imported

    skipped = run_import(data, source, "--media", dataset / "images", "--on-error", "skip_files")
    assert skipped["files_ok"] == 1 and skipped["files_skipped"] == 1
    assert [p["code"] for p in skipped["problems"]] == ["convert.media_outside"]


def test_an_absolute_name_is_found_by_its_base_name_in_the_media_folder(
    tmp_path: Path, data: Path
) -> None:
    media = tmp_path / "media"
    png(media / "a.png")
    source = coco(tmp_path / "ann", "/somewhere/on/the/exporting/machine/a.png")
    summary = run_import(data, source, "--media", media)
    assert summary["exit_code"] == 0 and summary["files_ok"] == 1, summary["problems"]


def test_a_sibling_folder_of_the_annotations_is_inside(tmp_path: Path, data: Path) -> None:
    # LabelMe writes imagePath relative to its JSON: `../images/x.png` beside `annotations/`
    dataset = tmp_path / "labelme"
    png(dataset / "images" / "x.png")
    doc = {"version": "5.0.1", "flags": {}, "imagePath": "../images/x.png", "imageData": None,
           "imageHeight": 48, "imageWidth": 64,
           "shapes": [{"label": "cat", "points": [[1, 2], [10, 12]], "shape_type": "rectangle",
                       "group_id": None, "flags": {}}]}  # fmt: skip
    (dataset / "annotations").mkdir()
    (dataset / "annotations" / "x.json").write_text(json.dumps(doc))
    summary = run_import(data, dataset / "annotations", "--format", "labelme")
    assert summary["exit_code"] == 0 and summary["files_ok"] == 1, summary["problems"]


def test_labelme_s_embedded_image_is_the_source_s_own_wherever_its_path_points(
    tmp_path: Path, data: Path
) -> None:
    png = make_png(tmp_path / "made.png", 64, 48).read_bytes()
    doc = {"version": "5.0.1", "flags": {}, "imagePath": "../../../../elsewhere/y.png",
           "imageData": base64.b64encode(png).decode(), "imageHeight": 48, "imageWidth": 64,
           "shapes": [{"label": "cat", "points": [[1, 2], [10, 12]], "shape_type": "rectangle",
                       "group_id": None, "flags": {}}]}  # fmt: skip
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "y.json").write_text(json.dumps(doc))
    summary = run_import(data, folder, "--format", "labelme")
    assert summary["exit_code"] == 0 and summary["files_ok"] == 1, summary["problems"]
