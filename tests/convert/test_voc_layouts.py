"""Pascal VOC as VOC2012 writes its person layout and action sets: `<part>` boxes inside an
object and `<actions>` flags are carried (parts as boxes related to their object, actions as
attributes), and globox sees the same object boxes."""

from __future__ import annotations

import shutil
from pathlib import Path

import globox
import pytest
from test_readers import import_into, read_all

from labelport.convert import detect_format
from media_factory import make_jpeg

FIXTURE = Path(__file__).parent / "fixtures" / "voc_layout"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_parts_and_actions_are_read() -> None:
    assert detect_format(FIXTURE) == "voc"
    [item], conv = read_all(FIXTURE, "voc")
    assert item.problems == [] and conv.problems == [] and conv.losses == {}
    person, head, head_of, hand, hand_of, bicycle = item.instances
    assert (person["name"], person["x_min"], person["y_max"]) == ("person", 4, 28)
    assert person["_attributes"] == {
        "pose": "Frontal", "jumping": False, "phoning": True, "running": False, "walking": True,
    }  # fmt: skip
    assert (head["type"], head["name"], head["x_min"], head["y_min"], head["x_max"]) == (
        "box", "head", 9, 2, 15,
    )  # fmt: skip
    assert head_of == {"type": "relation", "from": head["id"], "to": person["id"],
                       "id": f"{head['id']}:of", "machine_made": False}  # fmt: skip
    assert hand["name"] == "hand" and hand_of["from"] == hand["id"]
    assert hand_of["to"] == person["id"]
    assert bicycle["_attributes"] == {"truncated": True} and bicycle["x_min"] == 21.5
    assert {i["machine_made"] for i in item.instances} == {False}


def test_globox_sees_the_same_objects() -> None:
    [item], _conv = read_all(FIXTURE, "voc")
    ours = sorted(
        (i["name"], i["x_min"], i["y_min"], i["x_max"], i["y_max"])
        for i in item.instances
        if i["type"] == "box" and not i["id"].count(":part/")
    )
    [annotation] = globox.AnnotationSet.from_pascal_voc(FIXTURE / "Annotations")
    assert sorted((b.label, *b.ltrb) for b in annotation.boxes) == ours


def test_parts_and_actions_are_stored(service, tmp_path: Path) -> None:
    root = tmp_path / "VOC2012"
    shutil.copytree(FIXTURE, root)
    (root / "JPEGImages").mkdir()
    make_jpeg(root / "JPEGImages" / "2012_000004.jpg", 40, 30)
    pid, outcome = import_into(service, root)
    assert outcome.files_ok == 1 and not outcome.losses
    [f], _ = service.list_files(pid)
    instances, _ = service.list_instances(pid, f["id"])
    assert sorted(i["label_name"] for i in instances if i["type"] == "box") == [
        "bicycle", "hand", "head", "person",
    ]  # fmt: skip
    person = next(i for i in instances if i["label_name"] == "person")
    relations = [i for i in instances if i["type"] == "relation"]
    assert len(relations) == 2
    groups = {str(g["id"]): g["name"] for g in service.list_attribute_groups(pid)}
    assert {"phoning", "walking", "jumping", "running"} <= {
        groups[k] for k in person["attribute_groups"]
    }
    assert {i["machine_made"] for i in instances} == {False}
