"""Every instance, instance list and frame packet map the seed documents show is accepted."""

from __future__ import annotations

from labelport.format import Box, Polygon, iter_instances
from walkthrough import mock_box_from_external_format, mock_frame_packet_map

from .helpers import image, run, warning_codes

# --- the walkthrough (seeds/000) ------------------------------------------------------------


def video(frame_packet_map):
    return {
        "media": {"url": "https://example.com/v.mp4", "type": "video"},
        "frame_packet_map": frame_packet_map,
    }


def test_walkthrough_image_instance_list():
    instance_list = []
    for _ in range(3):
        instance_list.append(mock_box_from_external_format(name="cat"))
    packet, report = run(image(*instance_list), labels=["cat"])
    assert report.problems == [] and report.warnings == []
    instances = [i for _, _, i in iter_instances(packet)]
    assert all(isinstance(i, Box) and i.number == 1 and i.machine_made for i in instances)
    assert report.counts["per_label"] == {"cat": 3}


def test_walkthrough_frame_packet_map():
    # sic: the seed passes the list ["cat"] as the name
    frame_packet_map = mock_frame_packet_map(number_of_frames=20, names=[["cat"]])
    packet, report = run(video(frame_packet_map), labels=["cat"])
    assert report.problems == []
    # name=["cat"] is taken as "cat", with a warning per instance
    assert {c for c, _ in warning_codes(report)} == {"label.name_list"}
    assert report.counts["frames"] == 20
    assert report.counts["sequences_per_label"] == {"cat": 1}
    assert all(i.name == "cat" for _, _, i in iter_instances(packet))


def test_walkthrough_frame_packet_map_with_string_names_has_no_warning():
    fpm = {i: [mock_box_from_external_format(j, "cat") for j in (1, 2)] for i in range(5)}
    _, report = run(video(fpm), labels=["cat"])
    assert report.problems == [] and report.warnings == []
    assert report.counts["sequences_per_label"] == {"cat": 2}


# --- the format reference (seeds/001) ----------------------------------------------------------

FULL_REFERENCE_INSTANCE = {
    "name": "Dog",
    "number": 54,
    "type": "box",
    "x_max": 500,
    "x_min": 400,
    "y_max": 500,
    "y_min": 400,
    "start_token": 0,
    "end_token": 0,
    "start_sentence": 0,
    "front_face": {
        "width": 0,
        "height": 0,
        "top_left": {"x": 0, "y": 0},
        "top_right": {"x": 0, "y": 0},
        "bot_left": {"x": 0, "y": 0},
        "bot_right": {"x": 0, "y": 0},
    },
    "rear_face": {
        "width": 0,
        "height": 0,
        "top_left": {"x": 0, "y": 0},
        "top_right": {"x": 0, "y": 0},
        "bot_left": {"x": 0, "y": 0},
        "bot_right": {"x": 0, "y": 0},
    },
    "nodes": [{"x": 0, "y": 0, "id": "id_1"}, {"x": 2, "y": 2, "id": "id_2"}],
    "edges": [{"from": "id_1", "to": "id_2"}],
    "center_x": 0,
    "center_y": 0,
    "width": 0,
    "height": 0,
    "rotation": 0,
    "p1": 0,
    "p2": 0,
    "cp": 0,
    "end_sentence": 0,
    "center_3d": {"x": 0.4629900947224047, "y": 0.8248468727434732, "z": 0.6090215354871086},
    "dimensions_3d": {
        "depth": 0.2751620109855608,
        "height": 0.30507509076935757,
        "width": 0.2751620109855608,
    },
    "position_3d": {"x": 0.4629900947224047, "y": 0.8248468727434732, "z": 0.6090215354871086},
    "rotation_euler_angles": {"x": 0, "y": 0, "z": 0},
    "start_char": 0,
    "end_char": 0,
    "model_id": 1,
    "model_ref": "myref",
    "model_run_id": 1,
    "model_run_ref": "myrunref",
    "points": [{"x": 450, "y": 350}, {"x": 250, "y": 350}, {"x": 100, "y": 350}],
}


def test_reference_full_instance_extra_keys_ignored():
    packet, report = run(image(FULL_REFERENCE_INSTANCE), labels=["Dog"])
    assert report.problems == [] and report.warnings == []
    box = packet.instance_list[0]
    assert (box.x_min, box.y_min, box.x_max, box.y_max, box.number) == (400, 400, 500, 500, 54)
    assert box.model_ref == "myref" and box.model_run_ref == "myrunref"


DOG_AIRPLANE = {
    "instance_list": [
        {"name": "Dog", "type": "box", "x_max": 500, "x_min": 400, "y_max": 500, "y_min": 400},
        {
            "name": "Airplane",
            "type": "polygon",
            "points": [{"x": 450, "y": 350}, {"x": 250, "y": 350}, {"x": 100, "y": 350}],
        },
    ]
}


def test_reference_dog_airplane_list():
    packet, report = run(
        {"media": {"url": "u", "type": "image"}, **DOG_AIRPLANE}, labels=["Dog", "Airplane"]
    )
    assert report.problems == []
    # the seed's polygon has its three points on one line: a warning, not a problem
    assert warning_codes(report) == [("polygon.collinear", "instance_list/1/points")]
    assert isinstance(packet.instance_list[1], Polygon)


def _sequence_example(cat_numbers):
    dog_a = {
        "name": "dog",
        "number": 1,
        "type": "box",
        "x_max": 500,
        "x_min": 400,
        "y_max": 500,
        "y_min": 400,
    }
    dog_b = {
        "name": "dog",
        "number": 2,
        "type": "box",
        "x_max": 700,
        "x_min": 485,
        "y_max": 520,
        "y_min": 750,
    }
    cat_c = {
        "name": "cat",
        "number": cat_numbers[0],
        "type": "box",
        "x_max": 500,
        "x_min": 400,
        "y_max": 500,
        "y_min": 400,
    }
    cat_d = {
        "name": "cat",
        "number": cat_numbers[1],
        "type": "box",
        "x_max": 700,
        "x_min": 485,
        "y_max": 520,
        "y_min": 750,
    }
    return [dog_a, dog_b, cat_c, cat_d]


def test_reference_sequences_first_option():
    _, report = run(video({0: _sequence_example((1, 2))}), labels=["dog", "cat"])
    assert report.problems == []
    # y_min 750 > y_max 520 in the seed: swapped and warned
    assert warning_codes(report) == [
        ("box.inverted", "frame_packet_map/0/1/y_min"),
        ("box.inverted", "frame_packet_map/0/3/y_min"),
    ]
    assert report.counts["sequences_per_label"] == {"dog": 2, "cat": 2}


def test_reference_sequences_second_option():
    packet, report = run(video({0: _sequence_example((3, 4))}), labels=["dog", "cat"])
    assert report.problems == []
    assert report.counts["sequences_per_label"] == {"dog": 2, "cat": 2}
    swapped = packet.frame_packet_map[0][1]
    assert (swapped.y_min, swapped.y_max) == (520, 750)


def test_reference_same_sequence_across_frames():
    a = {
        "name": "dog",
        "number": 1,
        "type": "box",
        "x_max": 500,
        "x_min": 400,
        "y_max": 500,
        "y_min": 400,
    }
    b = {
        "name": "dog",
        "number": 1,
        "type": "box",
        "x_max": 700,
        "x_min": 485,
        "y_max": 520,
        "y_min": 750,
    }
    _, report = run(video({0: [a], 1: [b]}), labels=["dog"])
    assert report.problems == []
    assert report.counts["sequences_per_label"] == {"dog": 1}


def _list(box_name, polygon_name):
    return [
        {"name": box_name, "type": "box", "x_max": 500, "x_min": 400, "y_max": 500, "y_min": 400},
        {
            "name": polygon_name,
            "type": "polygon",
            "points": [{"x": 450, "y": 350}, {"x": 250, "y": 350}, {"x": 100, "y": 350}],
        },
    ]


def test_reference_frame_packet_map_a_b_c():
    a, b, c = _list("flower", "cat"), _list("Dog", "car"), _list("pedestrian", "lion")
    fpm = {5: a, 7: a, 86: a, 14: b, 57: b, 345: c}
    names = ["flower", "cat", "Dog", "car", "pedestrian", "lion"]
    packet, report = run(video(fpm), labels=names)
    assert report.problems == []
    assert sorted(packet.frame_packet_map) == [5, 7, 14, 57, 86, 345]
    assert report.counts["frames"] == 6
    assert {c for c, _ in warning_codes(report)} == {"polygon.collinear"}


ATTRIBUTE_EXAMPLE = {
    "type": "box",
    "x_min": 977,
    "y_min": 549,
    "x_max": 1152,
    "y_max": 754,
    "attribute_groups": {
        "2": [
            {
                "display_name": "This is the selected option for the attribute group with ID:2",
                "id": 7,
                "name": 7,
            }
        ],
        "3": {
            "display_name": "This is the selected option for the attribute group with ID:3",
            "id": 9,
            "name": 9,
        },
        "4": "This is the text of the free text question..",
        "5": {"display_name": "This is a radio button", "id": 12, "name": 12},
    },
    "name": "my label",
}


def test_reference_attribute_example():
    from labelport.format import AttributeGroup, AttributeSchema

    schema = AttributeSchema.of(
        [
            AttributeGroup(id=2, kind="multiple_select", options=frozenset({7, 8})),
            AttributeGroup(id=3, kind="select", options=frozenset({9})),
            AttributeGroup(id=4, kind="text"),
            AttributeGroup(id=5, kind="radio", options=frozenset({12})),
        ]
    )
    _, report = run(image(ATTRIBUTE_EXAMPLE), labels=["my label"], attributes=schema)
    assert report.problems == [] and report.warnings == []
    _, report = run(image(ATTRIBUTE_EXAMPLE), labels=["my label"])
    assert report.problems == []
