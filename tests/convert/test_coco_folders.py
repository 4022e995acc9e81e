"""COCO annotations folders as COCO and datumaro lay them out: instances, person_keypoints,
captions, stuff, panoptic and image_info files side by side import what can be imported (one
item per image, captions and panoptic files counted as losses); a results file is a detector's
output, checked against pycocotools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from test_readers import import_into, read_all

from labelport.convert import detect_format
from media_factory import make_png

FIXTURES = Path(__file__).parent / "fixtures"
FOLDER = FIXTURES / "coco_folder"
RESULTS = FIXTURES / "coco_results"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def with_images(tmp_path: Path) -> Path:
    root = tmp_path / "coco"
    shutil.copytree(FOLDER, root)
    for subset, names in (("val", ("000001.png", "000002.png")), ("test", ("000101.png",))):
        (root / "images" / subset).mkdir(parents=True)
        for name in names:
            make_png(root / "images" / subset / name, 20, 10)
    return root


def test_a_folder_of_every_task_reads_one_item_per_image() -> None:
    annotations = FOLDER / "annotations"
    assert detect_format(annotations) == "coco"
    items, conv = read_all(annotations, "coco")
    assert conv.problems == [] and all(not i.problems for i in items)
    assert conv.losses == {
        "caption": 3, "panoptic_file": 1, "rle_mask": 1, "keypoint_unlabelled": 1,
    }  # fmt: skip
    assert conv.total_files == 3
    by_name = {i.name: i for i in items}
    assert sorted(by_name) == ["000001.png", "000002.png", "000101.png"]
    first = [(i["type"], i["name"], i["id"]) for i in by_name["000001.png"].instances]
    # the keypoints file's person (same id as the instances file's) is the same object
    assert first == [
        ("box", "person", "coco:ann:1"),
        ("keypoints", "person", "coco:ann:1:keypoints"),
    ]
    nodes = by_name["000001.png"].instances[1]["nodes"]
    assert [n["name"] for n in nodes] == ["nose", "left_eye"]
    second = [(i["type"], i["name"]) for i in by_name["000002.png"].instances]
    # the stuff annotation's RLE mask is a loss; its bbox is kept, as for any RLE annotation
    assert second == [("polygon", "car"), ("box", "wall-other")]
    assert by_name["000002.png"].losses == {"caption": 2, "rle_mask": 1}
    assert by_name["000101.png"].instances == []
    assert by_name["000001.png"].source == "instances_val.json:images[id=1] (000001.png)"


def test_the_folder_imports_with_its_media(service, tmp_path: Path) -> None:
    root = with_images(tmp_path)
    pid, outcome = import_into(service, root / "annotations")
    assert outcome.files_ok == 3 and not outcome.problems
    assert outcome.losses["caption"] == 3 and outcome.losses["panoptic_file"] == 1
    # One line for the skipped file, naming it: the folder itself is not rejected.
    ((path, why),) = outcome.skipped_files
    assert path.endswith(".json") and "panoptic" in path and "not supported" in why
    assert outcome.to_dict()["source_files_skipped"] == [{"path": path, "why": why}]
    files, _ = service.list_files(pid)
    counts = {
        f["original_filename"]: sorted(i["type"] for i in service.list_instances(pid, f["id"])[0])
        for f in files
    }
    assert counts == {
        "000001.png": ["box", "keypoints"], "000002.png": ["box", "polygon"], "000101.png": [],
    }  # fmt: skip
    every = [i for f in files for i in service.list_instances(pid, f["id"])[0]]
    assert {i["machine_made"] for i in every} == {False}  # instances files are human


def test_a_datumaro_caption_with_category_zero_is_a_caption(tmp_path: Path) -> None:
    doc = json.loads((FOLDER / "annotations" / "captions_val.json").read_text())
    for ann in doc["annotations"]:
        ann["category_id"] = 0
    doc["categories"] = []
    (tmp_path / "captions_train.json").write_text(json.dumps(doc))
    items, conv = read_all(tmp_path / "captions_train.json", "coco")
    assert conv.problems == [] and all(not i.problems for i in items)
    assert conv.losses == {"caption": 3} and [i.instances for i in items] == [[], []]


def test_panoptic_file_alone_is_skipped_with_its_loss() -> None:
    items, conv = read_all(FOLDER / "annotations" / "panoptic_val.json", "coco")
    assert items == [] and conv.problems == [] and conv.losses == {"panoptic_file": 1}


def test_results_file_is_machine_made_and_matches_pycocotools() -> None:
    assert detect_format(RESULTS / "detections_val_results.json") == "coco"
    items, conv = read_all(RESULTS, "coco")
    assert conv.problems == []
    ground = COCO(str(RESULTS / "instances_val.json"))
    results = ground.loadRes(str(RESULTS / "detections_val_results.json"))
    for item in items:
        [image_id] = [i["id"] for i in ground.dataset["images"] if i["file_name"] == item.name]
        want = sorted(
            (ground.cats[a["category_id"]]["name"], a["bbox"][0], a["bbox"][1],
             a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3], a["score"])
            for a in results.loadAnns(results.getAnnIds(imgIds=[image_id]))
        )  # fmt: skip
        got = sorted(
            (i["name"], i["x_min"], i["y_min"], i["x_max"], i["y_max"], i["score"])
            for i in item.instances
            if i.get("machine_made")
        )
        assert got == want and got
        truth = [i for i in item.instances if not i.get("machine_made")]
        assert len(truth) == len(ground.getAnnIds(imgIds=[image_id]))
        assert all("score" not in i for i in truth)


def test_results_file_alone_names_its_missing_ground_truth(tmp_path: Path) -> None:
    shutil.copy(RESULTS / "detections_val_results.json", tmp_path)
    items, conv = read_all(tmp_path / "detections_val_results.json", "coco")
    assert items == []
    [problem] = conv.problems
    assert problem.code == "convert.image_unknown" and "ground-truth" in problem.message


def test_results_are_stored_as_predictions(service, tmp_path: Path) -> None:
    root = tmp_path / "results"
    shutil.copytree(RESULTS, root)
    for name in ("000001.png", "000002.png"):
        make_png(root / name, 20, 10)
    pid, outcome = import_into(service, root)
    assert outcome.files_ok == 2 and outcome.instances == 5
    files, _ = service.list_files(pid)
    every = [i for f in files for i in service.list_instances(pid, f["id"])[0]]
    made = sorted((i["machine_made"], i["score"]) for i in every)
    assert made == [(False, None), (False, None), (True, 0.125), (True, 0.5), (True, 0.875)]
