"""MOT as other tools write it: datumaro's `gt/gt.txt` with `gt/labels.txt`, rows with no
identity (track id -1), and space-separated files told apart by their separator."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_readers import import_into, read_all

from labelport.convert import detect_format
from labelport.convert.model import MACHINE_MADE
from media_factory import make_mp4

FIXTURES = Path(__file__).parent / "fixtures"


def test_gt_labels_file_names_the_classes_and_id_minus_one_is_untracked() -> None:
    seq = FIXTURES / "mot_datumaro" / "mot_seq"
    assert detect_format(seq) == "mot"
    [item], conv = read_all(seq, "mot")
    assert item.problems == [] and conv.problems == []
    rows = sorted(
        (frame, i["name"], i["number"], i["id"], i.get(MACHINE_MADE))
        for frame, instances in item.frames.items()
        for i in instances
    )
    # class 1 is the labels file's "car", not MOT17's "pedestrian"; the two rows with id -1
    # are one-box tracks numbered after the highest id (2)
    assert rows == [
        (0, "bicycle", 3, "mot:line:1", False),
        (0, "car", 1, "mot:1:0", False),
        (1, "car", 1, "mot:1:1", False),
        (1, "person", 4, "mot:line:4", False),
        (2, "person", 2, "mot:2:2", False),
    ]


def test_a_class_beyond_the_labels_file_is_a_problem_not_a_mot17_name(tmp_path: Path) -> None:
    seq = tmp_path / "seq"
    shutil.copytree(FIXTURES / "mot_datumaro" / "mot_seq", seq)
    (seq / "gt" / "gt.txt").write_text("1,1,1,2,3,4,1,5,1.0\n")  # class 5: MOT17 has it
    [item], _conv = read_all(seq, "mot")
    assert [(p.code, p.path) for p in item.problems] == [
        ("convert.class_unknown", "seq/gt/gt.txt:1")
    ]
    assert "3 classes" in item.problems[0].message


def test_untracked_boxes_are_one_box_tracks(service, tmp_path: Path) -> None:
    seq = tmp_path / "mot_seq"
    shutil.copytree(FIXTURES / "mot_datumaro" / "mot_seq", seq)
    make_mp4(seq / "mot_seq.mp4", frames=4, fps=5)
    pid, outcome = import_into(service, seq)
    assert outcome.files_ok == 1 and outcome.instances == 5
    [video], _ = service.list_files(pid)
    seqs = sorted((s["label_name"], s["number"], tuple(s["keyframes"]))
                  for s in service.list_sequences(pid, video["id"]))  # fmt: skip
    assert seqs == [("bicycle", 3, (0,)), ("car", 1, (0, 1)), ("person", 2, (2,)),
                    ("person", 4, (1,))]  # fmt: skip
    instances, _ = service.list_instances(pid, video["id"])
    assert {i["machine_made"] for i in instances} == {False}


def test_space_separated_lines_name_the_separator() -> None:
    seq = FIXTURES / "mot_spaces"
    assert detect_format(seq) == "mot"
    [item], _conv = read_all(seq, "mot")
    [problem] = item.problems
    assert problem.code == "convert.invalid" and problem.path == "mot_spaces/gt/gt.txt:1"
    assert "3 line(s) separate their values with spaces" in problem.message
    assert "comma-separated" in problem.message


def test_det_file_is_machine_made(tmp_path: Path) -> None:
    det = tmp_path / "seq" / "det"
    det.mkdir(parents=True)
    (det / "det.txt").write_text("1,-1,1,2,3,4,12.5,-1,-1,-1\n")
    [item], _conv = read_all(tmp_path / "seq", "mot")
    [inst] = item.frames[0]
    assert inst[MACHINE_MADE] is True and inst["number"] == 1
