"""Sub-pixel overshoot: clamped to the media and warned about as `shape.clamped`; a whole pixel
out stays `shape.outside_media`."""

from __future__ import annotations

import pytest

from labelport.format import MediaInfo

from .helpers import codes, image, run, warning_codes

INFO = MediaInfo(media_type="image", width=640, height=480)
P = {"x": 1, "y": 2}


def _box(**keys):
    return {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40, **keys}


def test_yolo_rounding_at_the_left_edge_is_clamped_and_stored_clamped():
    packet, report = run(image(_box(x_min=-7.5e-06)), labels=["cat"], media=INFO)
    assert codes(report) == []
    assert warning_codes(report) == [("shape.clamped", "instance_list/0/x_min")]
    assert report.counts["clamped"] == 1
    assert packet.instance_list[0].x_min == 0.0


def test_box_past_the_right_edge_by_a_fraction_is_clamped():
    packet, report = run(image(_box(x_max=640.4, y_max=480.999)), labels=["cat"], media=INFO)
    assert codes(report) == []
    assert warning_codes(report) == [
        ("shape.clamped", "instance_list/0/x_max"),
        ("shape.clamped", "instance_list/0/y_max"),
    ]
    assert report.counts["clamped"] == 2
    assert (packet.instance_list[0].x_max, packet.instance_list[0].y_max) == (640.0, 480.0)
    assert "640.4" in report.warnings[0].message


@pytest.mark.parametrize("value", [-1, -1.5, 641, 700])
def test_a_whole_pixel_out_stays_a_problem(value):
    box = _box(x_min=value) if value < 0 else _box(x_max=value)
    _, report = run(image(box), labels=["cat"], media=INFO)
    assert [c for c, _ in codes(report)] == ["shape.outside_media"]
    assert "clamped" not in report.counts


SUBPIXEL = [
    ("polygon", {"points": [{"x": 0, "y": 0}, {"x": 5, "y": 0}, {"x": -0.385, "y": 5}]},
     "points/2/x", -0.385),
    ("line", {"points": [P, {"x": 640.385, "y": 1}]}, "points/1/x", 640.385),
    ("point", {"points": [{"x": 3, "y": 480.5}]}, "points/0/y", 480.5),
    ("ellipse", {"center_x": -0.2, "center_y": 5, "width": 2, "height": 3}, "center_x", -0.2),
    ("curve", {"p1": P, "p2": {"x": 5, "y": 5}, "cp": {"x": 1, "y": 480.3}}, "cp/y", 480.3),
    (
        "cuboid",
        {
            "front_face": {"top_left": P, "top_right": P, "bot_left": P, "bot_right": P},
            "rear_face": {
                "top_left": P,
                "top_right": {"x": 640.9, "y": 1},
                "bot_left": P,
                "bot_right": P,
            },
        },
        "rear_face/top_right/x",
        640.9,
    ),
    ("keypoints", {"nodes": [{"id": "a", "x": 1, "y": -0.01}], "edges": []}, "nodes/0/y", -0.01),
]  # fmt: skip


def _get(instance, suffix):
    obj = instance
    for part in suffix.split("/"):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


@pytest.mark.parametrize(("type_", "keys", "suffix", "value"), SUBPIXEL)
def test_every_planar_type_is_clamped(type_, keys, suffix, value):
    packet, report = run(image({"type": type_, "name": "cat", **keys}), labels=["cat"], media=INFO)
    assert codes(report) == []
    assert warning_codes(report) == [("shape.clamped", f"instance_list/0/{suffix}")]
    assert report.counts["clamped"] == 1
    limit = 640 if suffix.endswith("x") else 480
    assert _get(packet.instance_list[0], suffix) == min(max(value, 0), limit)


def test_occluded_keypoints_are_not_clamped():
    keys = {"nodes": [{"id": "a", "x": 640.5, "y": 1, "occluded": True}], "edges": []}
    packet, report = run(
        image({"type": "keypoints", "name": "cat", **keys}), labels=["cat"], media=INFO
    )
    assert codes(report) == [] and warning_codes(report) == []
    assert packet.instance_list[0].nodes[0].x == 640.5


def test_video_frames_are_clamped_with_their_path():
    frames = {
        "0": [_box(number=1)],
        "3": [_box(number=1), _box(number=2, x_min=-0.4, y_max=480.2)],
    }
    packet = {
        "media": {"url": "https://example.com/v.mp4", "type": "video"},
        "frame_packet_map": frames,
    }
    info = MediaInfo(media_type="video", width=640, height=480, frame_count=10)
    decoded, report = run(packet, labels=["cat"], media=info)
    assert codes(report) == []
    assert warning_codes(report) == [
        ("shape.clamped", "frame_packet_map/3/1/x_min"),
        ("shape.clamped", "frame_packet_map/3/1/y_max"),
    ]
    assert report.counts["clamped"] == 2
    box = decoded.frame_packet_map[3][1]
    assert (box.x_min, box.y_max) == (0.0, 480.0)


def test_only_the_list_that_fails_the_fast_check_is_clamped():
    inside = [_box(x_min=i % 600, x_max=i % 600 + 10) for i in range(2000)]
    out = [*inside[:1000], _box(x_max=640.0001), *inside[1000:]]
    packet, report = run(image(*out), labels=["cat"], media=INFO)
    assert codes(report) == []
    assert warning_codes(report) == [("shape.clamped", "instance_list/1000/x_max")]
    assert report.counts["clamped"] == 1
    assert packet.instance_list[1000].x_max == 640.0
    _, report = run(image(*inside), labels=["cat"], media=INFO)
    assert report.warning_count == 0 and "clamped" not in report.counts


def test_clamped_and_outside_in_one_list():
    _, report = run(image(_box(x_min=-0.5), _box(x_max=650)), labels=["cat"], media=INFO)
    assert codes(report) == [("shape.outside_media", "instance_list/1/x_max")]
    assert warning_codes(report) == [("shape.clamped", "instance_list/0/x_min")]
    assert report.rejected == {(None, 1)}


def test_strict_makes_a_clamp_a_problem():
    _, report = run(image(_box(x_min=-0.5)), labels=["cat"], media=INFO, strict=True)
    assert codes(report) == [("shape.clamped", "instance_list/0/x_min")]


def test_clip_to_media_still_clips_beyond_the_tolerance():
    packet, report = run(image(_box(x_min=-0.5, x_max=700)), labels=["cat"], media=INFO, clip=True)
    assert codes(report) == []
    assert warning_codes(report) == [
        ("shape.clamped", "instance_list/0/x_min"),
        ("shape.clipped", "instance_list/0/x_max"),
    ]
    assert (packet.instance_list[0].x_min, packet.instance_list[0].x_max) == (0.0, 640.0)


def test_a_box_wholly_past_the_edge_is_empty_once_clamped():
    _, report = run(image(_box(x_min=640.2, x_max=640.4)), labels=["cat"], media=INFO)
    assert codes(report) == [("box.empty", "instance_list/0/x_max")]
