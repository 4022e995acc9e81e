"""The seed walkthrough ("Importing Instances Walkthrough"), run by the unmodified `diffgram` SDK
against `labelport serve`: only host, client_id and client_secret differ from the seed's code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from server_helpers import ServeProcess
from walkthrough import mock_box_from_external_format, mock_frame_packet_map

diffgram = pytest.importorskip("diffgram", reason="the dev extra installs diffgram==0.15.0")


# --- helpers ------------------------------------------------------------------------------------


def wait_inputs(project: Any, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    url = f"{project.host}/api/walrus/v1/project/{project.project_string_id}/input/view/list"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = project.session.post(url, json={"limit": 10})
        project.handle_errors(response)
        inputs = response.json()["input_list"]
        finished = ("success", "failed")
        if len(inputs) >= count and all(i["status"] in finished for i in inputs):
            return inputs
        time.sleep(0.1)
    raise AssertionError(f"imports did not finish: {inputs}")


def post(project: Any, path: str, body: Any = None) -> Any:
    response = project.session.post(project.host + path, json=body or {})
    project.handle_errors(response)
    return response.json()


def get(project: Any, path: str) -> Any:
    response = project.session.get(project.host + path)
    project.handle_errors(response)
    return response.json()


@pytest.fixture
def seed_server(tmp_path: Path, media_server: Any) -> Any:
    with ServeProcess(tmp_path / "data", "--allow-private-urls") as server:
        yield server


def test_the_walkthrough_with_the_diffgram_sdk(seed_server: ServeProcess, media_server: Any):
    server = seed_server
    assert server.base_url.removeprefix("http://") in server.banner

    created = server.cli("project", "create", "Seed walkthrough")
    psid = created["string_id"]
    key = server.cli("key", "create", "--project", psid)
    labels = server.cli("label", "add", "--project", psid, "cat", "another")
    assert [label["name"] for label in labels] == ["cat", "another"]

    project = diffgram.Project(
        project_string_id=psid,
        client_id=key["client_id"],
        client_secret=key["client_secret"],
        debug=True,
        host=server.base_url,
    )
    assert project.directory_id is not None
    assert set(project.name_to_file_id) == {"cat", "another"}

    # 2. Attach data to file at import: the image example ...
    instance_list = [mock_box_from_external_format(name="cat") for _ in range(3)]
    result = project.file.from_url(
        media_server.url("cat.jpg"), media_type="image", instance_list=instance_list
    )
    assert result is True

    # ... and the video example, 2 labels x 2 sequences over 20 frames.
    frame_packet_map = mock_frame_packet_map(number_of_frames=20, number_of_sequences=2)
    for frame_number, instances in frame_packet_map.items():
        for instance in instances:
            # diffgram 0.15.0 refuses video instances without it; the map key is the truth.
            instance["frame_number"] = frame_number
    result = project.file.from_url(
        media_server.url("clip.mp4"), media_type="video", frame_packet_map=frame_packet_map
    )
    assert result is True

    # 3. Verify: the import list, then the instances and sequences.
    inputs = wait_inputs(project, 2)
    assert [i["status"] for i in inputs] == ["success", "success"], inputs
    video_input, image_input = inputs  # newest first
    assert (video_input["media_type"], image_input["media_type"]) == ("video", "image")

    image = project.file.get_by_id(image_input["file_id"], with_instances=True)
    assert image.type == "image"
    assert len(image.instance_list) == 3
    for instance in image.instance_list:
        assert instance["label_file"]["label"]["name"] == "cat"
        assert instance["machine_made"] is True
        assert instance["type"] == "box"

    video_id = video_input["file_id"]
    psid_path = f"/api/project/{psid}"
    buffer = post(project, f"{psid_path}/video/{video_id}/instance/buffer/start/0/end/29/list")
    frames = {int(f): items for f, items in buffer["instance_buffer_dict"].items() if items}
    assert sorted(frames) == list(range(20))
    assert sum(len(items) for items in frames.values()) == 80

    sequences = get(project, f"{psid_path}/video/single/{video_id}/sequence/list")["sequence_list"]
    assert len(sequences) == 4
    assert sorted((s["label"]["name"], s["number"]) for s in sequences) == [
        ("another", 1),
        ("another", 2),
        ("cat", 1),
        ("cat", 2),
    ]
    for s in sequences:
        assert s["keyframe_list"]["frame_number_list"] == list(range(20))

    cat_id = project.name_to_file_id["cat"]
    only_cat = get(project, f"{psid_path}/video/single/{video_id}/label/{cat_id}/sequence/list")
    assert sorted(s["number"] for s in only_cat["sequence_list"]) == [1, 2]

    # Errors reach the SDK's user as readable messages.
    with pytest.raises(Exception, match="not in your project"):
        # The SDK itself catches an unknown name when it knows the project's labels ...
        project.file.from_url(
            media_server.url("cat.jpg"),
            instance_list=[mock_box_from_external_format(name="dgo")],
        )
    packet = {
        "media": {"url": media_server.url("cat.jpg"), "type": "image"},
        "instance_list": [mock_box_from_external_format(name="dgo")],
    }
    with pytest.raises(Exception, match="dgo") as unknown:
        # ... and the server when the SDK does not convert names.
        project.file.from_packet(packet, convert_names_to_label_files=False)
    assert "label" in str(unknown.value)

    malformed = {"name": "cat", "type": "box", "x_min": 10, "y_min": 10, "y_max": 50}
    with pytest.raises(Exception, match="x_max"):
        project.file.from_url(media_server.url("cat.jpg"), instance_list=[malformed])

    # diffgram 0.15.0 turns an instance that has label_file_id into null: say what to do.
    with_id = {**mock_box_from_external_format(name="cat"), "label_file_id": cat_id}
    with pytest.raises(Exception, match="name"):
        project.file.from_url(media_server.url("cat.jpg"), instance_list=[with_id])

    # Nothing of the rejected packets was stored but their records (docs/imports.md): the
    # three refused by the server, each with its problem.
    inputs = wait_inputs(project, 5)
    # Diffgram's clients know no `rejected`: a packet refused when sent is a failed input to them.
    assert [i["status"] for i in inputs] == ["failed"] * 3 + ["success"] * 2
    assert [i["status_text"] for i in inputs[:3]] == ["rejected when sent"] * 3
    assert all(i["file_id"] is None and i["update_log"]["problem_count"] for i in inputs[:3])

    # The SDK's directory and label helpers work too.
    new_dir = project.directory.new(name="second")
    assert new_dir.nickname == "second"
    assert project.directory.get(name="second").id == new_dir.id
    made = project.label_new({"name": "dog"})
    assert made["label"]["name"] == "dog"
    assert "dog" in project.name_to_file_id
