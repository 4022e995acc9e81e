"""CVAT (issue 12): a `points` shape is one instance, a project export is one file per
(subset, name) with its media under images/<subset>/, empty labels are problems with their
place, and `source` says who drew a shape."""

from __future__ import annotations

import shutil
from pathlib import Path

from labelport.convert import detect_format, module
from labelport.convert.importer import ImportOptions, run
from labelport.convert.model import Conversion
from labelport.convert.targets import EmbeddedTarget
from media_factory import make_mp4, make_png

FIXTURES = Path(__file__).parent / "fixtures"


def copy_fixture(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def read_all(path: Path):
    conv = Conversion()
    return list(module("cvat").read(path, conv)), conv


def import_into(service, path: Path, name: str, **options):
    service.create_project(name)
    target = EmbeddedTarget(service, name.lower())
    outcome = run(path, target, ImportOptions(create_labels=True, **options))
    return target.project_id, outcome


def stored(service, project_id: int) -> dict[str, list[dict]]:
    files, _ = service.list_files(project_id, per_page=100)
    return {
        f"{f['original_filename']}@{f['width']}": service.list_instances(project_id, f["id"])[0]
        for f in files
    }


def test_points_shape_of_several_points_is_one_keypoints_instance(service, tmp_path: Path) -> None:
    root = copy_fixture("cvat_video_points", tmp_path)
    make_mp4(root / "hands.mp4", frames=4, fps=5, width=64, height=48)
    [video], _conv = read_all(root / "annotations.xml")
    assert not video.problems
    hands = [i for i in video.all_instances() if i["name"] == "hand"]
    assert [(i["type"], i["number"], len(i["nodes"])) for i in hands] == [
        ("keypoints", 1, 4),
        ("keypoints", 1, 4),
    ]
    assert hands[0]["nodes"][1] == {"id": 1, "x": 14.0, "y": 12.0}
    # stored as one video, no sequence.duplicate_in_frame
    pid, outcome = import_into(service, root / "annotations.xml", "Hands")
    assert not outcome.failed, outcome.problems
    [f] = service.list_files(pid)[0]
    seqs = sorted((s["label_name"], s["number"], tuple(s["keyframes"]))
                  for s in service.list_sequences(pid, f["id"]))  # fmt: skip
    assert seqs == [("ball", 2, (1,)), ("hand", 1, (0, 1))]
    instances = service.list_instances(pid, f["id"])[0]
    assert outcome.instances == len(instances) == 3


def test_project_export_is_one_file_per_subset_and_name(service, tmp_path: Path) -> None:
    root = copy_fixture("cvat_project", tmp_path)
    for subset in ("Train", "Validation"):
        (root / "images" / subset).mkdir(parents=True)
    make_png(root / "images" / "Train" / "frame_01.png", 64, 48)
    make_png(root / "images" / "Train" / "frame_02.png", 64, 48)
    make_png(root / "images" / "Validation" / "frame_01.png", 80, 60)
    assert detect_format(root) == "cvat"
    items, _conv = read_all(root / "annotations.xml")
    assert [(i.name, i.media_path.relative_to(root).as_posix()) for i in items] == [
        ("Train/frame_01.png", "images/Train/frame_01.png"),
        ("Train/frame_02.png", "images/Train/frame_02.png"),
        ("Validation/frame_01.png", "images/Validation/frame_01.png"),
    ]
    assert len({i.key for i in items}) == 3
    pid, outcome = import_into(service, root, "Streets")
    assert not outcome.failed, outcome.problems
    assert (outcome.files_ok, outcome.files_updated) == (3, 0)
    files = stored(service, pid)
    assert {k: len(v) for k, v in files.items()} == {  # stored with their subset folder
        "Train/frame_01.png@64": 2,
        "Train/frame_02.png@64": 1,
        "Validation/frame_01.png@80": 1,
    }
    assert outcome.instances == sum(len(v) for v in files.values()) == 4
    assert sum(outcome.instances_per_label.values()) == 4
    [validation_box] = files["Validation/frame_01.png@80"]
    assert (validation_box["x_min"], validation_box["x_max"]) == (40, 79.5)


def test_empty_label_is_a_problem_at_its_shape(service, tmp_path: Path) -> None:
    root = copy_fixture("cvat_images_sources", tmp_path)
    make_png(root / "a.png", 64, 48)
    make_png(root / "b.png", 64, 48)
    items, _conv = read_all(root / "annotations.xml")
    [problem] = items[1].problems
    assert (problem.code, problem.path) == ("convert.invalid", "annotations.xml:image/1/box/0")
    assert 'empty label (label="")' in problem.message
    assert [i["x_min"] for i in items[1].instances] == [2]  # the other shape is kept
    _pid, outcome = import_into(service, root, "Empty", on_error="skip_instances")
    assert outcome.files_ok == 2 and outcome.instances == 6
    assert [p.path for p in outcome.problems] == ["annotations.xml:image/1/box/0"]


def test_source_says_who_drew_the_shape(tmp_path: Path) -> None:
    root = copy_fixture("cvat_images_sources", tmp_path)
    [a, _b], _conv = read_all(root / "annotations.xml")
    made = [(i["x_min"], i["machine_made"]) for i in a.instances]
    # manual, no source (older exports), file: a person's; auto and semi-auto: a model's
    assert made == [(1, False), (2, False), (3, False), (4, True), (5, True)]


def test_track_without_source_is_human(tmp_path: Path) -> None:
    (tmp_path / "v.xml").write_text(
        '<?xml version="1.0"?><annotations><meta><task><labels><label><name>car</name>'
        "</label></labels></task><source>v.mp4</source></meta>"
        '<track id="0" label="car"><box frame="0" outside="0" keyframe="1" xtl="1" ytl="1"'
        ' xbr="4" ybr="4"/></track></annotations>'
    )
    [video], _conv = read_all(tmp_path / "v.xml")
    assert [i["machine_made"] for i in video.all_instances()] == [False]
