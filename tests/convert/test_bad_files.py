"""Bad sources: every problem names the file and the line or place; with --on-error skip_files
the good files are still imported, and the exit code says that something failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from convert_helpers import cli

from labelport.convert import detect_format
from media_factory import make_png

CVAT_META = """<meta><task><labels>
  <label><name>car</name><attributes><attribute><name>colour</name>
    <input_type>select</input_type><values>red
blue</values></attribute></attributes></label>
</labels></task></meta>"""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    assert cli("project", "create", "Bad", "--data-dir", data_dir).exit_code == 0
    return data_dir


def images(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        make_png(folder / name, 64, 48)
    return folder


class Imported:
    def __init__(self, result) -> None:
        self.exit_code = result.exit_code
        self.output = result.output
        self.summary = json.loads(result.output) if result.output.startswith("{") else {}
        self.paths = [p["path"] for p in self.summary.get("problems", [])]
        self.codes = {p["code"] for p in self.summary.get("problems", [])}


def run_import(data: Path, source: Path, *extra: str) -> Imported:
    args = ("import", source, "--project", "bad", "--data-dir", data, "--create-labels", "--json")
    return Imported(cli(*args, *extra))


def coco(tmp_path: Path, annotations: list[dict], names=("a.png", "b.png")) -> Path:
    images(tmp_path / "images", *[n for n in names if n != "missing.png"])
    doc = {
        "images": [{"id": n, "file_name": name, "width": 64, "height": 48}
                   for n, name in enumerate(names)],
        "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}],
        "annotations": annotations,
    }  # fmt: skip
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def ann(n: int, image: int, category: int = 0) -> dict:
    return {"id": n, "image_id": image, "category_id": category, "bbox": [1, 2, 10, 10]}


def test_truncated_json_is_one_problem_with_its_line(data: Path, tmp_path: Path) -> None:
    path = coco(tmp_path, [ann(1, 0)])
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    result = run_import(data, path, "--format", "coco")
    assert result.exit_code == 1
    assert result.codes == {"convert.unreadable"}
    assert result.paths == [f"instances.json:{text[: len(text) // 2].count(chr(10)) + 1}"]


def test_annotation_of_a_missing_image_id(data: Path, tmp_path: Path) -> None:
    path = coco(tmp_path, [ann(1, 0), ann(2, 7), ann(3, 1, 1)])
    result = run_import(data, path)
    assert result.exit_code == 1 and result.summary["stopped"]
    assert result.paths == ["instances.json:annotations[id=2]/image_id"]  # by id, not index
    assert result.codes == {"convert.image_unknown"}
    assert result.summary["files_ok"] == 0
    # skip_files: the annotation without an image is reported, both images are imported
    result = run_import(data, path, "--on-error", "skip_files")
    assert result.exit_code == 1
    assert (result.summary["files_ok"], result.summary["instances"]) == (2, 2)


def test_category_out_of_range_fails_only_its_file(data: Path, tmp_path: Path) -> None:
    path = coco(tmp_path, [ann(1, 0, 5), ann(2, 1, 1)])
    result = run_import(data, path, "--on-error", "skip_files")
    assert result.exit_code == 1
    assert result.paths == ["instances.json:annotations[id=1] (image a.png)/category_id"]
    assert result.codes == {"convert.class_unknown"}
    assert (result.summary["files_ok"], result.summary["files_skipped"]) == (1, 1)
    listed = cli("imports", "--project", "bad", "--data-dir", data, "--json")
    assert len(json.loads(listed.output)["items"]) == 1


def test_missing_image_file(data: Path, tmp_path: Path) -> None:
    path = coco(tmp_path, [ann(1, 0), ann(2, 1)], names=("a.png", "missing.png"))
    result = run_import(data, path)
    assert result.exit_code == 1 and result.codes == {"convert.media_missing"}
    assert result.paths == ["instances.json:images[id=1] (missing.png)"]
    assert "missing.png" in result.summary["problems"][0]["message"]
    result = run_import(data, path, "--on-error", "skip_files")
    assert result.exit_code == 1
    assert (result.summary["files_ok"], result.summary["files_skipped"]) == (1, 1)


def yolo(tmp_path: Path, lines: dict[str, str]) -> Path:
    root = tmp_path / "yolo"
    images(root / "images", *[f"{stem}.png" for stem in lines])
    (root / "labels").mkdir(parents=True)
    for stem, text in lines.items():
        (root / "labels" / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n")
    return root


def test_yolo_line_with_four_numbers(data: Path, tmp_path: Path) -> None:
    root = yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n", "b": "1 0.5 0.5 0.1 0.1\n"})
    result = run_import(data, root)
    assert result.exit_code == 1
    assert (result.codes, result.paths) == ({"convert.invalid"}, ["labels/a.txt:2"])
    result = run_import(data, root, "--on-error", "skip_instances")
    assert result.exit_code == 1  # a problem was found, even though the rest was imported
    assert (result.summary["files_ok"], result.summary["instances"]) == (2, 2)


def test_yolo_class_id_out_of_range(data: Path, tmp_path: Path) -> None:
    root = yolo(tmp_path, {"a": "2 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.1 0.1\n"})
    result = run_import(data, root, "--on-error", "skip_files")
    assert result.exit_code == 1
    assert (result.codes, result.paths) == ({"convert.class_unknown"}, ["labels/a.txt:1"])
    listed = json.loads(cli("imports", "--project", "bad", "--data-dir", data, "--json").output)
    assert [i["status"] for i in listed["items"]] == ["success"]


def test_cvat_unknown_label(data: Path, tmp_path: Path) -> None:
    images(tmp_path, "a.png", "b.png")
    path = tmp_path / "annotations.xml"
    path.write_text(f"""<?xml version="1.0"?><annotations><version>1.1</version>{CVAT_META}
<image id="0" name="a.png" width="64" height="48">
  <box label="truck" xtl="1" ytl="1" xbr="5" ybr="5" occluded="0" source="manual"/></image>
<image id="1" name="b.png" width="64" height="48">
  <box label="car" xtl="1" ytl="1" xbr="5" ybr="5" occluded="1" source="manual">
    <attribute name="colour">blue</attribute></box></image></annotations>""")
    result = run_import(data, path)
    assert result.exit_code == 1
    assert (result.codes, result.paths) == (
        {"convert.class_unknown"},
        ["annotations.xml:image/0/box/0"],
    )
    result = run_import(data, path, "--on-error", "skip_files")
    assert (result.summary["files_ok"], result.summary["files_skipped"]) == (1, 1)
    listed = json.loads(cli("imports", "--project", "bad", "--data-dir", data, "--json").output)
    assert [i["status"] for i in listed["items"]] == ["success"]


def test_unknown_format_and_unknown_project(data: Path, tmp_path: Path) -> None:
    odd = tmp_path / "notes.csv"
    odd.write_text("a,b\n")
    result = run_import(data, odd)
    assert result.exit_code == 1 and result.codes == {"convert.format_unknown"}
    result = cli("import", odd, "--project", "nope", "--data-dir", data)
    assert result.exit_code == 3 and "Traceback" not in result.output


BOM = "\ufeff"  # what Notepad and PowerShell put before UTF-8 text


def test_a_json_source_with_a_byte_order_mark_imports(data: Path, tmp_path: Path) -> None:
    source = coco(tmp_path, [{"id": 1, "image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4]}])
    source.write_text(BOM + source.read_text(), encoding="utf-8")
    result = run_import(data, source)
    assert result.exit_code == 0, result.output
    assert (result.summary["files_ok"], result.summary["instances"]) == (2, 1)


def test_yolo_text_files_with_a_byte_order_mark_import(data: Path, tmp_path: Path) -> None:
    root = yolo(tmp_path, {"a": BOM + "0 0.5 0.5 0.2 0.2\n", "b": "1 0.5 0.5 0.1 0.1\n"})
    (root / "data.yaml").write_text(BOM + "names:\n  0: cat\n  1: dog\n", encoding="utf-8")
    result = run_import(data, root)
    assert result.exit_code == 0, result.output
    assert result.summary["instances_per_label"] == {"cat": 1, "dog": 1}


def test_check_reads_a_packet_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    box = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
    packet = tmp_path / "packet.json"
    packet.write_text(BOM + json.dumps({"instance_list": [box]}), encoding="utf-8")
    result = cli("check", packet, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["problems"] == []


def test_coco_image_id_given_to_two_images(data: Path, tmp_path: Path) -> None:
    source = coco(
        tmp_path,
        [{"id": 1, "image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4]},
         {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4]}],
        names=("a.png", "b.png", "c.png"),
    )  # fmt: skip
    doc = json.loads(source.read_text())
    doc["images"][1]["id"] = 0  # a.png and b.png share id 0: whose is annotation 1?
    source.write_text(json.dumps(doc))
    result = run_import(data, source)
    assert result.exit_code == 1 and result.summary["files_ok"] == 0
    assert result.codes == {"convert.invalid"}
    assert result.paths == [
        "instances.json:images[id=0] (a.png)/id",
        "instances.json:images[id=0] (b.png)/id",
    ]
    assert "a.png, b.png" in result.summary["problems"][0]["message"]
    result = run_import(data, source, "--on-error", "skip_files")
    assert (result.summary["files_ok"], result.summary["files_skipped"]) == (1, 2)
    assert result.summary["instances_per_label"] == {"dog": 1}


def test_coco_image_id_shared_in_a_folder_of_subsets(data: Path, tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    images(root / "images" / "train", "a.png", "b.png")
    doc = {
        "images": [{"id": 7, "file_name": "a.png", "width": 64, "height": 48},
                   {"id": 7, "file_name": "b.png", "width": 64, "height": 48}],
        "categories": [{"id": 0, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 0, "bbox": [1, 2, 3, 4]}],
    }  # fmt: skip
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    doc["images"] = [{"id": 7, "file_name": "c.png", "width": 64, "height": 48}]
    images(root / "images" / "val", "c.png")
    (root / "annotations" / "instances_val.json").write_text(json.dumps(doc))
    assert detect_format(root) == "coco"  # the export's root: its annotations/
    result = run_import(data, root)
    assert result.exit_code == 1 and result.summary["files_ok"] == 0
    assert result.codes == {"convert.invalid"}
    assert result.paths == ["instances_train.json:images[id=7]/id"]
    assert result.summary["problems"][0]["message"].startswith("image id 7 is given to 2 images")


def test_coco_folder_without_annotation_files_says_so(data: Path, tmp_path: Path) -> None:
    images(tmp_path / "nothing" / "images", "a.png")
    result = run_import(data, tmp_path / "nothing", "--format", "coco")
    assert result.exit_code == 1
    assert result.codes == {"convert.invalid"}
    assert "no COCO annotation file" in result.summary["problems"][0]["message"]


def test_coco_polygons_that_are_not_areas(data: Path, tmp_path: Path) -> None:
    source = coco(
        tmp_path,
        [{"id": 1, "image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4],
          "segmentation": [[1, 2, 3, 4]]},  # two points: a line, counted, its box kept
         {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4],
          "segmentation": [[1, 2, 9, 2, 9, 9, 1]]}],  # seven numbers: not x, y pairs
    )  # fmt: skip
    result = run_import(data, source)
    assert result.exit_code == 1 and result.summary["files_ok"] == 0
    assert result.paths == ["instances.json:annotations[id=2] (image b.png)/segmentation/0"]
    result = run_import(data, source, "--on-error", "skip_files")
    assert (result.summary["files_ok"], result.summary["files_skipped"]) == (1, 1)
    assert result.summary["losses"] == {"polygon_too_few_points": 1}
    assert result.summary["instances_per_label"] == {"cat": 1}


def test_yolo_pixel_coordinates_are_named_as_such(data: Path, tmp_path: Path) -> None:
    root = yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n1 32 24 10 10\n", "b": "1 0.5 0.5 0.1 0.1\n"})
    result = run_import(data, root)
    assert result.exit_code == 1
    assert (result.codes, result.paths) == ({"convert.invalid"}, ["labels/a.txt:2"])
    assert "looks like pixels" in result.summary["problems"][0]["message"]


def test_yolo_problems_found_after_reading_name_their_line(data: Path, tmp_path: Path) -> None:
    # 0.9 + 0.6/2 is past the right edge by 0.2 of the width: the media check finds it
    lines = {"a": "0 0.5 0.5 0.2 0.2\n1 0.9 0.5 0.6 0.1\n", "b": "1 0.5 0.5 0.1 0.1\n"}
    root = yolo(tmp_path, lines)
    result = run_import(data, root, "--on-error", "skip_instances")
    assert result.codes == {"shape.outside_media"}
    assert result.paths == ["labels/a.txt:2 > x_max"]
    assert (result.summary["files_ok"], result.summary["instances"]) == (2, 2)


def test_labelme_problems_name_their_shape(data: Path, tmp_path: Path) -> None:
    folder = images(tmp_path / "lm", "a.png")
    shapes = [
        {"label": "cat", "points": [[1, 2], [10, 12]], "shape_type": "rectangle"},
        "not a shape",
        {"label": "cat", "points": [[5, 5], [5, 5]], "shape_type": "circle"},  # radius 0
    ]
    doc = {"version": "5.0.1", "flags": {}, "imagePath": "a.png", "imageData": None,
           "imageHeight": 48, "imageWidth": 64, "shapes": shapes}  # fmt: skip
    (folder / "a.json").write_text(json.dumps(doc))
    result = run_import(data, folder, "--format", "labelme", "--on-error", "skip_instances")
    assert result.paths == [
        "a.json:shapes/1",
        "a.json:shapes/2 > width",
        "a.json:shapes/2 > height",
    ]
    assert (result.summary["files_ok"], result.summary["instances"]) == (1, 1)


def _cvat_far_box(folder: Path) -> Path:
    path = folder / "annotations.xml"
    path.write_text(f"""<?xml version="1.0"?><annotations><version>1.1</version>{CVAT_META}
<image id="0" name="a.png" width="64" height="48">
  <box label="car" xtl="1" ytl="1" xbr="5" ybr="5" source="manual"/>
  <box label="car" xtl="1" ytl="1" xbr="90" ybr="5" source="manual"/></image></annotations>""")
    return path


def _voc_far_box(folder: Path) -> Path:
    images(folder / "JPEGImages", "a.png")
    (folder / "Annotations").mkdir()
    path = folder / "Annotations" / "a.xml"
    path.write_text("""<annotation><filename>a.png</filename>
<size><width>64</width><height>48</height></size>
<object><name>car</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>
</object><object><name>car</name>
<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>90</xmax><ymax>5</ymax></bndbox></object>
</annotation>""")
    return folder / "Annotations"


@pytest.mark.parametrize(
    ("make", "place"),
    [
        (_cvat_far_box, "annotations.xml:image/0/box/1"),
        (_voc_far_box, "Annotations/a.xml:object/1"),
    ],
)
def test_problems_found_after_reading_name_their_place_in_the_source(
    data: Path, tmp_path: Path, make: Any, place: str
) -> None:
    images(tmp_path, "a.png")
    result = run_import(data, make(tmp_path), "--on-error", "skip_instances")
    assert result.paths == [f"{place} > x_max"], result.summary["problems"]
    assert (result.summary["files_ok"], result.summary["instances"]) == (1, 1)


def test_label_studio_problems_found_after_reading_name_their_result(
    data: Path, tmp_path: Path
) -> None:
    images(tmp_path, "a.png")

    def rect(x: float, width: float) -> dict[str, Any]:
        return {"type": "rectanglelabels", "from_name": "label", "to_name": "image",
                "original_width": 64, "original_height": 48,
                "value": {"x": x, "y": 10, "width": width, "height": 10,
                          "rectanglelabels": ["cat"]}}  # fmt: skip

    tasks = [{"id": 7, "data": {"image": "/data/upload/1/a.png"},
              "annotations": [{"result": [rect(10, 10), rect(90, 50)]}]}]  # fmt: skip
    source = tmp_path / "tasks.json"
    source.write_text(json.dumps(tasks))
    result = run_import(data, source, "--format", "labelstudio", "--on-error", "skip_instances")
    assert result.paths == ["tasks.json:0/annotations/0/result/1 > x_max"], result.summary
    assert (result.summary["files_ok"], result.summary["instances"]) == (1, 1)
