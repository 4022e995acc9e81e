"""A project with every instance type, exported as Diffgram JSON and imported into a fresh
project, has the same instances, field by field: machine_made, model and run references, score,
audio times, keypoints, attributes, sequences and keyframes included."""

from __future__ import annotations

import json
from pathlib import Path

from convert_helpers import project_instances, submit

from labelport.convert import diffgram
from labelport.convert.export import Export
from labelport.convert.importer import ImportOptions, run
from labelport.convert.targets import EmbeddedTarget
from media_factory import make_geojson, make_mp4, make_pcd, make_png, make_wav


def p(x: float, y: float) -> dict:
    return {"x": x, "y": y}


def full_project(service, media: Path) -> int:
    project = service.create_project("Everything")
    pid = project["id"]
    labels = {x["name"]: x["id"] for x in service.create_labels(pid, ["cat", "dog", "word"])}
    colour = service.create_attribute_group(
        pid, name="colour", kind="select", options=["red", "blue"], label_ids=[labels["cat"]]
    )
    parts = service.create_attribute_group(
        pid, name="parts", kind="multiple_select", options=["ear", "tail", "paw"]
    )
    note = service.create_attribute_group(pid, name="note", kind="text")
    size = service.create_attribute_group(pid, name="size", kind="slider", min_value=0,
                                          max_value=10)  # fmt: skip
    red = colour["options"][0]["id"]
    ear, paw = parts["options"][0]["id"], parts["options"][2]["id"]
    media.mkdir()
    face = {"top_left": p(1, 1), "top_right": p(9, 1), "bot_left": p(1, 9), "bot_right": p(9, 9)}
    image_instances = [
        {"type": "box", "name": "cat", "x_min": 1.25, "y_min": 2, "x_max": 30.5, "y_max": 40,
         "score": 0.875, "model_ref": "detector-v2", "model_run_ref": "run-7", "id": "b1",
         "attribute_groups": {str(colour["id"]): red, str(parts["id"]): [ear, paw],
                              str(size["id"]): 7.5}},
        {"type": "box", "name": "dog", "x_min": 3, "y_min": 3, "x_max": 9, "y_max": 9,
         "machine_made": False, "id": "b2"},
        {"type": "polygon", "name": "dog", "points": [p(1, 1), p(20, 2.5), p(10, 30)]},
        {"type": "point", "name": "cat", "points": [p(4.5, 6)]},
        {"type": "line", "name": "cat", "points": [p(1, 1), p(5, 5), p(9, 2)]},
        {"type": "ellipse", "name": "cat", "center_x": 20, "center_y": 20, "width": 5,
         "height": 3, "rotation": 0.5},
        {"type": "curve", "name": "dog", "p1": p(1, 1), "p2": p(30, 30), "cp": p(15, 2)},
        {"type": "cuboid", "name": "dog", "front_face": face,
         "rear_face": {k: p(v["x"] + 3, v["y"] + 2) for k, v in face.items()}},
        {"type": "keypoints", "name": "cat", "id": "k1",
         "nodes": [{"id": 0, "x": 5, "y": 5, "name": "nose"},
                   {"id": 1, "x": 8, "y": 6, "occluded": True, "name": "ear"}],
         "edges": [{"from": 0, "to": 1}]},
        {"type": "tag", "name": "dog"},
        {"type": "global", "attribute_groups": {str(note["id"]): "sunny day"}},
        {"type": "relation", "from": "b1", "to": "b2"},
    ]  # fmt: skip
    submit(service, pid, {"media": {"type": "image"}, "instance_list": image_instances},
           make_png(media / "scene.png", 64, 48))  # fmt: skip

    def vbox(name: str, number: int, x: float, **extra) -> dict:
        return {"type": "box", "name": name, "number": number, "x_min": x, "y_min": 1,
                "x_max": x + 5, "y_max": 8, **extra}  # fmt: skip

    frames = {
        0: [vbox("cat", 1, 1.5, id="c1f0"), vbox("dog", 1, 20)],
        2: [vbox("cat", 1, 3.5), vbox("cat", 2, 30, machine_made=False)],
        5: [vbox("cat", 1, 7.25, score=0.5, model_ref="tracker")],
        7: [{"type": "point", "name": "dog", "number": 3, "points": [p(2, 2)]}],
    }
    submit(service, pid, {"media": {"type": "video"}, "frame_packet_map": frames},
           make_mp4(media / "clip.mp4", frames=10, fps=10))  # fmt: skip
    submit(service, pid, {
        "text_data": "The quick brown fox jumps.", "original_filename": "fox.txt",
        "instance_list": [{"type": "text_token", "name": "word", "start_token": 1,
                           "end_token": 2, "start_char": 4, "end_char": 15}]})  # fmt: skip
    submit(service, pid, {"media": {"type": "audio"}, "instance_list": [
        {"type": "audio", "name": "dog", "start_time": 0.25, "end_time": 1.125, "score": 0.3}]},
        make_wav(media / "bark.wav", seconds=1.5))  # fmt: skip
    submit(service, pid, {"media": {"type": "point_cloud"}, "instance_list": [
        {"type": "cuboid_3d", "name": "cat", "center_3d": {"x": 1, "y": 2, "z": 0.5},
         "dimensions_3d": {"width": 1, "height": 2, "depth": 3},
         "rotation_euler_angles": {"x": 0, "y": 0, "z": 1.5}}]},
        make_pcd(media / "scan.pcd", [(0, 0, 0), (1, 2, 3), (2, 4, 1)]))  # fmt: skip
    submit(service, pid, {"media": {"type": "geo"}, "instance_list": [
        {"type": "geo_point", "name": "cat", "lonlat": [13.4, 52.5]},
        {"type": "geo_circle", "name": "dog", "lonlat": [13.4, 52.5], "radius": 120.5},
        {"type": "geo_polyline", "name": "dog", "coords": [[2.3, 48.8], [2.4, 48.85]]},
        {"type": "geo_polygon", "name": "cat",
         "coords": [[2.3, 48.8], [2.4, 48.8], [2.4, 48.9]]},
        {"type": "geo_box", "name": "cat", "bounds_lonlat": [[2.3, 48.8], [2.4, 48.9]]}]},
        make_geojson(media / "map.geojson"))  # fmt: skip
    return pid


def test_every_instance_type_survives_a_diffgram_round_trip(service, tmp_path: Path) -> None:
    source = full_project(service, tmp_path / "media")
    export = Export(service, source, tmp_path / "out" / "media")
    path = diffgram.write(export, tmp_path / "out")
    assert not export.losses
    data = json.loads(path.read_text())
    video = next(v for k, v in data.items() if isinstance(v, dict) and v.get("video"))
    numbers = sorted((s["label_name"], s["number"]) for s in video["sequence_list"])
    assert numbers == [("cat", 1), ("cat", 2), ("dog", 1), ("dog", 3)]
    cat1 = next(s for s in video["sequence_list"] if (s["label_name"], s["number"]) == ("cat", 1))
    assert cat1["keyframe_list"]["frame_number_list"] == [0, 2, 5]

    service.create_project("Fresh")
    target = EmbeddedTarget(service, "fresh")
    outcome = run(path, target, ImportOptions(create_labels=True))
    assert outcome.format == "diffgram"
    assert not outcome.failed, outcome.problems
    assert (outcome.files_ok, outcome.losses) == (6, {})

    before = project_instances(service, source)
    after = project_instances(service, target.project_id)
    assert sorted(after) == sorted(before)
    types = {i["type"] for v in before.values() for i in v}
    assert len(types) == 19  # every instance type is in the comparison
    for name in before:
        assert after[name] == before[name], name
    seqs = lambda pid: sorted(  # noqa: E731
        (s["label_name"], s["number"], tuple(s["keyframes"]))
        for f in service.list_files(pid)[0]
        if f["media_type"] == "video"
        for s in service.list_sequences(pid, f["id"])
    )
    assert seqs(target.project_id) == seqs(source)
