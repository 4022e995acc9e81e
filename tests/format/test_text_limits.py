"""Strings as the attack surface: a lone UTF-16 surrogate anywhere the format reads a string, and
strings past the 255-character limits, end in a problem at their path at decode, never in an
exception and never in a path or message that cannot itself be encoded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelport.format import Report, check_label_names, decode_packet, key_unusable
from labelport.format.instances import TEXT_MAX

from .helpers import run

# Text without surrogates (hypothesis' text() may draw a high and a low one side by side, which
# JSON writes as a valid pair) and without NUL, which is not storable text either.
storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
plain = st.text(alphabet=storable, max_size=20)
surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@st.composite
def lone_surrogate_text(draw: Any) -> str:
    return draw(plain) + draw(surrogate) + draw(plain)


def box(name: Any = "cat", **rest: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": 1, "y_min": 1, "x_max": 5, "y_max": 5, **rest}


# Where a string goes: (its key) -> a function that puts `text` into an instance, and the path
# below the instance where the problem must be.
INSTANCE_SLOTS: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "name": (lambda s: box(s), "name"),
    "name list": (lambda s: box([s]), "name/0"),
    "model_ref": (lambda s: box(model_ref=s), "model_ref"),
    "model_run_ref": (lambda s: box(model_ref="m", model_run_ref=s), "model_run_ref"),
    "id": (lambda s: box(id=s), "id"),
    "attribute text": (lambda s: box(attribute_groups={"7": s}), "attribute_groups/7"),
    "attribute key": (lambda s: box(attribute_groups={s: 1}), "attribute_groups/{s}"),
    "nested attribute": (
        lambda s: box(attribute_groups={"7": {"a": [s]}}),
        "attribute_groups/7/a/0",
    ),
    "node name": (
        lambda s: {
            "type": "keypoints",
            "name": "cat",
            "nodes": [{"id": 1, "x": 1, "y": 1, "name": s}],
        },
        "nodes/0/name",
    ),
    "node id": (
        lambda s: {"type": "keypoints", "name": "cat", "nodes": [{"id": s, "x": 1, "y": 1}]},
        "nodes/0/id",
    ),
    "relation end": (lambda s: {"type": "relation", "from": s, "to": 1}, "from"),
    "type": (lambda s: {"type": "box" + s}, None),  # an unknown type: refused as such
}
PACKET_SLOTS: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "idempotency_key": (lambda s: {"idempotency_key": s}, "idempotency_key"),
    "original_filename": (lambda s: {"original_filename": s}, "original_filename"),
    "media url": (lambda s: {"media": {"url": "https://x.test/" + s}}, "media/url"),
    "text_data": (lambda s: {"text_data": s}, "text_data"),
    "mode": (lambda s: {"mode": "update" + s, "file_id": 1}, "mode"),
    "media type": (lambda s: {"media": {"type": s}}, "media/type"),
    "on_error": (lambda s: {"on_error": s}, "on_error"),
}


def encode(packet: dict[str, Any]) -> bytes:
    # json.dumps writes a lone surrogate as its \\udXXX escape (msgspec would refuse it).
    return json.dumps(packet).encode()


def assert_sendable(report: Report) -> None:
    """Every path and message can be written as JSON (the API's answer) and as UTF-8."""
    msgspec.json.encode(report.to_dict()).decode("utf-8")


@settings(max_examples=200, deadline=None)
@given(
    text=lone_surrogate_text(),
    slot=st.sampled_from(sorted(INSTANCE_SLOTS)),
    before=st.integers(0, 3),
    frame=st.none() | st.integers(0, 50),
)
def test_a_lone_surrogate_in_an_instance_is_a_problem_at_its_path(
    text: str, slot: str, before: int, frame: int | None
) -> None:
    make, suffix = INSTANCE_SLOTS[slot]
    instances = [box() for _ in range(before)] + [make(text), box("dog")]
    if frame is None:
        body: dict[str, Any] = {"instance_list": instances}
        prefix = f"instance_list/{before}"
    else:
        body = {"frame_packet_map": {str(frame): instances}}
        prefix = f"frame_packet_map/{frame}/{before}"
    packet, report = run(encode(body))
    assert_sendable(report)
    lists = packet.instance_list if frame is None else packet.frame_packet_map[frame]
    assert lists[before] is None  # left out, like any instance with a problem
    assert [i.name for i in lists if i is not None] == ["cat"] * before + ["dog"]
    found = {(p.code, p.path) for p in report.problems}
    if suffix is None:
        assert report.problem_count >= 1
        return
    path = f"{prefix}/{suffix}".replace("{s}", text.encode("utf-8", "backslashreplace").decode())
    assert ("value.invalid_text", path) in found, (found, path)


@settings(max_examples=100, deadline=None)
@given(text=lone_surrogate_text(), slot=st.sampled_from(sorted(PACKET_SLOTS)))
def test_a_lone_surrogate_in_a_packet_key_is_a_problem_at_its_path(text: str, slot: str) -> None:
    make, path = PACKET_SLOTS[slot]
    body = {**make(text), "instance_list": [box()]}
    packet, report = decode_packet(encode(body))
    assert_sendable(report)
    assert ("value.invalid_text", path) in {(p.code, p.path) for p in report.problems}
    # The refused value is not kept: nothing downstream can try to store it.
    assert msgspec.json.encode(msgspec.structs.asdict(packet))
    assert key_unusable(report) is (slot == "idempotency_key")


LIMITED: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "name": (lambda s: {"instance_list": [box(s)]}, "instance_list/0/name"),
    "name list": (lambda s: {"instance_list": [box([s])]}, "instance_list/0/name/0"),
    "model_ref": (lambda s: {"instance_list": [box(model_ref=s)]}, "instance_list/0/model_ref"),
    "model_run_ref": (
        lambda s: {"instance_list": [box(model_ref="m", model_run_ref=s)]},
        "instance_list/0/model_run_ref",
    ),
    "id": (lambda s: {"instance_list": [box(id=s)]}, "instance_list/0/id"),
    "relation end": (
        lambda s: {"instance_list": [box(id=s[:10]), {"type": "relation", "from": s, "to": 1}]},
        "instance_list/1/from",
    ),
    "frame instance": (
        lambda s: {"frame_packet_map": {"4": [box(s)]}},
        "frame_packet_map/4/0/name",
    ),
    "idempotency_key": (lambda s: {"idempotency_key": s}, "idempotency_key"),
}


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(TEXT_MAX - 3, TEXT_MAX + 300),
    char=storable,
    slot=st.sampled_from(sorted(LIMITED)),
)
def test_a_string_is_refused_past_255_characters_and_only_then(
    length: int, char: str, slot: str
) -> None:
    make, path = LIMITED[slot]
    text = char * length
    body = make(text)
    for data in (msgspec.json.encode(body), encode(body)):  # the fast path, and \\u escapes
        _packet, report = decode_packet(data)
        assert_sendable(report)
        too_long = {p.path for p in report.problems if p.code == "value.too_long"}
        if length > TEXT_MAX:
            assert too_long == {path}
            message = next(p.message for p in report.problems if p.path == path)
            assert f"{length} characters" in message and str(TEXT_MAX) in message
        else:
            assert too_long == set()


def test_integer_ids_are_64_bit() -> None:
    _packet, report = decode_packet(msgspec.json.encode({"instance_list": [box(id=2**63)]}))
    assert [(p.code, p.path) for p in report.problems] == [
        ("value.out_of_range", "instance_list/0/id")
    ]
    packet, report = decode_packet(msgspec.json.encode({"instance_list": [box(id=2**63 - 1)]}))
    assert report.ok and packet.instance_list[0].id == 2**63 - 1


def test_a_valid_pair_of_surrogate_escapes_is_text() -> None:
    packet, report = run(b'{"instance_list": [{"type": "tag", "name": "\\ud83d\\ude00"}]}')
    assert report.ok and packet.instance_list[0].name == "\U0001f600"


def test_a_surrogate_in_an_unknown_key_is_ignored_like_the_key() -> None:
    packet, report = run(encode({"x": "\ud800", "instance_list": [box(extra="\udc00")]}))
    assert report.ok and packet.instance_list[0].name == "cat"


def test_an_auto_created_label_never_gets_a_bad_name() -> None:
    body = {"auto_create_labels": True, "instance_list": [box("new\ud800"), box("x" * 256)]}
    _packet, report = run(encode(body), labels=["cat"])
    assert "labels_to_create" not in report.counts
    assert {(p.code, p.path) for p in report.problems} == {
        ("value.invalid_text", "instance_list/0/name"),
        ("value.too_long", "instance_list/1/name"),
    }


@given(name=lone_surrogate_text() | st.text(min_size=TEXT_MAX + 1, max_size=TEXT_MAX + 50))
def test_label_names_given_elsewhere_have_the_packet_limits(name: str) -> None:
    report = Report()
    check_label_names(["cat", name], report)
    assert [p.path for p in report.problems] == ["names/1"]
    assert report.problems[0].code in ("value.invalid_text", "value.too_long")
    assert_sendable(report)


@pytest.mark.parametrize("name", ["cat", "x" * TEXT_MAX, "\U0001f600" * TEXT_MAX])
def test_label_names_within_the_limits_pass(name: str) -> None:
    report = Report()
    check_label_names([name], report)
    assert report.ok


NUL = "a\x00b"  # JSON "a\u0000b": msgspec reads it, PostgreSQL cannot store it


@pytest.mark.parametrize("slot", sorted(s for s, (_, suffix) in INSTANCE_SLOTS.items() if suffix))
def test_a_nul_character_in_an_instance_is_a_problem_at_its_path(slot: str) -> None:
    make, suffix = INSTANCE_SLOTS[slot]
    packet, report = decode_packet(encode({"instance_list": [box(), make(NUL), box("dog")]}))
    assert_sendable(report)
    assert packet is not None and packet.instance_list is not None
    assert packet.instance_list[1] is None
    assert [i.name for i in packet.instance_list if i is not None] == ["cat", "dog"]
    path = "instance_list/1/" + suffix.replace("{s}", NUL)
    found = {(p.code, p.path) for p in report.problems}
    assert ("value.invalid_text", path) in found, found


@pytest.mark.parametrize("slot", ["idempotency_key", "original_filename", "media url", "text_data"])
def test_a_nul_character_in_a_packet_key_is_a_problem_at_its_path(slot: str) -> None:
    make, path = PACKET_SLOTS[slot]
    packet, report = decode_packet(encode({**make(NUL), "instance_list": [box()]}))
    assert ("value.invalid_text", path) in {(p.code, p.path) for p in report.problems}
    assert "\x00" not in msgspec.json.encode(msgspec.structs.asdict(packet)).decode()


def test_the_text_backslash_u0000_is_text() -> None:
    # six characters, not a NUL: the fast check sees its escape and looks closer
    packet, report = decode_packet(encode({"instance_list": [box("\\u0000", id="x\\u0000")]}))
    assert report.problems == []
    assert packet is not None and packet.instance_list is not None
    assert packet.instance_list[0].name == "\\u0000"


def test_label_names_made_elsewhere_may_not_hold_a_nul() -> None:
    report = Report()
    check_label_names(["ok", NUL], report)
    assert [(p.code, p.path) for p in report.problems] == [("value.invalid_text", "names/1")]


@pytest.mark.parametrize("name", ["", "  ", "\t"])
def test_label_names_made_elsewhere_may_not_be_blank(name: str) -> None:
    report = Report()
    check_label_names(["ok", name], report)
    assert [(p.code, p.path) for p in report.problems] == [("label.missing", "names/1")]
