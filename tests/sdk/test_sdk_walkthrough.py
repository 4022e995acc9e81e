"""The seed walkthrough through labelport's own SDK, against a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labelport
from labelport.sdk import LabelportHTTPError, PacketRejected
from labelport.service import Service
from server_helpers import ProjectKeys
from walkthrough import mock_box_from_external_format, mock_frame_packet_map


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Any]:
    from media_factory import make_jpeg, make_mp4, serve_directory

    root = tmp_path / "media"
    root.mkdir()
    make_jpeg(root / "cat.jpg", 1024, 1024)
    make_mp4(root / "clip.mp4", frames=30, fps=10, width=1024, height=1024)
    with serve_directory(root) as server:
        yield server


@pytest.fixture
def sdk_role() -> str:
    return "admin"


def test_walkthrough_with_labelport_sdk(project: labelport.Project, media: Any) -> None:
    assert project.label_new("cat")["name"] == "cat"
    project.label_new({"name": "another"})  # the diffgram SDK's dict form works too
    assert project.get_label("cat")["name"] == "cat"
    assert project.get_label("dgo") is None
    assert {label["name"] for label in project.labels()} == {"cat", "another"}

    instance_list = [mock_box_from_external_format(name="cat") for _ in range(3)]
    image = project.file.from_url(
        media.url("cat.jpg"), media_type="image", instance_list=instance_list
    ).wait(timeout=30)
    assert image.status == "success", image.problems
    assert image.counts["instances"] == 3
    assert image.counts["instances_per_label"] == {"cat": 3}

    frame_packet_map = mock_frame_packet_map(number_of_frames=20, number_of_sequences=2)
    video = project.file.from_url(
        media.url("clip.mp4"), media_type="video", frame_packet_map=frame_packet_map
    )
    assert video.id is not None
    video.wait(timeout=30)
    assert video.status == "success", video.problems
    assert video.counts["instances"] == 80
    assert video.counts["frames_with_instances"] == 20
    assert video.counts["sequences_expected"] == 4

    image_file = project.file.get_by_id(image.file_id)
    assert (image_file.media_type, image_file.width) == ("image", 1024)
    assert len(image_file.instances) == 3
    assert all(i["machine_made"] and i["label_name"] == "cat" for i in image_file.instances)
    assert image_file.media()[:2] == b"\xff\xd8"

    video_file = project.file.get_by_id(video.file_id)
    assert video_file.frame_count == 30
    assert len(video_file.instances) == 80
    assert {i["frame"] for i in video_file.instances} == set(range(20))
    assert len(video_file.instances_between(5, 6)) == 8
    sequences = video_file.sequences()
    assert sorted((s["label_name"], s["number"]) for s in sequences) == [
        ("another", 1),
        ("another", 2),
        ("cat", 1),
        ("cat", 2),
    ]
    assert all(s["keyframes"] == list(range(20)) for s in sequences)

    listed = project.imports()
    assert [i.id for i in listed] == [video.id, image.id]
    assert [i.id for i in project.imports(media_type="video")] == [video.id]


def test_bad_packets_raise_one_exception_with_every_problem(
    project: labelport.Project, media: Any
) -> None:
    project.label_new("cat")
    bad = [
        mock_box_from_external_format(name="dgo"),
        {"name": "cat", "type": "box", "x_min": 1, "y_min": 1, "y_max": 9},
    ]
    with pytest.raises(PacketRejected) as caught:
        project.file.from_url(media.url("cat.jpg"), instance_list=bad)
    rejected = caught.value
    assert rejected.status == 422 and rejected.problem_count >= 2
    paths = [p.path for p in rejected.problems]
    assert any(p.startswith("instance_list/0") for p in paths), paths
    assert any(p.startswith("instance_list/1") for p in paths), paths
    assert "dgo" in str(rejected)
    # nothing stored but the record of the refusal (docs/imports.md)
    assert [(i.id, i.status) for i in project.imports()] == [(rejected.import_id, "rejected")]

    dry = project.file.from_url(
        media.url("cat.jpg"),
        instance_list=[mock_box_from_external_format(name="cat")],
        dry_run=True,
    )
    assert dry.status == "dry_run" and dry.wait() is dry
    assert [i.status for i in project.imports()] == ["rejected"]  # the dry run left nothing


def test_update_local_upload_text_directories_attributes(
    project: labelport.Project, media: Any, tmp_path: Path
) -> None:
    from media_factory import make_jpeg

    project.label_new("cat")
    train = project.directory.new("train")
    assert project.directory.get("train").id == train.id
    assert project.directory.get().is_default
    assert {d.nickname for d in project.directory.list()} >= {"train"}

    path = make_jpeg(tmp_path / "local.jpg", 1024, 1024)
    local = project.file.from_local(
        path,
        instance_list=[mock_box_from_external_format(name="cat")],
        directory_id=train.id,
    ).wait(timeout=30)
    assert local.status == "success", local.problems
    assert [f.id for f in project.file.list(directory_id=train.id)] == [local.file_id]

    added = project.file.update(
        local.file_id, instance_list=[mock_box_from_external_format(name="cat")]
    ).wait(timeout=30)
    assert added.status == "success", added.problems
    assert len(project.file.get_by_id(local.file_id).instances) == 2
    replaced = project.file.update(
        local.file_id,
        instance_list=[mock_box_from_external_format(name="cat")],
        mode="update_with_existing",
    ).wait(timeout=30)
    assert replaced.status == "success", replaced.problems
    assert len(project.file.get_by_id(local.file_id).instances) == 1

    text = project.file.from_text_data("Hello big world.", "hello.txt").wait(timeout=30)
    assert text.status == "success", text.problems
    tokens = project.file.get_by_id(text.file_id).tokens()
    assert tokens[0]["text"] == "Hello"

    group = project.new_attribute_group("colour", "select", labels=["cat"], options=["red"])
    assert group["label_ids"] == [project.get_label("cat")["id"]]
    project.add_attribute_option(group["id"], "blue")
    names = {o["name"] for o in project.attribute_groups()[0]["options"]}
    assert names == {"red", "blue"}


def test_other_errors_raise_labelport_http_error(
    served: tuple[str, ProjectKeys, Service],
) -> None:
    base_url, keys, _ = served
    with (
        labelport.Project(keys.string_id, "nobody", "nothing", host=base_url) as p,
        pytest.raises(LabelportHTTPError) as caught,
    ):
        p.labels()
    assert caught.value.status == 401 and caught.value.code == "auth.unauthorized"

    client_id, secret = keys.auth("viewer")
    with labelport.Project(keys.string_id, client_id, secret, host=base_url) as p:
        with pytest.raises(LabelportHTTPError) as caught:
            p.label_new("x")
        assert caught.value.status == 403
        with pytest.raises(LabelportHTTPError) as caught:
            p.file.get_by_id(123456)
        assert caught.value.status == 404 and not isinstance(caught.value, PacketRejected)

    with labelport.Project("x", "a", "b", host="http://127.0.0.1:9") as p:
        with pytest.raises(LabelportHTTPError) as caught:
            p.labels()
        assert caught.value.code == "connection"
