"""Successful imports of every media type the spec lists, with the counts the import reports."""

from __future__ import annotations

from collections import Counter

from ingest_helpers import IMAGE_SIZE, VIDEO, box


def test_image_with_every_planar_type(project, media) -> None:
    pt = lambda x, y: {"x": x, "y": y}  # noqa: E731
    face = {
        "top_left": pt(10, 10),
        "top_right": pt(50, 10),
        "bot_left": pt(10, 50),
        "bot_right": pt(50, 50),
    }
    instances = [
        box("cat", 10.5, 20, 110, 220.25, id="b1", score=0.9),
        {"type": "polygon", "name": "cat", "points": [pt(1, 1), pt(100, 1), pt(50, 80)]},
        {"type": "point", "name": "dog", "points": [pt(639, 479)]},
        {"type": "line", "name": "dog", "points": [pt(0, 0), pt(640, 480)]},
        {
            "type": "ellipse",
            "name": "cat",
            "center_x": 300,
            "center_y": 200,
            "width": 40,
            "height": 20,
            "rotation": 0.5,
        },
        {"type": "curve", "name": "cat", "p1": pt(1, 2), "p2": pt(30, 40), "cp": pt(10, 5)},
        {"type": "cuboid", "name": "dog", "front_face": face, "rear_face": face},
        {
            "type": "keypoints",
            "name": "cat",
            "id": "k1",
            "nodes": [{"id": "a", "x": 5, "y": 5}, {"id": "b", "x": 9, "y": 9, "occluded": True}],
            "edges": [{"from": "a", "to": "b"}],
        },
        {"type": "tag", "name": "dog"},
        {"type": "global"},
        {"type": "relation", "from": "b1", "to": "k1"},
        box("dog", 0, 0, *IMAGE_SIZE, machine_made=False),
    ]
    done = project.run(media.packet("image.png", "image", instance_list=instances))
    assert done["status"] == "success", done
    counts = done["counts"]
    assert counts["instances"] == counts["added"] == 12
    assert counts["instances_per_label"] == {"cat": 5, "dog": 5, "(no label)": 2}
    assert counts["instances_per_type"] == {
        "box": 2,
        "polygon": 1,
        "point": 1,
        "line": 1,
        "ellipse": 1,
        "curve": 1,
        "cuboid": 1,
        "keypoints": 1,
        "tag": 1,
        "global": 1,
        "relation": 1,
    }
    file = project.service.get_file(project.id, done["file_id"])
    assert (file["media_type"], file["width"], file["height"]) == ("image", *IMAGE_SIZE)

    stored = project.instances(done["file_id"])
    assert Counter(i["type"] for i in stored) == counts["instances_per_type"]
    by_external = {i["external_id"]: i for i in stored if i["external_id"]}
    first = by_external["b1"]
    assert (first["x_min"], first["y_min"], first["x_max"], first["y_max"]) == (
        10.5,
        20,
        110,
        220.25,
    )
    assert (first["label_name"], first["score"], first["machine_made"]) == ("cat", 0.9, True)
    assert by_external["k1"]["edges"] == [{"from": "a", "to": "b"}]
    assert by_external["k1"]["nodes"][1]["occluded"] is True
    relation = next(i for i in stored if i["type"] == "relation")
    assert (relation["from"], relation["to"]) == ("b1", "k1")  # geometry keys as sent
    assert [i["machine_made"] for i in stored if i["type"] == "box"].count(False) == 1
    ellipse = next(i for i in stored if i["type"] == "ellipse")
    assert (ellipse["center_x"], ellipse["width"], ellipse["rotation"]) == (300, 40, 0.5)


def test_video_frame_packet_map_and_sequences(project, media) -> None:
    fpm = {
        0: [box("cat", 1, 1, 10, 10, number=1), box("dog", 5, 5, 50, 50, number=1)],
        "4": [box("cat", 2, 2, 12, 12, number=1), box("cat", 20, 20, 40, 40, number=2)],
        9: [box("cat", 3, 3, 13, 13), box("dog", 6, 6, 60, 60, number=7)],
        VIDEO["frames"] - 1: [box("dog", 0, 0, VIDEO["width"], VIDEO["height"], number=7)],
    }
    done = project.run(media.packet("clip.mp4", "video", frame_packet_map=fpm))
    assert done["status"] == "success", done
    counts = done["counts"]
    assert counts["instances"] == counts["added"] == 7
    assert counts["frames_with_instances"] == 4
    assert counts["instances_per_label"] == {"cat": 4, "dog": 3}
    assert counts["instances_per_type"] == {"box": 7}
    # (cat,1) (cat,2) (dog,1) (dog,7): an absent number is sequence 1
    assert counts["sequences_expected"] == counts["sequences_created"] == 4
    assert counts["sequences_extended"] == 0
    assert counts["sequences_expected_per_label"] == {"cat": 2, "dog": 2}

    file = project.service.get_file(project.id, done["file_id"])
    assert (file["frame_count"], file["width"], file["height"]) == (
        VIDEO["frames"],
        VIDEO["width"],
        VIDEO["height"],
    )
    sequences = project.sequences(done["file_id"])
    assert set(sequences) == {("cat", 1), ("cat", 2), ("dog", 1), ("dog", 7)}
    assert sequences[("cat", 1)]["keyframes"] == [0, 4, 9]
    assert sequences[("cat", 1)]["instance_count"] == 3
    assert sequences[("cat", 2)]["keyframes"] == [4]
    last = VIDEO["frames"] - 1
    assert sequences[("dog", 7)]["keyframes"] == [9, last]
    assert (sequences[("dog", 7)]["first_frame"], sequences[("dog", 7)]["last_frame"]) == (9, last)
    stored = project.instances(done["file_id"])
    assert sorted((i["frame"], i["label_name"], i["number"]) for i in stored) == [
        (0, "cat", 1),
        (0, "dog", 1),
        (4, "cat", 1),
        (4, "cat", 2),
        (9, "cat", 1),
        (9, "dog", 7),
        (last, "dog", 7),
    ]
    for inst in stored:
        assert inst["sequence_id"] == sequences[(inst["label_name"], inst["number"])]["id"]


def test_text_inline_with_tokens(project) -> None:
    packet = {
        "text_data": "The quick brown fox jumps. It was fast.",
        "original_filename": "fox.txt",
        "instance_list": [
            {"type": "text_token", "name": "cat", "start_token": 1, "end_token": 3},
            {
                "type": "text_token",
                "name": "dog",
                "start_token": 0,
                "end_token": 0,
                "start_char": 0,
                "end_char": 3,
            },
            {"type": "tag", "name": "dog"},
        ],
    }
    done = project.run(packet)
    assert done["status"] == "success", done
    assert done["counts"]["instances_per_type"] == {"text_token": 2, "tag": 1}
    file = project.service.get_file(project.id, done["file_id"])
    assert (file["media_type"], file["original_filename"]) == ("text", "fox.txt")
    tokens = project.service.get_tokens(project.id, done["file_id"])
    assert file["token_count"] == len(tokens) >= 7
    stored = sorted(
        (i["start_token"], i["end_token"], i["label_name"])
        for i in project.instances(done["file_id"])
        if i["type"] == "text_token"
    )
    assert stored == [(0, 0, "dog"), (1, 3, "cat")]


def test_audio_segments(project, media) -> None:
    segments = [
        {"type": "audio", "name": "cat", "start_time": 0, "end_time": 0.5},
        {"type": "audio", "name": "dog", "start_time": 1.25, "end_time": 2.0},
    ]
    done = project.run(media.packet("tone.wav", "audio", instance_list=segments))
    assert done["status"] == "success", done
    assert done["counts"]["instances_per_label"] == {"cat": 1, "dog": 1}
    file = project.service.get_file(project.id, done["file_id"])
    assert file["media_type"] == "audio" and abs(file["duration"] - 2.0) < 0.01
    stored = sorted((i["start_time"], i["end_time"]) for i in project.instances(done["file_id"]))
    assert stored == [(0, 0.5), (1.25, 2.0)]


def test_point_cloud_cuboids(project, media) -> None:
    cuboid = {
        "type": "cuboid_3d",
        "name": "cat",
        "center_3d": {"x": 0.46, "y": 0.82, "z": 0.61},
        "dimensions_3d": {"width": 0.27, "height": 0.3, "depth": 0.27},
        "rotation_euler_angles": {"x": 0, "y": 0, "z": 1.5},
    }
    done = project.run(media.packet("cloud.pcd", "point_cloud", instance_list=[cuboid]))
    assert done["status"] == "success", done
    assert done["counts"]["instances_per_type"] == {"cuboid_3d": 1}
    assert project.service.get_file(project.id, done["file_id"])["media_type"] == "point_cloud"
    (stored,) = project.instances(done["file_id"])
    assert stored["center_3d"] == cuboid["center_3d"]
    assert stored["dimensions_3d"] == cuboid["dimensions_3d"]


def test_geo_types(project, media) -> None:
    geo = [
        {"type": "geo_point", "name": "cat", "lonlat": [13.4, 52.5]},
        {"type": "geo_circle", "name": "cat", "lonlat": [2.35, 48.85], "radius": 120.5},
        {"type": "geo_polyline", "name": "dog", "coords": [[2.3, 48.8], [2.4, 48.9]]},
        {"type": "geo_polygon", "name": "dog", "coords": [[2.3, 48.8], [2.4, 48.8], [2.4, 48.9]]},
        {"type": "geo_box", "name": "dog", "bounds_lonlat": [[2.3, 48.8], [2.4, 48.9]]},
    ]
    done = project.run(media.packet("places.geojson", "geo", instance_list=geo))
    assert done["status"] == "success", done
    assert done["counts"]["instances_per_type"] == {
        "geo_point": 1,
        "geo_circle": 1,
        "geo_polyline": 1,
        "geo_polygon": 1,
        "geo_box": 1,
    }
    assert project.service.get_file(project.id, done["file_id"])["media_type"] == "geo"
    stored = {i["type"]: i for i in project.instances(done["file_id"])}
    assert stored["geo_circle"]["radius"] == 120.5
    assert stored["geo_box"]["bounds_lonlat"] == [[2.3, 48.8], [2.4, 48.9]]
