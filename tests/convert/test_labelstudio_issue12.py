"""Label Studio (issue 12): annotations are human, predictions machine made with their (per
region) score; percents past 100 pass through the converter untouched for the media checks to
clamp; the writer's tasks read back to the same instances, coordinates to the bit."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from convert_helpers import boxes_and_polygons_project, geometry, project_instances, submit

from labelport.convert import detect_format, module
from labelport.convert.export import Export
from labelport.convert.importer import ImportOptions, run
from labelport.convert.model import Conversion
from labelport.convert.targets import EmbeddedTarget
from media_factory import make_mp4, make_png

FIXTURES = Path(__file__).parent / "fixtures"
VOLATILE = ("external_id", "created_at", "updated_at")


def fixture(tmp_path: Path) -> Path:
    root = Path(shutil.copytree(FIXTURES / "labelstudio_export", tmp_path / "ls"))
    (root / "images").mkdir()
    make_png(root / "images" / "road.png", 200, 100)
    return root / "tasks.json"


def read_all(path: Path):
    conv = Conversion()
    return list(module("labelstudio").read(path, conv)), conv


def test_annotations_human_predictions_machine_made_with_region_scores(tmp_path: Path) -> None:
    [item], _conv = read_all(fixture(tmp_path))
    by_id = {i["id"].rsplit(":", 1)[1]: i for i in item.instances}
    assert by_id["wide-1"]["machine_made"] is False and "score" not in by_id["wide-1"]
    assert (by_id["p-1"]["machine_made"], by_id["p-1"]["score"]) == (True, 0.625)
    assert (by_id["p-2"]["machine_made"], by_id["p-2"]["score"]) == (True, 0.25)
    assert by_id["p-1"]["model_ref"] == "detector-3"


def test_width_past_100_percent_is_passed_through(tmp_path: Path) -> None:
    [item], _conv = read_all(fixture(tmp_path))
    wide = next(i for i in item.instances if i["id"].endswith("wide-1"))
    assert wide["x_max"] == 120 + 40.43 * 200 / 100 > 200  # not clipped, not rejected
    assert not item.problems


def export_to(service, project_id: int, out: Path) -> Export:
    export = Export(service, project_id, out / "images")
    module("labelstudio").write(export, out)
    return export


def reimport(service, out: Path, name: str):
    service.create_project(name)
    target = EmbeddedTarget(service, name.lower().replace(" ", "-"))
    outcome = run(out / "tasks.json", target, ImportOptions(format="labelstudio",
                                                            create_labels=True))  # fmt: skip
    assert not outcome.failed, outcome.problems
    return target.project_id, outcome


def comparable(service, project_id: int) -> dict[str, list[dict]]:
    out = {}
    for name, instances in project_instances(service, project_id).items():
        rows = [{k: v for k, v in i.items() if k not in VOLATILE} for i in instances]
        out[name] = sorted(rows, key=repr)
    return out


def test_boxes_and_polygons_survive_exactly(service, tmp_path: Path) -> None:
    source = boxes_and_polygons_project(service, tmp_path / "media", files=4, per_file=10)
    export = export_to(service, source, tmp_path / "out")
    assert not export.losses
    assert detect_format(tmp_path / "out" / "tasks.json") == "labelstudio"
    copy, outcome = reimport(service, tmp_path / "out", "Copy")
    assert outcome.files_ok == 4 and not outcome.losses
    assert geometry(service, copy) == geometry(service, source)


def test_predictions_and_annotations_survive(service, tmp_path: Path) -> None:
    rng = random.Random(3)
    project = service.create_project("Mixed")
    service.create_labels(project["id"], ["car", "hand"])
    image = make_png(tmp_path / "a.png", 97, 61)
    instances = [
        {"type": "box", "name": "car", "x_min": rng.uniform(0, 40), "y_min": 1 / 3,
         "x_max": 50.7, "y_max": 60.999, "machine_made": False},
        {"type": "box", "name": "car", "x_min": 3, "y_min": 4, "x_max": 9, "y_max": 9.5,
         "machine_made": True, "score": 0.875, "model_ref": "det-1"},
        {"type": "point", "name": "hand", "points": [{"x": rng.uniform(0, 97), "y": 6}],
         "machine_made": False},
        {"type": "ellipse", "name": "car", "center_x": 40, "center_y": 30.1, "width": 5.5,
         "height": 3, "machine_made": True, "score": 0.5, "model_ref": "det-1"},
        {"type": "tag", "name": "car", "machine_made": False},
    ]  # fmt: skip
    submit(service, project["id"], {"media": {"type": "image"}, "instance_list": instances}, image)
    export = export_to(service, project["id"], tmp_path / "out")
    assert not export.losses
    [task] = json.loads((tmp_path / "out" / "tasks.json").read_text())
    assert task["data"]["image"] == "/data/local-files/?d=images/a.png"
    assert [p["model_version"] for p in task["predictions"]] == ["det-1"]
    copy, _ = reimport(service, tmp_path / "out", "Mixed copy")
    assert comparable(service, copy) == comparable(service, project["id"])


def test_video_rectangles_survive(service, tmp_path: Path) -> None:
    project = service.create_project("Clip")
    service.create_labels(project["id"], ["car"])
    video = make_mp4(tmp_path / "clip.mp4", frames=6, fps=5, width=64, height=48)

    def car(x: float) -> list[dict]:
        return [{"type": "box", "name": "car", "number": 1, "machine_made": False,
                 "x_min": x, "y_min": 8, "x_max": x + 16, "y_max": 24}]  # fmt: skip

    frames = {"0": car(0), "1": car(8), "4": car(16)}  # a gap: frame 1 ends a lifespan
    submit(service, project["id"], {"media": {"type": "video"}, "frame_packet_map": frames},
           video)  # fmt: skip
    export_to(service, project["id"], tmp_path / "out")
    [task] = json.loads((tmp_path / "out" / "tasks.json").read_text())
    [region] = task["annotations"][0]["result"]
    steps = [(s["frame"], s["enabled"]) for s in region["value"]["sequence"]]
    assert steps == [(1, True), (2, False), (5, False)]
    copy, _ = reimport(service, tmp_path / "out", "Clip copy")
    assert comparable(service, copy) == comparable(service, project["id"])


def test_width_past_100_percent_imports_clamped(service, tmp_path: Path) -> None:
    path = fixture(tmp_path)
    service.create_project("Wide")
    target = EmbeddedTarget(service, "wide")
    outcome = run(path, target, ImportOptions(create_labels=True))
    assert not outcome.failed, outcome.problems
    [f] = service.list_files(target.project_id)[0]
    instances = service.list_instances(target.project_id, f["id"])[0]
    wide = next(i for i in instances if i["external_id"].endswith("wide-1"))
    assert wide["x_max"] == 200  # 0.86 px past the edge: clamped by the media checks
    [imp] = service.list_imports(target.project_id)[0]
    warnings = service.get_import(target.project_id, imp["id"])["warnings"]
    assert any(w["code"] == "shape.clamped" for w in warnings), warnings
    # and the import's summary says so, placed in the source
    assert outcome.warning_count == len(warnings)
    assert {w.code for w in outcome.warnings} == {"shape.clamped"}
    assert all(w.path.startswith(path.name) for w in outcome.warnings), outcome.warnings
