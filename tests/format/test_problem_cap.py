"""Packets full of bad instances (issue 13, item 5): the first 1,000 problems are listed with
their paths, every problem is counted per code, and past the cap each bad item costs a small,
constant number of operations (counted here, not timed)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelport.format import LabelIndex, Report, check_packet, decode_packet, problems
from labelport.format import decode as decode_module

BOX = {"type": "box", "name": "cat", "x_min": 1.0, "y_min": 2.0, "x_max": 30.0, "y_max": 40.0}


def image(instances: list[Any], **keys: Any) -> bytes:
    packet = {"media": {"url": "https://example.com/a.png", "type": "image"}, **keys}
    return json.dumps({**packet, "instance_list": instances}).encode()


def checked(data: bytes, *, limit: int = 1000, labels: list[str] | None = None) -> Report:
    packet, report = decode_packet(data, limit=limit)
    assert packet is not None
    index = LabelIndex.from_names(labels) if labels is not None else None
    check_packet(packet, labels=index, report=report)
    return report


def mixed(n: int) -> list[Any]:
    """n instances of each of four bad kinds (decode and checks both find some)."""
    out: list[Any] = []
    for i in range(n):
        out.append({**BOX, "x_min": str(i)})  # value.wrong_kind
        out.append({**BOX, "x_max": BOX["x_min"]})  # box.empty
        out.append({**BOX, "name": "dog"})  # label.unknown
        out.append(i)  # instance.not_object
    return out


def test_the_first_1000_are_listed_and_every_code_counted():
    report = checked(image(mixed(1500)), labels=["cat"])
    assert report.problem_count == 6000
    assert len(report.problems) == 1000 and report.problems_not_listed == 5000
    assert report.problem_counts_by_code == {
        "value.wrong_kind": 1500,
        "box.empty": 1500,
        "label.unknown": 1500,
        "instance.not_object": 1500,
    }
    assert sum(report.problem_counts_by_code.values()) == report.problem_count
    assert all(p.path and p.message for p in report.problems)
    # every bad instance is still known by its place (skip_instances leaves them out)
    assert len(report.rejected) == 6000


def test_the_answer_says_what_the_list_leaves_out():
    answer = checked(image([{**BOX, "x_min": "a"}] * 1200)).to_dict()
    assert answer["problem_count"] == 1200
    assert len(answer["problems"]) == 1000
    assert answer["problems_listed_at_most"] == 1000
    assert answer["problems_not_listed"] == 200
    assert answer["problem_counts_by_code"] == {"value.wrong_kind": 1200}
    assert answer["warning_counts_by_code"] == {} and answer["warnings_not_listed"] == 0
    msgspec.json.encode(answer)  # sendable as it is


def test_warnings_are_capped_and_counted_per_code_too():
    inverted = {**BOX, "x_min": 50.0}  # x_min > x_max: swapped, with a warning
    report = checked(image([inverted] * 1100))
    assert report.ok
    assert report.warning_count == 1100 and len(report.warnings) == 1000
    assert report.warning_counts_by_code == {"box.inverted": 1100}


def test_the_counts_of_a_failed_check_carry_the_codes():
    # A failed import stores its report's counts whole: the per-code counts must be there.
    report = checked(image(mixed(300)), labels=["cat"])
    assert report.counts["problem_counts_by_code"] == report.problem_counts_by_code
    assert "problem_counts_by_code" not in report.to_dict()["counts"]  # given beside it


# Instances each wrong in one or more of the ways the slow path tells apart.
_BAD_VALUES: list[Callable[[int], dict[str, Any]]] = [
    lambda i: {"x_min": str(i)},
    lambda i: {"x_min": None},
    lambda i: {"x_max": 1e300},
    lambda i: {"score": 2},
    lambda i: {"number": 0},
    lambda i: {"name": "x" * 300},
    lambda i: {"name": 7},
    lambda i: {"label_file_id": -1},
    lambda i: {"y_min": [1]},
]


@st.composite
def bad_instance(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    i = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from([None, 5, "box", [1], True]))
    if kind == 1:
        return {**BOX, "type": draw(st.sampled_from(["boxx", 7, "Polygon"]))}
    if kind == 2:
        missing = draw(st.sampled_from(["x_min", "y_max", "type"]))
        return {k: v for k, v in BOX.items() if k != missing}
    if kind == 3:
        points = [{"x": 1, "y": 1}, {"x": "2", "y": 1}, {"x": 3, "y": -1e300}, {"y": 4}]
        return {"type": "polygon", "name": "cat", "points": points[: draw(st.integers(1, 4))]}
    if kind == 4:
        return {"type": "geo_polygon", "name": "cat", "coords": [[1, 2], [200, 1], [1]]}
    if kind == 5:
        return {"type": "cuboid_3d", "name": "cat", "dimensions_3d": {"width": 0}}
    if kind == 6:
        return {**BOX, "x_max": BOX["x_min"]}  # found by the checks, not decode
    changes = draw(st.lists(st.sampled_from(_BAD_VALUES), min_size=1, max_size=3))
    out = dict(BOX)
    for change in changes:
        out.update(change(i))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(bad_instance(), st.just(BOX)), min_size=1, max_size=40))
def test_past_the_cap_the_codes_are_counted_as_when_listed(instances: list[Any]) -> None:
    """With a cap of 0 every problem takes the count-only path; with no cap every problem is
    listed: both must find the same problems, code by code, and the same bad instances."""
    data = image(instances)
    listed = checked(data, limit=10**9, labels=["cat"])
    counted = checked(data, limit=0, labels=["cat"])
    assert counted.problems == []
    assert counted.problem_count == listed.problem_count
    assert counted.problem_counts_by_code == listed.problem_counts_by_code
    assert dict(Counter(p.code for p in listed.problems)) == listed.problem_counts_by_code
    assert counted.rejected == listed.rejected
    assert counted.warning_counts_by_code == listed.warning_counts_by_code


@settings(max_examples=20, deadline=None)
@given(st.lists(bad_instance(), min_size=1, max_size=20))
def test_the_lenient_path_counts_the_same(instances: list[Any]) -> None:
    # NaN sends the whole packet through Python's json and the object-based slow path.
    nan = {**BOX, "x_min": float("nan")}
    data = json.dumps({"instance_list": [nan, *instances]}).encode()
    listed = checked(data, limit=10**9, labels=["cat"])
    counted = checked(data, limit=0, labels=["cat"])
    assert counted.problem_counts_by_code == listed.problem_counts_by_code
    assert counted.problem_count == listed.problem_count >= 1
    assert listed.problem_counts_by_code.get("value.not_finite", 0) >= 1


# --- cost: counted in operations ---------------------------------------------------------------


class _Calls:
    """Python-level function calls (and Problem structs built) while decoding and checking."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.problems_built = 0
        real = problems.Problem

        def counting(*args: Any) -> Any:
            self.problems_built += 1
            return real(*args)

        monkeypatch.setattr(problems, "Problem", counting)

    def run(self, data: bytes) -> tuple[int, Report]:
        calls = 0

        def profile(frame: Any, event: str, arg: Any) -> None:
            nonlocal calls
            if event == "call":
                calls += 1

        sys.setprofile(profile)
        try:
            report = checked(data, labels=["cat"])
        finally:
            sys.setprofile(None)
        return calls, report


@pytest.mark.parametrize(
    "make",
    [
        lambda i: {**BOX, "x_min": str(i)},  # bad at decode, the common shape
        lambda i: {**BOX, "x_min": str(i), "y_max": None, "score": 3},  # three bad keys
        lambda i: {"type": "polygon", "name": "cat", "points": [{"x": "1", "y": 2}] * 3},
        lambda i: {**BOX, "type": "boxx"},
        lambda i: i,  # a list of integers
        lambda i: {**BOX, "x_max": BOX["x_min"]},  # bad at the checks
        lambda i: {**BOX, "name": f"dog{i % 7}"},  # unknown labels
    ],
    ids=["wrong_kind", "three_keys", "polygon_points", "type_unknown", "ints", "empty", "label"],
)
def test_past_the_cap_each_bad_item_costs_a_few_calls(
    make: Callable[[int], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linear, with a small constant: 2,000 more bad items past the cap cost the same number
    of Python calls as the 2,000 before them, a handful per problem, and no Problem is built
    for them. (Before: msgspec.structs.fields per bad instance alone made hundreds of calls, and
    every problem built its path and message.)"""
    counter = _Calls(monkeypatch)
    checked(image([make(i) for i in range(1200)]), labels=["cat"])  # caches warmed
    calls, found = [], []
    for n in (2000, 4000, 6000):
        counter.problems_built = 0
        n_calls, report = counter.run(image([make(i) for i in range(n)]))
        calls.append(n_calls)
        found.append(report.problem_count)
        assert report.problem_count >= n
        assert counter.problems_built == len(report.problems) == 1000
    first, second = calls[1] - calls[0], calls[2] - calls[1]
    assert abs(second - first) <= 0.05 * first + 50, calls  # linear
    per_problem = second / (found[2] - found[1])
    assert per_problem <= 8, (per_problem, calls, found)


def test_the_body_limit_default_is_a_setting_and_sensible():
    from labelport.api.app import DEFAULT_MAX_BODY_MB, create_app

    assert 64 <= DEFAULT_MAX_BODY_MB <= 1024
    app = create_app(None, include_web=False)
    assert app.state.max_body_bytes == DEFAULT_MAX_BODY_MB << 20


def test_decode_builds_each_type_plan_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """msgspec.structs.fields evaluates annotations on every call; once per bad instance it
    was ~0.4 ms each (18 s for 10^5 boxes)."""
    calls = 0
    real = msgspec.structs.fields

    def counting(cls: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(cls)

    monkeypatch.setattr(msgspec.structs, "fields", counting)
    for cached in ("_fields_of", "_loose", "_field_positions"):
        if hasattr(decode_module, cached):
            getattr(decode_module, cached).cache_clear()
    decode_packet(image([{**BOX, "x_min": str(i)} for i in range(3000)]))
    assert calls <= 4
