"""The CVAT writer: export -> labelport's own CVAT reader gives the same instances (coordinates
to the bit), for images and for video tracks (gaps closed by `outside` shapes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from convert_helpers import boxes_and_polygons_project, geometry, project_instances, submit

from labelport.convert import detect_format, module
from labelport.convert.export import Export
from labelport.convert.importer import ImportOptions, run
from labelport.convert.targets import EmbeddedTarget
from media_factory import make_mp4, make_png

# what differs between a project and its copy by construction
VOLATILE = ("external_id", "created_at", "updated_at")


def export_to(service, project_id: int, fmt: str, out: Path) -> Export:
    export = Export(service, project_id, out / "images")
    module(fmt).write(export, out)
    return export


def reimport(service, out: Path, fmt: str, name: str):
    service.create_project(name)
    target = EmbeddedTarget(service, name.lower().replace(" ", "-"))
    outcome = run(out, target, ImportOptions(format=fmt, create_labels=True))
    assert not outcome.failed, outcome.problems
    return target.project_id, outcome


def comparable(service, project_id: int) -> dict[str, list[dict]]:
    out = {}
    for name, instances in project_instances(service, project_id).items():
        rows = [{k: v for k, v in i.items() if k not in VOLATILE} for i in instances]
        out[name] = sorted(rows, key=repr)  # external ids differ: order by content
    return out


def test_images_survive_exactly(service, tmp_path: Path) -> None:
    source = boxes_and_polygons_project(service, tmp_path / "media", files=3, per_file=8)
    export = export_to(service, source, "cvat", tmp_path / "out")
    assert not export.losses
    assert detect_format(tmp_path / "out") == "cvat"
    copy, outcome = reimport(service, tmp_path / "out", "cvat", "Copy")
    assert outcome.files_ok == 3 and not outcome.losses
    assert geometry(service, copy) == geometry(service, source)


def test_every_cvat_shape_and_origin_survives(service, tmp_path: Path) -> None:
    project = service.create_project("Shapes")
    service.create_labels(project["id"], ["car", "hand"])
    image = make_png(tmp_path / "a.png", 97, 61)
    instances = [
        {"type": "box", "name": "car", "x_min": 0.1, "y_min": 1 / 3, "x_max": 50.7,
         "y_max": 60.999, "machine_made": False},
        {"type": "box", "name": "car", "x_min": 3, "y_min": 4, "x_max": 9, "y_max": 9.5,
         "machine_made": True},
        {"type": "line", "name": "hand", "points": [{"x": 1.25, "y": 2}, {"x": 7, "y": 8.5}],
         "machine_made": False},
        {"type": "point", "name": "hand", "points": [{"x": 5.5, "y": 6}], "machine_made": False},
        {"type": "keypoints", "name": "hand", "machine_made": False,
         "nodes": [{"id": 0, "x": 1, "y": 2}, {"id": 1, "x": 3.75, "y": 4}]},
        {"type": "ellipse", "name": "car", "center_x": 40, "center_y": 30, "width": 5.5,
         "height": 3, "machine_made": False},
        {"type": "tag", "name": "car", "machine_made": False},
    ]  # fmt: skip
    submit(service, project["id"], {"media": {"type": "image"}, "instance_list": instances}, image)
    export = export_to(service, project["id"], "cvat", tmp_path / "out")
    assert not export.losses
    copy, _ = reimport(service, tmp_path / "out", "cvat", "Shapes copy")
    assert comparable(service, copy) == comparable(service, project["id"])


def test_video_tracks_keep_frames_gaps_and_numbers(service, tmp_path: Path) -> None:
    project = service.create_project("Clips")
    service.create_labels(project["id"], ["car", "bike"])
    video = make_mp4(tmp_path / "clip.mp4", frames=8, fps=5, width=64, height=48)

    def car(x: float) -> dict:
        return {"type": "box", "name": "car", "number": 1, "machine_made": False,
                "x_min": x, "y_min": 1.5, "x_max": x + 9.25, "y_max": 20}  # fmt: skip

    frames = {
        "0": [car(1)],
        "1": [car(2.5), {"type": "polygon", "name": "bike", "number": 2, "machine_made": True,
                          "points": [{"x": 1, "y": 1}, {"x": 9, "y": 1}, {"x": 5, "y": 7.5}]}],
        "4": [car(6)],  # a gap of frames 2-3: the track must not be carried over it
        "7": [car(7)],  # the last frame: no outside shape past the video's end
    }  # fmt: skip
    submit(service, project["id"], {"media": {"type": "video"}, "frame_packet_map": frames},
           video)  # fmt: skip
    export_to(service, project["id"], "cvat", tmp_path / "out")
    tree = ET.parse(tmp_path / "out" / "clip.mp4.xml").getroot()
    car_track = next(t for t in tree.iter("track") if t.get("label") == "car")
    shown = [(b.get("frame"), b.get("outside")) for b in car_track]
    assert shown == [("0", "0"), ("1", "0"), ("2", "1"), ("4", "0"), ("5", "1"), ("7", "0")]
    copy, outcome = reimport(service, tmp_path / "out", "cvat", "Clips copy")
    assert not outcome.losses
    assert comparable(service, copy) == comparable(service, project["id"])
    [f] = service.list_files(copy)[0]
    seqs = sorted((s["label_name"], s["number"], tuple(s["keyframes"]))
                  for s in service.list_sequences(copy, f["id"]))  # fmt: skip
    assert seqs == [("bike", 2, (1,)), ("car", 1, (0, 1, 4, 7))]


def test_scores_are_counted_as_not_carried(service, tmp_path: Path) -> None:
    project = service.create_project("Scored")
    service.create_labels(project["id"], ["car"])
    image = make_png(tmp_path / "a.png", 64, 48)
    instances = [{"type": "box", "name": "car", "x_min": 1, "y_min": 1, "x_max": 5, "y_max": 5,
                  "score": 0.5, "machine_made": True},
                 {"type": "audio", "name": "car", "start_time": 0, "end_time": 1}]  # fmt: skip
    submit(service, project["id"], {"media": {"type": "image"}, "instance_list": instances[:1]},
           image)  # fmt: skip
    export = export_to(service, project["id"], "cvat", tmp_path / "out")
    assert export.losses == {"prediction_details": 1}
