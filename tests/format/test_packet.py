"""Packet keys, frames, labels, sequences, ids, models, attributes, nulls, the cap."""

from __future__ import annotations

import json
import re
from pathlib import Path

from labelport.format import (
    CATALOGUE,
    AttributeGroup,
    AttributeSchema,
    decode_packet,
    iter_instances,
)

from .helpers import codes, image, run

BOX = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 3, "y_max": 4}


def video(fpm, **keys):
    return {"media": {"url": "u", "type": "video"}, "frame_packet_map": fpm, **keys}


def test_not_json_not_utf8_not_object_never_raise():
    for data in (b"{", b"\xff\xfe{}", b"", b"[" * 100000):
        packet, report = decode_packet(data)
        assert packet is None
        assert [p.code for p in report.problems] == ["packet.not_json"]
    packet, report = decode_packet(b"[1, 2]")
    assert packet is None and codes(report) == [("packet.not_object", "")]


def test_a_utf8_byte_order_mark_is_read_past():
    """Notepad and PowerShell start a UTF-8 file with a byte order mark (RFC 8259 lets a reader
    ignore it): the packet reads as without it, whatever form the body comes in."""
    text = json.dumps(image(BOX))
    plain, plain_report = decode_packet(text.encode())
    for data in (b"\xef\xbb\xbf" + text.encode(), "\ufeff" + text):
        packet, report = decode_packet(data)
        assert packet == plain and codes(report) == codes(plain_report) == []
    # only at the start: a second one is not JSON
    packet, report = decode_packet(b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode())
    assert packet is None and [p.code for p in report.problems] == ["packet.not_json"]


def test_nan_from_pythons_json_dumps_is_a_problem_with_path():
    text = json.dumps(image({**BOX, "x_min": float("nan")}, score=None))
    assert "NaN" in text
    _, report = run(text.encode(), labels=["cat"])
    assert codes(report) == [("value.not_finite", "instance_list/0/x_min")]


def test_frame_keys():
    _, report = run(video({"6": [BOX], "06": [BOX], "1.0": [BOX], "-1": [BOX]}).copy())
    assert sorted(codes(report)) == [
        ("frame.key_invalid", "frame_packet_map/-1"),
        ("frame.key_invalid", "frame_packet_map/06"),
        ("frame.key_invalid", "frame_packet_map/1.0"),
    ]
    packet, report = run(video({"6": [BOX], 7: [BOX]}))
    assert report.ok and sorted(packet.frame_packet_map) == [6, 7]
    _, report = run(video({"3": {"type": "box"}}))
    assert codes(report) == [("frame.not_list", "frame_packet_map/3")]


def test_number_rules():
    packet, report = run(video({0: [{**BOX, "number": None}, {**BOX, "name": "dog"}]}))
    assert report.ok
    assert [i.number for _, _, i in iter_instances(packet)] == [1, 1]
    for bad in (0, -3, 1.5, 2.0, "2", True):
        _, report = run(video({0: [{**BOX, "number": bad}]}))
        assert codes(report) == [("number.invalid", "frame_packet_map/0/0/number")], bad
        assert str(bad).lower() in report.problems[0].message.lower()


def test_machine_made_default_and_explicit_false():
    packet, _ = run(image(BOX, {**BOX, "machine_made": False}))
    assert [i.machine_made for i in packet.instance_list] == [True, False]


def test_score_and_model_refs():
    _, report = run(image({**BOX, "score": 1.5}, {**BOX, "score": 0.3}, {**BOX, "score": False}))
    assert codes(report) == [
        ("score.out_of_range", "instance_list/0/score"),
        ("value.wrong_kind", "instance_list/2/score"),
    ]
    _, report = run(
        image({**BOX, "model_run_ref": "r1"}, {**BOX, "model_run_ref": "r", "model_ref": "m"})
    )
    assert codes(report) == [("model.run_without_model", "instance_list/0/model_run_ref")]


def test_duplicate_label_number_in_one_frame():
    fpm = {6: [BOX, {**BOX, "name": "dog"}, {**BOX, "number": 1}], 7: [BOX]}
    _, report = run(video(fpm))
    assert codes(report) == [("sequence.duplicate_in_frame", "frame_packet_map/6/2/number")]
    assert report.rejected == {(6, 2)}
    assert report.counts["sequences_per_label"] == {"cat": 1, "dog": 1}


def test_external_ids_unique_within_file():
    fpm = {0: [{**BOX, "id": "a"}], 1: [{**BOX, "id": "a"}, {**BOX, "id": "b", "number": 2}]}
    _, report = run(video(fpm))
    assert codes(report) == [("instance.id_duplicate", "frame_packet_map/1/0/id")]


def test_labels_unknown_did_you_mean_and_ids():
    _, report = run(
        image({**BOX, "name": "Cat"}, {**BOX, "name": "zebra"}, BOX), labels=["cat", "dog"]
    )
    assert codes(report) == [
        ("label.unknown", "instance_list/0/name"),
        ("label.unknown", "instance_list/1/name"),
    ]
    assert 'did you mean "cat"' in report.problems[0].message
    assert "did you mean" not in report.problems[1].message
    _, report = run(image({**BOX, "name": None, "label_file_id": 99}), labels=["cat"])
    assert codes(report) == [("label.id_unknown", "instance_list/0/label_file_id")]
    _, report = run(image({k: v for k, v in BOX.items() if k != "name"}))
    assert codes(report) == [("label.missing", "instance_list/0/name")]
    _, report = run(image({**BOX, "name": "zebra"}, auto_create_labels=True), labels=["cat"])
    assert report.ok and report.counts["labels_to_create"] == ["zebra"]


def test_null_instance_says_sdk_bug():
    _, report = run(video({"0": [BOX, None]}))
    assert codes(report) == [("instance.null", "frame_packet_map/0/1")]
    assert "label_file_id" in report.problems[0].message and "name" in report.problems[0].message
    assert report.rejected == {(0, 1)}


def test_sdk_frame_number_inside_instance_is_ignored():
    packet, report = run(video({"4": [{**BOX, "frame_number": "4"}]}))
    assert report.ok and list(packet.frame_packet_map) == [4]


def test_packet_keys():
    _, report = run(
        {"media": {"url": "u", "type": "movie"}, "on_error": "ignore", "instance_list": [BOX]}
    )
    assert sorted(c for c, _ in codes(report)) == ["packet.invalid_value", "packet.invalid_value"]
    assert {p for _, p in codes(report)} == {"media/type", "on_error"}
    _, report = run({"file_id": 3, "mode": "update", "media": {"url": "u"}, "instance_list": []})
    assert codes(report) == [("packet.conflicting_keys", "file_id")]
    _, report = run({"mode": "update", "instance_list": []})
    assert codes(report) == [("packet.mode_without_file", "mode")]
    _, report = run({"media": {"url": "u", "type": "video"}, "instance_list": [BOX]})
    assert codes(report) == [("packet.wrong_container", "instance_list")]
    _, report = run({"media": {"url": "u", "type": "image"}, "frame_packet_map": {"0": [BOX]}})
    assert codes(report) == [("packet.wrong_container", "frame_packet_map")]
    _, report = run(
        {"file_id": 5, "mode": "update_with_existing", "frame_packet_map": {"0": [BOX]}}
    )
    assert report.ok


def test_attributes_against_schema():
    schema = AttributeSchema.of(
        [
            AttributeGroup(id=1, kind="select", options=frozenset({10, 11})),
            AttributeGroup(id=2, kind="slider", min=0, max=10),
            AttributeGroup(id=3, kind="date"),
            AttributeGroup(id=4, kind="text", label_ids=frozenset({2})),
            AttributeGroup(id=5, kind="multiple_select", options=frozenset({1})),
            AttributeGroup(id=6, kind="time"),
            AttributeGroup(id=7, kind="tree"),
        ]
    )
    good = {"1": 10, "2": 3.5, "3": "2024-05-31", "5": [{"id": 1}], "6": "13:45:00", "7": {"1": {}}}
    _, report = run(
        image({**BOX, "attribute_groups": good}), labels=["cat", "dog"], attributes=schema
    )
    assert report.ok
    bad = {"1": 12, "2": 11, "3": "31/05/2024", "4": "x", "5": 1, "6": 5, "7": "a", "9": 1, "x": 1}
    _, report = run(
        image({**BOX, "attribute_groups": bad}), labels=["cat", "dog"], attributes=schema
    )
    assert codes(report) == [
        ("attribute.value_invalid", "instance_list/0/attribute_groups/1"),
        ("attribute.value_invalid", "instance_list/0/attribute_groups/2"),
        ("attribute.value_invalid", "instance_list/0/attribute_groups/3"),
        ("attribute.not_for_label", "instance_list/0/attribute_groups/4"),
        ("attribute.value_invalid", "instance_list/0/attribute_groups/5"),
        ("attribute.value_invalid", "instance_list/0/attribute_groups/6"),
        ("attribute.value_invalid", "instance_list/0/attribute_groups/7"),
        ("attribute.group_unknown", "instance_list/0/attribute_groups/9"),
        ("attribute.group_invalid", "instance_list/0/attribute_groups/x"),
    ]


def test_every_problem_of_one_instance_is_listed():
    bad = {"type": "box", "name": 3, "x_min": "a", "y_min": None, "number": 0, "score": 9}
    _, report = run(image(bad))
    assert sorted(codes(report)) == [
        ("instance.missing_key", "instance_list/0/x_max"),
        ("instance.missing_key", "instance_list/0/y_max"),
        ("number.invalid", "instance_list/0/number"),
        ("score.out_of_range", "instance_list/0/score"),
        ("value.wrong_kind", "instance_list/0/name"),
        ("value.wrong_kind", "instance_list/0/x_min"),
        ("value.wrong_kind", "instance_list/0/y_min"),
    ]


def test_type_missing_and_unknown():
    _, report = run(image({"name": "cat"}, {"type": "bbox"}, 7))
    assert codes(report) == [
        ("instance.type_missing", "instance_list/0/type"),
        ("instance.type_unknown", "instance_list/1/type"),
        ("instance.not_object", "instance_list/2"),
    ]
    assert 'did you mean "box"' in report.problems[1].message


def test_10000_bad_instances_all_counted_paths_listed_up_to_the_cap():
    fpm = {str(f): [{**BOX, "x_min": "bad"} for _ in range(100)] for f in range(100)}
    packet, report = run(video(fpm))
    assert report.problem_count == 10_000
    assert len(report.problems) == 1000 and report.problems_not_listed == 9000
    assert len(report.rejected) == 10_000
    assert report.problems[0].path == "frame_packet_map/0/0/x_min"
    assert report.problems[999].path == "frame_packet_map/9/99/x_min"
    assert all(re.fullmatch(r"frame_packet_map/\d+/\d+/x_min", p.path) for p in report.problems)
    # the good-instance view keeps nothing, yet the packet is usable (skip_instances)
    assert packet is not None and list(iter_instances(packet)) == []


def test_good_instances_kept_with_their_original_indexes():
    packet, report = run(image(BOX, {**BOX, "x_min": "a"}, {**BOX, "name": "dog"}))
    assert codes(report) == [("value.wrong_kind", "instance_list/1/x_min")]
    assert [(i, x.name) for _, i, x in iter_instances(packet)] == [(0, "cat"), (2, "dog")]


def test_catalogue_and_docs_agree():
    doc = Path(__file__).parents[2] / "docs" / "problems.md"
    documented = set(re.findall(r"^\| `([a-z_0-9.]+)` \|", doc.read_text(), re.M))
    assert documented == set(CATALOGUE)


def test_instance_list_beside_an_empty_frame_packet_map_is_a_problem_not_a_crash():
    body = {"instance_list": [{"type": "tag", "name": "cat"}], "frame_packet_map": {}}
    _packet, report = run(body)  # checks run too: they used to raise on this
    assert "packet.conflicting_keys" in {p.code for p in report.problems}
