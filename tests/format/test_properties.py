"""Generated valid instances are accepted; mutated packets end in problems, never exceptions."""

from __future__ import annotations

import json
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelport.format import decode_packet

from .helpers import run
from .test_types import MEDIA_FOR, VALID

coord = st.floats(min_value=0, max_value=4000, allow_nan=False) | st.integers(0, 4000)
point = st.fixed_dictionaries({"x": coord, "y": coord})


@st.composite
def box(draw):
    x0, x1 = sorted(draw(st.lists(coord, min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(coord, min_size=2, max_size=2, unique=True)))
    extra = draw(
        st.dictionaries(
            st.text(max_size=5).filter(lambda k: k not in VALID_KEYS), st.integers(), max_size=2
        )
    )
    return {
        **extra,
        "type": "box",
        "name": draw(st.sampled_from(["cat", "dog"])),
        "x_min": x0,
        "x_max": x1,
        "y_min": y0,
        "y_max": y1,
    }


VALID_KEYS = {
    "type",
    "name",
    "x_min",
    "x_max",
    "y_min",
    "y_max",
    "number",
    "score",
    "id",
    "machine_made",
    "label_file_id",
    "sequence_id",
    "model_ref",
    "model_run_ref",
    "model_id",
    "model_run_id",
    "attribute_groups",
}


@st.composite
def polygon(draw):
    pts = draw(st.lists(point, min_size=3, max_size=8))
    return {"type": "polygon", "name": "cat", "points": pts}


@st.composite
def video_packet(draw):
    frames = draw(
        st.dictionaries(st.integers(0, 10_000), st.lists(box() | polygon(), max_size=5), max_size=5)
    )
    fpm = {}
    for frame, instances in frames.items():
        for number, instance in enumerate(instances, 1):
            instance["number"] = number  # one sequence per instance of a frame
        fpm[frame] = instances
    return {"media": {"url": "u", "type": "video"}, "frame_packet_map": fpm}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(video_packet())
def test_generated_valid_packets_are_accepted(packet):
    _decoded, report = run(packet, labels=["cat", "dog"])
    assert report.problems == []
    assert {w.code for w in report.warnings} <= {"polygon.collinear"}
    assert report.counts["instances"] == sum(len(v) for v in packet["frame_packet_map"].values())


@given(st.sampled_from(sorted(VALID)), st.integers(0, 3), st.floats(0.01, 1))
def test_generated_valid_instance_of_every_type(type_, number, score):
    instance = {"type": type_, "name": "cat", **VALID[type_], "number": number + 1, "score": score}
    items = [instance]
    if type_ == "relation":
        items = [
            {"type": "tag", "name": "cat", "id": "a"},
            {"type": "tag", "name": "cat", "id": "b"},
            instance,
        ]
    _, report = run(
        {"media": {"type": MEDIA_FOR.get(type_, "image"), "url": "u"}, "instance_list": items},
        labels=["cat"],
    )
    assert report.problems == []


BAD_VALUES = st.sampled_from(
    [
        None,
        "x",
        True,
        [],
        {},
        math.nan,
        math.inf,
        -math.inf,
        10**30,
        -(10**30),
        1e308 * 10,
        [[[[[]]]]],
    ]
)


@st.composite
def mutation(draw):
    """A valid packet, then one of: a wrong value, a removed key, a null entry, deep nesting."""
    instances = [draw(box()) for _ in range(draw(st.integers(1, 4)))]
    for n, instance in enumerate(instances, 1):
        instance["number"] = n
    index = draw(st.integers(0, len(instances) - 1))
    target = instances[index]
    kind = draw(st.sampled_from(["value", "remove", "null", "deep", "type"]))
    if kind == "value":
        key = draw(st.sampled_from(["x_min", "x_max", "y_min", "y_max", "number", "score"]))
        value = draw(BAD_VALUES)
        # null is "absent" for the optional keys (number -> 1, no score): not a mutation there
        target[key] = "x" if value is None and key in ("number", "score") else value
    elif kind == "remove":
        del target[draw(st.sampled_from(["x_min", "x_max", "y_min", "y_max", "type"]))]
    elif kind == "null":
        instances[index] = None
    elif kind == "deep":
        # spliced into the bytes below: json.dumps itself cannot write deep nesting
        target["x_min"] = f"DEEP{draw(st.integers(1, 5000))}"
    else:
        target["type"] = draw(st.sampled_from(["", "Box", 3, None, "geo_point"]))
    return {"media": {"url": "u", "type": "image"}, "instance_list": instances}, index


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutation())
def test_mutations_end_in_problems_with_paths(case):
    packet, index = case
    data = re.sub(
        rb'"DEEP(\d+)"',
        lambda m: b"[" * int(m[1]) + b"0" + b"]" * int(m[1]),
        json.dumps(packet).encode(),
    )
    _, report = run(data, labels=["cat", "dog"])
    assert report.problem_count >= 1
    for problem in report.problems:
        assert isinstance(problem.path, str) and problem.code and problem.message
    paths = [p.path for p in report.problems]
    # either the instance is named, or the packet as a whole could not be read
    assert any(p.startswith(f"instance_list/{index}") for p in paths) or paths == [""]


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data):
    packet, report = decode_packet(data)
    if packet is None:
        assert report.problem_count == 1


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=30,
    )
)
def test_random_json_as_instance_list_never_raises(value):
    data = json.dumps(
        {"media": {"type": "image"}, "instance_list": value, "frame_packet_map": {"0": value}}
    ).encode()
    run(data, labels=["cat"])
