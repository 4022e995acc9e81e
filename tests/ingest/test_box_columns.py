"""A checked video packet's plain boxes kept in columns (`compact_frames`) plan, check against
the media and write exactly as their structs do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labelport import format as fmt
from labelport.format.labels import LabelIndex
from labelport.ingest.plan import ProjectContext, plan_import
from labelport.ingest.rows import BoxColumns, KeptInstances, compact_frames, media_view
from labelport.store.plan import Resolved

LABELS = {"cat": 1, "dog": 2}
VIDEO = fmt.MediaInfo(media_type="video", width=640, height=480, frame_count=10)


def _box(name: str, number: int, x: float, **more: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "number": number, "x_min": x, "y_min": 10.5,
            "x_max": x + 20.25, "y_max": 40.0, **more}  # fmt: skip


def _packet(frames: dict[int, list[dict[str, Any]]]) -> tuple[fmt.Packet, fmt.Report]:
    body = json.dumps({"media": {"url": "https://example.com/v.mp4", "type": "video"},
                       "frame_packet_map": frames})  # fmt: skip
    packet, report = fmt.decode_packet(body)
    assert packet is not None
    fmt.check_packet(packet, labels=LabelIndex.from_mapping(LABELS), report=report)
    assert not report.problem_count, report.problems
    return packet, report


FRAMES = {
    0: [_box("cat", 1, 1.5), _box("dog", 1, 100.0, machine_made=False)],
    1: [_box("cat", 1, 2.5), _box("cat", 2, 300.0)],
    2: [_box("dog", 1, 3.0, score=0.5)],  # a score: stays structs
    3: [_box("cat", 1, 4.0), {"type": "tag", "name": "dog"}],  # not only boxes
    4: [],
    5: [_box("dog", 1, 5.0, id="a"), _box("cat", 3, 6.0)],  # an external id
    6: [_box("cat", 2, 7.0, attribute_groups={})],  # attributes, even empty
    7: [_box("dog", 2, 8.0, y_max=35.0)],  # min/max swapped by the checks
}


def _plan_and_rows(packet: fmt.Packet, report: fmt.Report, digest: bool) -> tuple[Any, list[Any]]:
    context = ProjectContext(
        project_id=1, label_ids=dict(LABELS), label_names={v: k for k, v in LABELS.items()}
    )
    plan = plan_import(
        KeptInstances(packet, report.rejected),
        context,
        import_id=1,
        file_id=7 if digest else None,
        mode="update" if digest else "create",
        warnings=[],
    )
    tracks = {(s.label_id, s.number): 100 + n for n, s in enumerate(plan.sequences)}
    resolved = Resolved(sequence_ids=tracks, model_ids={}, model_run_ids={}, digest=digest)
    assert plan.rows is not None
    return plan, list(plan.rows(resolved))


@pytest.mark.parametrize("digest", [False, True])
def test_columns_plan_and_write_the_same_rows(digest: bool) -> None:
    frames = {k: [dict(i) for i in v] for k, v in FRAMES.items()}
    frames[7][0]["y_min"] = 50.0  # inverted: the checks swap y_min and y_max
    plain, plain_report = _packet(frames)
    packet, report = _packet(frames)
    compact_frames(packet)
    assert packet.frame_packet_map is not None
    kinds = {frame: type(listed).__name__ for frame, listed in packet.frame_packet_map.items()}
    assert kinds == {0: "BoxColumns", 1: "BoxColumns", 2: "list", 3: "list", 4: "list",
                     5: "list", 6: "list", 7: "BoxColumns"}  # fmt: skip
    expected_plan, expected_rows = _plan_and_rows(plain, plain_report, digest)
    plan, rows = _plan_and_rows(packet, report, digest)
    assert rows == expected_rows
    assert [type(v) for row in rows for v in row] == [type(v) for row in expected_rows for v in row]
    assert plan.counts == expected_plan.counts
    assert plan.sequences == expected_plan.sequences
    assert plan.instance_count == expected_plan.instance_count == 11
    # and back as structs, for any other reader
    columns = packet.frame_packet_map[7]
    assert isinstance(columns, BoxColumns)
    assert list(columns) == plain.frame_packet_map[7]  # type: ignore[index]


def test_media_view_leaves_out_only_the_frames_the_media_checks_would_pass() -> None:
    frames = {
        0: [_box("cat", 1, 1.5)],  # inside
        1: [_box("cat", 1, 620.0)],  # x_max 640.25: a quarter pixel out, clamped
        2: [_box("dog", 1, 700.0)],  # wholly outside
        3: [_box("dog", 1, 0.0, x_max=640.0, y_min=0.0, y_max=480.0)],  # on the edges
        12: [_box("cat", 1, 1.0)],  # beyond the video's 10 frames
    }
    plain, plain_report = _packet(frames)
    packet, report = _packet(frames)
    compact_frames(packet)
    view = media_view(packet, VIDEO)
    assert view.frame_packet_map is not None and packet.frame_packet_map is not None
    assert list(view.frame_packet_map) == [1, 2, 12]
    for frame in (1, 2, 12):  # back as structs, in the packet too
        assert packet.frame_packet_map[frame] is view.frame_packet_map[frame]
    assert isinstance(packet.frame_packet_map[0], BoxColumns)
    fmt.check_media(view, VIDEO, report=report)
    fmt.check_media(plain, VIDEO, report=plain_report)
    assert report.problems == plain_report.problems
    assert report.warnings == plain_report.warnings
    assert packet.frame_packet_map[1][0].x_max == 640.0  # clamped where it will be written
    # without a known size only the frame range is checked
    unsized = fmt.MediaInfo(media_type="video", frame_count=10)
    assert list(media_view(packet, unsized).frame_packet_map or {}) == [1, 2, 12]


def test_not_compacted_with_nothing_to_compact() -> None:
    packet, _report = _packet({0: [{"type": "tag", "name": "cat"}]})
    compact_frames(packet)
    assert packet.frame_packet_map is not None
    assert type(packet.frame_packet_map[0]) is list
    assert media_view(packet, VIDEO) is packet
