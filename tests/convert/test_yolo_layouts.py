"""YOLO (issue 12): the Darknet, Roboflow and Ultralytics layouts, splits kept as directories,
ground truth unless a confidence column, sub-pixel rounding clamped, nothing found is a problem,
and the export keeps class ids and split directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from convert_helpers import cli

from labelport.convert import Conversion, detect_format, module
from labelport.convert.export import Export
from labelport.convert.importer import ImportOptions, run
from labelport.convert.targets import EmbeddedTarget
from media_factory import make_png

FIXTURES = Path(__file__).parent / "fixtures"
LAYOUTS = {
    "yolo_darknet": {
        "train/1.png": [("cat", "box"), ("bird", "box")],
        "train/2.png": [("dog", "box")],
        "valid/1.png": [("bird", "box")],
    },
    "yolo_roboflow": {
        "train/1.png": [("dog", "box"), ("cat", "polygon")],
        "valid/1.png": [("cat", "box")],
    },
    "yolo_ultralytics": {
        "train/1.png": [("truck", "box")],
        "val/1.png": [("person", "box"), ("car", "box")],
    },
}


def read(source: Path) -> tuple[Conversion, dict[str, list]]:
    conv = Conversion()
    items = {item.name: item for item in module("yolo").read(source, conv)}
    return conv, items


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_is_detected_and_read_with_its_splits(layout: str) -> None:
    source = FIXTURES / layout
    assert detect_format(source) == "yolo"
    conv, items = read(source)
    assert conv.problems == []
    shapes = {name: [(i["name"], i["type"]) for i in it.instances] for name, it in items.items()}
    assert shapes == LAYOUTS[layout]
    assert all(item.problems == [] for item in items.values())
    assert len({item.key for item in items.values()}) == len(items)  # two 1.png stay two files
    assert conv.total_files == len(items)


def test_data_yaml_given_as_the_source_and_an_image_list(tmp_path: Path) -> None:
    # datumaro's "subset txt" layout: train.txt lists images with a data/ prefix of the
    # machine it was made on
    root = tmp_path / "ds"
    (root / "images" / "train").mkdir(parents=True)
    make_png(root / "images" / "train" / "a.png", 64, 48)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (root / "train.txt").write_text("data/images/train/a.png\n")
    (root / "data.yaml").write_text("path: .\ntrain: train.txt\nnames:\n  0: x\n  1: y\n")
    conv, items = read(root / "data.yaml")
    assert conv.problems == []
    assert [(n, [i["name"] for i in it.instances]) for n, it in items.items()] == [
        ("train/a.png", ["y"])
    ]


def test_names_as_a_map_with_a_gap_is_a_problem(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(FIXTURES / "yolo_ultralytics", root)
    (root / "data.yaml").write_text("train: images/train\nnames:\n  0: a\n  2: c\n")
    conv, items = read(root)
    assert [(p.code, p.path) for p in conv.problems] == [("convert.invalid", "data.yaml:names")]
    assert items == {}


def test_ground_truth_unless_a_confidence_column() -> None:
    _, items = read(FIXTURES / "yolo_ultralytics")
    person, car = items["val/1.png"].instances
    assert (person["machine_made"], person["score"]) == (True, 0.87)
    assert car["machine_made"] is False and "score" not in car
    assert items["train/1.png"].instances[0]["machine_made"] is False
    _, items = read(FIXTURES / "yolo_roboflow")
    assert [i["machine_made"] for i in items["train/1.png"].instances] == [False, False]


def _import(service, source: Path, name: str, **options):
    service.create_project(name)
    target = EmbeddedTarget(service, name.lower())
    outcome = run(source, target, ImportOptions(format="yolo", create_labels=True, **options))
    return outcome, target


def test_darknet_import_stores_human_boxes_with_the_edge_rounding_clamped(service) -> None:
    outcome, _ = _import(service, FIXTURES / "yolo_darknet", "Darknet")
    assert not outcome.failed, outcome.problems
    assert (outcome.files_ok, outcome.instances) == (3, 4)
    project = service.store.get_project_by_string_id("darknet")
    files, _ = service.list_files(project.id, per_page=100)
    stored = {}
    for f in files:
        instances, _ = service.list_instances(project.id, f["id"], per_page=100)
        for inst in instances:
            stored[inst["external_id"]] = inst
    first = stored["yolo:train/1.txt:1:c0"]
    # 0.1 - 0.200001 / 2 is -5e-7 of the width: rounding, clamped to the edge and stored so
    assert first["x_min"] == 0.0 and first["machine_made"] is False
    assert all(not inst["machine_made"] for inst in stored.values())
    imports = [service.store.list_imports(project.id, file_id=f["id"])[0] for f in files]
    assert sum((i.counts or {}).get("clamped", 0) for i in imports) == 1
    warned = [w for i in imports for w in (i.warnings or [])]
    assert [(w["code"], w["path"]) for w in warned] == [("shape.clamped", "instance_list/0/x_min")]


def test_nothing_found_is_a_problem_not_an_empty_success(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli("project", "create", "Empty", "--data-dir", data).exit_code == 0
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("nothing here\n")
    for source in (tmp_path / "src", tmp_path / "src"):
        result = cli("import", source, "--project", "empty", "--format", "yolo", "--data-dir",
                     data, "--json")  # fmt: skip
        assert result.exit_code == 1, result.output
        assert "no YOLO label files found" in result.output
    # a data.yaml naming splits that are not there says which
    (tmp_path / "src" / "data.yaml").write_text("train: ../train/images\nnames: [a]\n")
    result = cli("import", tmp_path / "src", "--project", "empty", "--format", "yolo",
                 "--data-dir", data, "--json")  # fmt: skip
    assert result.exit_code == 1 and "'../train/images'" in result.output


def test_export_keeps_class_ids_names_and_split_directories(service, tmp_path: Path) -> None:
    # cat and bird only: dog (1), used in train/2 only, becomes a bird there
    source = tmp_path / "darknet"
    shutil.copytree(FIXTURES / "yolo_darknet", source)
    (source / "obj_train_data" / "2.txt").write_text("2 0.75 0.25 0.5 0.5\n")
    outcome, _ = _import(service, source, "Pets")
    assert not outcome.failed, outcome.problems
    project = service.store.get_project_by_string_id("pets")
    out = tmp_path / "out"
    module("yolo").write(Export(service, project.id, out / "images"), out)
    labels = sorted(
        p.relative_to(out / "labels").as_posix() for p in (out / "labels").rglob("*.txt")
    )
    assert labels == ["train/1.txt", "train/2.txt", "valid/1.txt"]
    images = sorted(
        p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*.png")
    )
    assert images == ["train/1.png", "train/2.png", "valid/1.png"]
    assert [line.split()[0] for line in (out / "labels/train/1.txt").read_text().splitlines()] == [
        "0",
        "2",
    ]
    assert (out / "labels/valid/1.txt").read_text().split()[0] == "2"
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "cat", 1: "class_1", 2: "bird"}
    assert (data["train"], data["val"]) == ("images/train", "images/valid")
    # and it reads back as it was
    conv, items = read(out)
    assert conv.problems == []
    assert sorted(items) == ["train/1.png", "train/2.png", "valid/1.png"]


def test_export_of_a_project_from_elsewhere_numbers_labels_in_order(
    service, tmp_path: Path
) -> None:
    source = tmp_path / "ultra"
    shutil.copytree(FIXTURES / "yolo_ultralytics", source)
    outcome, _ = _import(service, source, "Ultra")
    assert not outcome.failed, outcome.problems
    project = service.store.get_project_by_string_id("ultra")
    out = tmp_path / "out"
    module("yolo").write(Export(service, project.id), out)
    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    # truck keeps 2, person 0, car 1: every label of the source was used
    assert names == {0: "person", 1: "car", 2: "truck"}
    assert (out / "labels/train/1.txt").read_text().split()[0] == "2"
    assert (out / "labels/val/1.txt").read_text().split("\n")[0].endswith(" 0.87")


def test_a_file_without_boxes_keeps_its_split_on_export(service, tmp_path: Path) -> None:
    # valid/1.png has an empty label file: nothing but the stored name says it was in valid/
    source = tmp_path / "darknet"
    shutil.copytree(FIXTURES / "yolo_darknet", source)
    (source / "obj_valid_data" / "1.txt").write_text("")
    outcome, _ = _import(service, source, "Empty")
    assert not outcome.failed, outcome.problems
    project = service.store.get_project_by_string_id("empty")
    names = sorted(f["original_filename"] for f in service.list_files(project.id)[0])
    assert names == ["train/1.png", "train/2.png", "valid/1.png"]
    out = tmp_path / "out"
    module("yolo").write(Export(service, project.id, out / "images"), out)
    assert (out / "labels/valid/1.txt").read_text() == ""
    assert (out / "images/valid/1.png").is_file()
