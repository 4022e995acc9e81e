"""Dense junk (issue 13): lists of millions of tiny bad items are refused with the same answer as
item by item, keep one byte per rejected index, and no object per bad item."""

from __future__ import annotations

import json
import tracemalloc
from collections import Counter
from typing import Any

import pytest

from labelport.format import decode_packet
from labelport.format.problems import RejectedIndexes

BOX = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
HEAD = b'{"media":{"url":"https://example.com/a.png","type":"image"},"instance_list":'


def expected_code(item: Any) -> str | None:
    """The one problem of a junk item, worked out here without the decoder."""
    if item is None:
        return "instance.null"
    if not isinstance(item, dict):
        return "instance.not_object"
    if item.get("type") is None:
        return "instance.type_missing"
    if item["type"] not in ("box",):
        return "instance.type_unknown"
    return None


def test_rejected_indexes_read_like_a_set_of_pairs() -> None:
    rejected = RejectedIndexes()
    assert not rejected and len(rejected) == 0 and rejected == set()
    rejected.add((None, 5))
    rejected.add((None, 100))
    rejected.add((3, 0))
    rejected.mark(None, b"\x00\x01")
    rejected.mark(7, bytes(4))  # no index set: nothing kept
    rejected.mark(3, b"\x00\x00\x01")
    expected = {(None, 1), (None, 5), (None, 100), (3, 0), (3, 2)}
    assert rejected == expected and set(rejected) == expected and len(rejected) == 5
    assert (None, 5) in rejected and (None, 4) not in rejected and (7, 0) not in rejected
    assert (None, 10**9) not in rejected and "x" not in rejected and (3,) not in rejected
    assert rejected != {(None, 1)}


BODIES = {
    "ints": b"[" + b",".join(b"%d" % (i % 10) for i in range(3000)) + b"]",
    "nulls": b"[" + b",".join([b"null"] * 3000) + b"]",
    "objects": b"[" + b", ".join([b"{ }"] * 3000) + b"]",
    "scalars": b"[" + b",".join([b"1", b"null", b"{}", b"true", b"-1.5e3", b"1e400"] * 500) + b"]",
    "strings": b"[" + b",".join([b'"a"', b"[1]", b'{"type":"nonsense"}', b"{}", b"7"] * 600) + b"]",
}


@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.parametrize("limit", [0, 7, 1000, 5000])
def test_junk_is_answered_as_item_by_item(name: str, limit: int) -> None:
    body = BODIES[name]
    items = json.loads(body)
    packet, report = decode_packet(HEAD + body + b"}", limit=limit)
    assert packet is not None and packet.instance_list == [None] * len(items)
    codes = [expected_code(item) for item in items]
    assert report.problem_counts_by_code == dict(Counter(codes))
    assert report.problem_count == len(items)
    listed = [(p.code, p.path) for p in report.problems]
    paths = [
        f"instance_list/{i}/type" if code.startswith("instance.type") else f"instance_list/{i}"
        for i, code in enumerate(codes)
    ]
    assert listed == list(zip(codes, paths, strict=True))[:limit]
    assert report.rejected == {(None, i) for i in range(len(items))}


def test_good_instances_among_junk_keep_their_places() -> None:
    items: list[Any] = [BOX, 5, {**BOX, "x_min": "1"}, None, BOX, {}, [BOX], {**BOX, "name": "dog"}]
    body = json.dumps(items).encode()
    for limit in (0, 2, 1000):
        packet, report = decode_packet(HEAD + body + b"}", limit=limit)
        assert packet is not None
        kept = [i for i, x in enumerate(packet.instance_list or []) if x is not None]
        assert kept == [0, 4, 7]
        assert report.rejected == {(None, i) for i in (1, 2, 3, 5, 6)}
        assert report.problem_counts_by_code == {
            "instance.not_object": 2,
            "value.wrong_kind": 1,
            "instance.null": 1,
            "instance.type_missing": 1,
        }
        assert len(report.problems) == min(limit, 5)


@pytest.mark.parametrize(
    ("unit", "count"),
    [(b"1,", 500_000), (b"{},", 300_000), (b'{"type":"box"},', 60_000), (b'"ab",', 200_000)],
)
def test_a_bad_item_costs_no_object(unit: bytes, count: int) -> None:
    # Was a msgspec.Raw, a None and a (frame, index) tuple in a set per item: ~170 bytes.
    body = HEAD + b"[" + unit * (count - 1) + unit[:-1] + b"]}"
    tracemalloc.start()
    try:
        _packet, report = decode_packet(body)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.problem_count >= count and len(report.rejected) == count
    # The list of None (8 bytes an item) and msgspec's list of placeholders; a margin for the
    # report's first 1,000 problems.
    assert peak < 17 * count + 2_000_000, f"{peak / count:.0f} bytes an item"


def test_junk_read_leniently_is_counted_the_same() -> None:
    # One NaN sends the body to the standard library's reader: its items are objects already,
    # and go through the same reader as msgspec's (no exception per item: ~1 s -> ~0.3 s).
    body = b'{"instance_list":[NaN,' + b"1,null,{}," * 1000 + b'{"type":"box","x_min":NaN}]}'
    packet, report = decode_packet(body, limit=10)
    assert packet is not None and packet.instance_list == [None] * 3002
    assert report.problem_counts_by_code == {
        "instance.not_object": 1001,
        "instance.null": 1000,
        "instance.type_missing": 1000,
        "value.not_finite": 1,
        "instance.missing_key": 3,
    }
    assert [p.path for p in report.problems[:4]] == [
        "instance_list/0",
        "instance_list/1",
        "instance_list/2",
        "instance_list/3/type",
    ]
    assert len(report.rejected) == 3002


@pytest.mark.parametrize("limit", [0, 30, 1000])
def test_item_by_item_and_the_hook_give_one_answer(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thousand good instances before the first bad one: read item by item (its good
    # instances decode at half the cost); the same list through the hook answers the same.
    from labelport.format import decode

    junk: list[Any] = [{"type": "box"}, 5, {**BOX, "x_min": "1"}, None, {"type": "x"}]
    items = [BOX] * 1200 + junk * 40 + [BOX] * 10
    body = HEAD + json.dumps(items).encode() + b"}"
    assert decode._looks_good(json.dumps(items).encode(), 1200)
    answers = []
    for looks_good in (True, False):
        monkeypatch.setattr(decode, "_looks_good", lambda node, first, good=looks_good: good)
        packet, report = decode_packet(body, limit=limit)
        assert packet is not None and packet.instance_list is not None
        kept = [i for i, x in enumerate(packet.instance_list) if x is not None]
        answers.append(
            (
                [(p.code, p.path, p.message) for p in report.problems],
                report.problem_counts_by_code,
                set(report.rejected),
                kept,
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][1]["instance.missing_key"] == 4 * 40
    assert answers[0][3] == list(range(1200)) + list(range(1400, 1410))


def test_a_wrong_kind_met_before_is_counted_as_when_listed() -> None:
    # Past the cap a shape met before (x_min a string) is counted with no failing conversion,
    # if the instance's other keys are fine; any other instance takes the long way.
    items: list[Any] = (
        [{**BOX, "x_min": "1"}] * 50
        + [{**BOX, "x_min": "1", "y_min": "2"}] * 20
        + [{**BOX, "x_min": "1", "name": 5}] * 10
        + [{**BOX, "x_min": 7, "name": "x" * 300}] * 10
        + [{**BOX, "x_min": None}, {**BOX, "x_min": True}, {**BOX, "x_min": [1]}] * 5
        + [{k: v for k, v in BOX.items() if k != "y_max"} | {"x_min": "1"}] * 5
        + [BOX] * 5
    )
    body = HEAD + json.dumps(items).encode() + b"}"
    _packet, listed = decode_packet(body, limit=10**9)
    _packet, counted = decode_packet(body, limit=0)
    assert counted.problem_counts_by_code == listed.problem_counts_by_code
    assert listed.problem_counts_by_code == {
        "value.wrong_kind": 50 + 20 * 2 + 10 * 2 + 15 + 5,
        "value.too_long": 10,
        "instance.missing_key": 5,
    }
    assert set(counted.rejected) == set(listed.rejected) == {(None, i) for i in range(110)}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"[]", []),
        (b"[ ]", []),
        (b"5", [("frame.not_list", "frame_packet_map/6")]),
        (b"null", [("frame.not_list", "frame_packet_map/6")]),
        (
            b"[1, null, true]",
            [
                ("instance.not_object", "frame_packet_map/6/0"),
                ("instance.null", "frame_packet_map/6/1"),
                ("instance.not_object", "frame_packet_map/6/2"),
            ],
        ),
        (b"[[1]]", [("instance.not_object", "frame_packet_map/6/0")]),
        (b'["a"]', [("instance.not_object", "frame_packet_map/6/0")]),
    ],
)
def test_a_small_frame_with_no_object(value: bytes, expected: list[tuple[str, str]]) -> None:
    body = b'{"media":{"url":"u","type":"video"},"frame_packet_map":{"6":' + value + b"}}"
    _packet, report = decode_packet(body)
    assert [(p.code, p.path) for p in report.problems] == expected
    assert set(report.rejected) == {
        (6, int(path.rsplit("/", 1)[1])) for _c, path in expected if path.count("/") == 2
    }
