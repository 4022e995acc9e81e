"""Each of the 19 types: a valid instance, and each of its problems (code and path).

tests/format/test_type_table.py checks what every type of the table must have."""

from __future__ import annotations

import pytest

from labelport.format import INSTANCE_TYPES, TYPES, MediaInfo

from .helpers import codes, image, run, warning_codes

P = {"x": 1, "y": 2}
# A valid instance of each type: its example in the type table.
VALID = {name: t.example for name, t in TYPES.items()}
# The media each type is tried on: an image where it fits one.
MEDIA_FOR = {name: "image" if "image" in t.media else min(t.media) for name, t in TYPES.items()}


def packet_of(type_, keys, extra=()):
    instance = {"type": type_, "name": "cat", **keys}
    media = MEDIA_FOR[type_]
    items = [instance]
    if type_ == "relation":
        items = [
            {"type": "tag", "name": "cat", "id": "a"},
            {"type": "tag", "name": "cat", "id": "b"},
            instance,
        ]
    return {"media": {"url": "u", "type": media}, "instance_list": items + list(extra)}


def test_all_types_covered():
    assert set(VALID) == set(INSTANCE_TYPES)


@pytest.mark.parametrize("type_", INSTANCE_TYPES)
def test_valid_instance_accepted(type_):
    packet, report = run(packet_of(type_, VALID[type_]), labels=["cat"])
    assert report.problems == [] and report.warnings == []
    assert packet.instance_list[-1].__struct_config__.tag == type_


def _index(type_):
    return 2 if type_ == "relation" else 0


BAD = [
    # (type, key changes, code, path suffix)
    ("box", {"x_min": "1"}, "value.wrong_kind", "x_min"),
    ("box", {"x_min": True}, "value.wrong_kind", "x_min"),
    ("box", {"y_max": None}, "value.wrong_kind", "y_max"),
    ("box", {"x_max": 1e400}, "value.not_finite", "x_max"),
    ("box", {"x_min": 1e30}, "value.out_of_range", "x_min"),
    ("box", {"x_max": 1}, "box.empty", "x_max"),
    ("box", {"y_max": 2}, "box.empty", "y_max"),
    ("polygon", {"points": [P, P]}, "points.count", "points"),
    ("polygon", {"points": [P, P, {"x": "a", "y": 1}]}, "value.wrong_kind", "points/2/x"),
    ("polygon", {"points": [P, P, {"x": 1}]}, "instance.missing_key", "points/2/y"),
    ("point", {"points": [P, P]}, "points.count", "points"),
    ("point", {"points": []}, "points.count", "points"),
    ("line", {"points": [P]}, "points.count", "points"),
    ("ellipse", {"width": 0}, "shape.not_positive", "width"),
    ("ellipse", {"height": -1}, "shape.not_positive", "height"),
    ("ellipse", {"rotation": "x"}, "value.wrong_kind", "rotation"),
    ("curve", {"cp": 0}, "value.wrong_kind", "cp"),
    ("curve", {"p1": {"x": 1}}, "instance.missing_key", "p1/y"),
    (
        "cuboid",
        {"front_face": {"top_left": P, "top_right": P, "bot_left": P}},
        "instance.missing_key",
        "front_face/bot_right",
    ),
    ("keypoints", {"nodes": []}, "points.count", "nodes"),
    (
        "keypoints",
        {"nodes": [{"id": "a", "x": 1, "y": 1}, {"id": "a", "x": 2, "y": 2}], "edges": []},
        "keypoints.node_id_duplicate",
        "nodes/1/id",
    ),
    (
        "keypoints",
        {"nodes": [{"id": "a", "x": 1, "y": 1}], "edges": [{"from": "a", "to": "z"}]},
        "keypoints.edge_unknown_node",
        "edges/0/to",
    ),
    (
        "cuboid_3d",
        {"center_3d": None},
        "cuboid_3d.missing_center",
        "center_3d",
    ),
    (
        "cuboid_3d",
        {"dimensions_3d": {"width": 1, "height": 0, "depth": 1}},
        "shape.not_positive",
        "dimensions_3d/height",
    ),
    ("tag", {"name": None}, "label.missing", "name"),
    ("global", {"attribute_groups": {"x": 1}}, "attribute.group_invalid", "attribute_groups/x"),
    ("text_token", {"start_token": 3, "end_token": 2}, "text_token.order", "start_token"),
    ("text_token", {"start_token": -1}, "value.out_of_range", "start_token"),
    ("text_token", {"end_token": 1.5}, "value.wrong_kind", "end_token"),
    ("audio", {"start_time": 3}, "audio.order", "end_time"),
    ("audio", {"start_time": -1}, "value.out_of_range", "start_time"),
    ("relation", {"to": "nope"}, "relation.unknown_end", "to"),
    ("relation", {"to": "a"}, "relation.self", "to"),
    ("relation", {"from": None}, "relation.missing_end", "from"),
    ("geo_point", {"lonlat": [181, 0]}, "geo.out_of_range", "lonlat/0"),
    ("geo_point", {"lonlat": [0, -91]}, "geo.out_of_range", "lonlat/1"),
    ("geo_point", {"lonlat": [0]}, "value.invalid", "lonlat"),
    ("geo_circle", {"radius": 0}, "shape.not_positive", "radius"),
    ("geo_polyline", {"coords": [[0, 0]]}, "geo.count", "coords"),
    ("geo_polyline", {"coords": [[0, 0], [0, 100]]}, "geo.out_of_range", "coords/1/1"),
    ("geo_polygon", {"coords": [[0, 0], [1, 1]]}, "geo.count", "coords"),
    ("geo_box", {"bounds_lonlat": [[1, 1], [0, 0]]}, "geo_box.order", "bounds_lonlat"),
    ("geo_box", {"bounds_lonlat": [[1, 1], [0, 200]]}, "geo.out_of_range", "bounds_lonlat/1/1"),
]


@pytest.mark.parametrize(("type_", "change", "code", "suffix"), BAD)
def test_problem(type_, change, code, suffix):
    keys = {**VALID[type_], **change}
    keys = {k: v for k, v in keys.items() if not (v is None and k not in ("y_max", "name"))}
    packet = packet_of(type_, keys)
    if "name" in change and change["name"] is None:
        packet["instance_list"][_index(type_)].pop("name")
    _, report = run(packet, labels=["cat"])
    assert (code, f"instance_list/{_index(type_)}/{suffix}") in codes(report), report.problems
    assert (None, _index(type_)) in report.rejected


@pytest.mark.parametrize("type_", [t for t in INSTANCE_TYPES if t != "relation"])
def test_missing_required_key_and_type_misfit(type_):
    import msgspec

    from labelport.format import INSTANCE_CLASSES

    required = [
        f.encode_name for f in msgspec.structs.fields(INSTANCE_CLASSES[type_]) if f.required
    ]
    for key in required:
        keys = {k: v for k, v in VALID[type_].items() if k != key}
        _, report = run(packet_of(type_, keys), labels=["cat"])
        assert ("instance.missing_key", f"instance_list/0/{key}") in codes(report)
    if type_ not in ("tag", "global"):
        media = "audio" if MEDIA_FOR[type_] != "audio" else "image"
        bad = packet_of(type_, VALID[type_])
        bad["media"]["type"] = media
        _, report = run(bad, labels=["cat"])
        assert codes(report) == [("instance.type_not_for_media", "instance_list/0/type")]


def test_box_inverted_is_swapped_and_warned_strict_makes_it_a_problem():
    box = {"type": "box", "name": "cat", "x_min": 9, "y_min": 2, "x_max": 3, "y_max": 4}
    packet, report = run(image(box), labels=["cat"])
    assert codes(report) == []
    assert warning_codes(report) == [("box.inverted", "instance_list/0/x_min")]
    assert (packet.instance_list[0].x_min, packet.instance_list[0].x_max) == (3, 9)
    _, report = run(image(box), labels=["cat"], strict=True)
    assert codes(report) == [("box.inverted", "instance_list/0/x_min")]
    _, report = run(image(box, strict=True), labels=["cat"])
    assert codes(report) == [("box.inverted", "instance_list/0/x_min")]


PLANAR_OUTSIDE = [
    ("box", {"x_max": 700}, "x_max"),
    ("polygon", {"points": [{"x": 0, "y": 0}, {"x": 5, "y": 0}, {"x": 0, "y": 500}]}, "points/2/y"),
    ("point", {"points": [{"x": -1, "y": 0}]}, "points/0/x"),
    ("line", {"points": [P, {"x": 641, "y": 1}]}, "points/1/x"),
    ("ellipse", {"center_x": 650}, "center_x"),
    ("curve", {"cp": {"x": 1, "y": 481}}, "cp/y"),
    (
        "cuboid",
        {
            "front_face": {"top_left": P, "top_right": P, "bot_left": P, "bot_right": P},
            "rear_face": {
                "top_left": P,
                "top_right": {"x": 999, "y": 1},
                "bot_left": P,
                "bot_right": P,
            },
        },
        "rear_face/top_right/x",
    ),
    ("keypoints", {"nodes": [{"id": "a", "x": 1000, "y": 1}], "edges": []}, "nodes/0/x"),
]


@pytest.mark.parametrize(("type_", "change", "suffix"), PLANAR_OUTSIDE)
def test_outside_media_and_clip(type_, change, suffix):
    info = MediaInfo(media_type="image", width=640, height=480)
    packet = packet_of(type_, {**VALID[type_], **change})
    _, report = run(packet, labels=["cat"], media=info)
    assert codes(report) == [("shape.outside_media", f"instance_list/0/{suffix}")]
    _, report = run(packet, labels=["cat"], media=info, clip=True)
    assert codes(report) == []
    assert warning_codes(report) == [("shape.clipped", f"instance_list/0/{suffix}")]


def test_occluded_keypoint_may_be_outside():
    info = MediaInfo(width=640, height=480)
    keys = {"nodes": [{"id": "a", "x": 1000, "y": 1, "occluded": True}], "edges": []}
    _, report = run(packet_of("keypoints", keys), labels=["cat"], media=info)
    assert codes(report) == []


def test_text_token_and_audio_against_media():
    _, report = run(
        packet_of("text_token", {"start_token": 3, "end_token": 10}),
        labels=["cat"],
        media=MediaInfo(token_count=10),
    )
    assert codes(report) == [("text_token.out_of_range", "instance_list/0/end_token")]
    _, report = run(
        packet_of("audio", {"start_time": 1, "end_time": 12.5}),
        labels=["cat"],
        media=MediaInfo(duration=12.0),
    )
    assert codes(report) == [("audio.out_of_range", "instance_list/0/end_time")]
