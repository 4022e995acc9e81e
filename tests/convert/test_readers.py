"""Each reader's mapping: pixel coordinates, label names, tracks as sequences, attributes,
machine_made, and the losses it counts."""

from __future__ import annotations

import json
from pathlib import Path

from labelport.convert import detect_format
from labelport.convert.importer import ImportOptions, run
from labelport.convert.model import Conversion
from labelport.convert.targets import EmbeddedTarget
from media_factory import make_mp4, make_png


def read_all(path: Path, fmt: str):
    from labelport.convert import module

    conv = Conversion()
    return list(module(fmt).read(path, conv)), conv


def import_into(service, path: Path, name: str = "Readers"):
    service.create_project(name)
    target = EmbeddedTarget(service, name.lower())
    outcome = run(path, target, ImportOptions(create_labels=True))
    assert not outcome.failed, outcome.problems
    return target.project_id, outcome


def test_coco_category_zero_rle_and_keypoints(tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 64, 48)
    doc = {
        "images": [{"id": 5, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 0, "name": "person", "keypoints": ["nose", "eye"],
                        "skeleton": [[1, 2]]}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 0, "bbox": [1, 2, 3, 4],
             "keypoints": [5, 6, 2, 7, 8, 1], "num_keypoints": 2, "score": 0.25},
            {"id": 2, "image_id": 5, "category_id": 0, "bbox": [0, 0, 2, 2], "iscrowd": 1,
             "segmentation": {"counts": [0, 4, 100], "size": [48, 64]},
             "keypoints": [0, 0, 0, 1, 1, 2]},
        ],
    }  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps(doc))
    [item], conv = read_all(tmp_path / "c.json", "coco")
    kinds = [(i["type"], i["name"], i["id"]) for i in item.instances]
    assert kinds == [
        ("box", "person", "coco:ann:1"),
        ("keypoints", "person", "coco:ann:1:keypoints"),
        ("box", "person", "coco:ann:2"),
        ("keypoints", "person", "coco:ann:2:keypoints"),
    ]
    assert item.instances[0]["x_max"] == 4 and item.instances[0]["score"] == 0.25
    nodes = item.instances[1]["nodes"]
    assert [(n["name"], n["occluded"]) for n in nodes] == [("nose", False), ("eye", True)]
    assert item.instances[1]["edges"] == [{"from": 0, "to": 1}]
    assert conv.losses == {"rle_mask": 1, "crowd_flag": 1, "keypoint_unlabelled": 1}


def cvat_video(tmp_path: Path) -> Path:
    make_mp4(tmp_path / "clip.mp4", frames=6, fps=5)
    (tmp_path / "video.xml").write_text("""<?xml version="1.0"?><annotations>
<meta><task><labels><label><name>car</name><attributes><attribute><name>parked</name>
<input_type>checkbox</input_type><values>false</values></attribute></attributes></label>
<label><name>bike</name></label></labels></task><source>clip.mp4</source></meta>
<track id="0" label="car" source="manual">
  <box frame="0" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" xbr="9" ybr="9">
    <attribute name="parked">true</attribute></box>
  <box frame="1" keyframe="0" outside="0" occluded="0" xtl="2" ytl="1" xbr="10" ybr="9">
    <attribute name="parked">true</attribute></box>
  <box frame="2" keyframe="1" outside="1" occluded="0" xtl="2" ytl="1" xbr="10" ybr="9"/>
</track>
<track id="1" label="car" source="auto">
  <box frame="3" keyframe="1" outside="0" occluded="1" xtl="5" ytl="5" xbr="20" ybr="20"/>
</track>
<track id="4" label="bike" source="manual">
  <polygon frame="4" keyframe="1" outside="0" occluded="0" points="1,1;9,1;5,7"/>
</track></annotations>""")
    return tmp_path / "video.xml"


def test_cvat_tracks_become_sequences(service, tmp_path: Path) -> None:
    path = cvat_video(tmp_path)
    assert detect_format(path) == "cvat"
    pid, outcome = import_into(service, path)
    assert outcome.losses == {"interpolated": 1}
    [video], _ = service.list_files(pid)
    seqs = sorted((s["label_name"], s["number"], tuple(s["keyframes"]))
                  for s in service.list_sequences(pid, video["id"]))  # fmt: skip
    # ids 0, 1, 4 start at 0: numbers are id + 1; the outside frame 2 is left out
    assert seqs == [("bike", 5, (4,)), ("car", 1, (0, 1)), ("car", 2, (3,))]
    instances, _ = service.list_instances(pid, video["id"])
    made = {(i["frame"], i["machine_made"]) for i in instances}
    assert made == {(0, False), (1, False), (3, True), (4, False)}
    groups = {g["name"]: g for g in service.list_attribute_groups(pid)}
    assert groups["parked"]["kind"] == "select"
    true_id = next(o["id"] for o in groups["parked"]["options"] if o["name"] == "true")
    first = next(i for i in instances if i["frame"] == 0)
    assert first["attribute_groups"] == {str(groups["parked"]["id"]): true_id}
    occluded = next(i for i in instances if i["frame"] == 3)
    assert str(groups["occluded"]["id"]) in occluded["attribute_groups"]


def test_mot_tracks(service, tmp_path: Path) -> None:
    seq = tmp_path / "MOT-02"
    (seq / "gt").mkdir(parents=True)
    make_mp4(seq / "MOT-02.mp4", frames=5, fps=5)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=MOT-02\nframeRate=5\n")
    (seq / "gt" / "gt.txt").write_text(
        "1,1,10,10,5,8,1,1,0.9\n2,1,11,10,5,8,1,1,0.8\n3,2,30,5,4,4,0,3,1.0\n5,1,12,10,5,8,1,1,1\n"
    )
    assert detect_format(seq) == "mot"
    pid, _outcome = import_into(service, seq)
    [video], _ = service.list_files(pid)
    seqs = sorted((s["label_name"], s["number"], tuple(s["keyframes"]))
                  for s in service.list_sequences(pid, video["id"]))  # fmt: skip
    assert seqs == [("car", 2, (2,)), ("pedestrian", 1, (0, 1, 4))]
    instances, _ = service.list_instances(pid, video["id"])
    box = next(i for i in instances if i["frame"] == 0)
    assert (box["x_min"], box["y_min"], box["x_max"], box["y_max"]) == (10, 10, 15, 18)


def test_label_studio_percent_to_pixels(service, tmp_path: Path) -> None:
    make_png(tmp_path / "cat.png", 200, 100)
    tasks = [{
        "id": 7, "data": {"image": "/data/upload/1/0a1b2c3d-cat.png"},
        "annotations": [{"id": 1, "result": [
            {"id": "r1", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
             "original_width": 200, "original_height": 100,
             "value": {"x": 10, "y": 20, "width": 50, "height": 30, "rotation": 0,
                       "rectanglelabels": ["cat"]}},
            {"id": "r1", "type": "choices", "from_name": "pose",
             "value": {"choices": ["sitting"]}},
            {"id": "r2", "type": "polygonlabels", "original_width": 200, "original_height": 100,
             "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["dog"]}},
            {"id": "r3", "type": "textarea", "value": {"text": ["a caption"]}},
        ]}],
        "predictions": [{"model_version": "yolo-v8", "score": 0.75, "result": [
            {"id": "p1", "type": "rectanglelabels", "original_width": 200,
             "original_height": 100,
             "value": {"x": 0, "y": 0, "width": 10, "height": 10, "rectanglelabels": ["cat"]}},
        ]}],
    }]  # fmt: skip
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    assert detect_format(path) == "labelstudio"
    pid, outcome = import_into(service, path)
    assert outcome.losses == {"caption": 1}
    [f], _ = service.list_files(pid)
    instances = {i["external_id"]: i for i in service.list_instances(pid, f["id"])[0]}
    human = instances["labelstudio:7:anno:1:r1"]
    assert (human["x_min"], human["y_min"], human["x_max"], human["y_max"]) == (20, 20, 120, 50)
    assert human["machine_made"] is False and human["attribute_groups"]
    poly = instances["labelstudio:7:anno:1:r2"]
    assert poly["points"] == [{"x": 0, "y": 0}, {"x": 100, "y": 0}, {"x": 100, "y": 50}]
    predicted = instances["labelstudio:7:pred:0:p1"]
    assert predicted["machine_made"] is True and predicted["score"] == 0.75
    assert service.store.list_models(pid)[0].reference == "yolo-v8"


def test_labelme_shapes(service, tmp_path: Path) -> None:
    make_png(tmp_path / "a.png", 64, 48)
    doc = {
        "version": "5.0.1", "flags": {"night": True, "blurry": False}, "imagePath": "a.png",
        "imageData": None, "imageHeight": 48, "imageWidth": 64,
        "shapes": [
            {"label": "cat", "points": [[10, 20], [2, 4]], "shape_type": "rectangle",
             "flags": {"truncated": True}, "group_id": None},
            {"label": "dog", "points": [[1, 1], [9, 1], [5, 8]], "shape_type": "polygon"},
            {"label": "dog", "points": [[20, 20], [23, 24]], "shape_type": "circle"},
            {"label": "dog", "points": [[1, 1]], "shape_type": "mask"},
        ],
    }  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps(doc))
    assert detect_format(tmp_path / "a.json") == "labelme"
    pid, outcome = import_into(service, tmp_path / "a.json")
    assert outcome.losses == {"rle_mask": 1}
    [f], _ = service.list_files(pid)
    by_type = {i["type"]: i for i in service.list_instances(pid, f["id"])[0]}
    assert (by_type["box"]["x_min"], by_type["box"]["y_max"]) == (2, 20)
    assert by_type["ellipse"]["width"] == 5.0
    assert by_type["tag"]["label_name"] == "night"
