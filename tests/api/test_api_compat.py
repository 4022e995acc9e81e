"""The `diffgram` SDK's routes: the shapes it reads, and bad input as a readable 400."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server_helpers import ProjectKeys

WALRUS = "/api/walrus/v1/project/{psid}"
V1 = "/api/v1/project/{psid}"
API = "/api/project/{psid}"


def u(template: str, project: ProjectKeys, path: str) -> str:
    return template.format(psid=project.string_id) + path


def box(name: str = "cat", **over: Any) -> dict[str, Any]:
    return {"type": "box", "name": name, "x_min": 1, "y_min": 1, "x_max": 30, "y_max": 40, **over}


def wait_input(client: TestClient, project: ProjectKeys, input_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = client.post(u(WALRUS, project, f"/input/view/{input_id}"), json={}).json()
        if data["input"]["status"] in ("success", "failed"):
            return data["input"]
        time.sleep(0.05)
    raise AssertionError(f"input {input_id} did not finish")


def test_working_dir_view_has_only_the_directory(client: TestClient, project: ProjectKeys):
    body = client.get(u(API, project, "/user/legacy/working_dir/view")).json()
    assert set(body) == {"working_dir"}
    assert set(body["working_dir"]) == {"directory_id", "id", "nickname"}
    missing = client.get(u(API, project, "/user/legacy/working_dir/view?name=nope"))
    assert missing.status_code == 400
    assert missing.json()["log"]["error"] == "Dataset not found"


def test_labels_routes(client: TestClient, project: ProjectKeys):
    names = client.get(u(V1, project, "/labels/view/name_to_file_id")).json()
    assert names["log"]["success"] is True
    assert set(names["name_to_file_id"]) == {"cat", "another"}

    schemas = client.get(u(V1, project, "/labels-schema")).json()
    assert isinstance(schemas, list) and schemas[0]["is_default"] is True

    made = client.post(
        u(V1, project, "/label/new"), json={"name": "dog", "schema_id": schemas[0]["id"]}
    ).json()
    assert made["log"]["success"] is True
    assert (
        made["label"]["label"]["name"] == "dog"
        and made["label"]["id"] == made["label"]["label"]["id"]
    )

    again = client.post(u(V1, project, "/label/new"), json={"name": "dog"})
    assert again.status_code == 400
    assert again.json()["log"]["success"] is False and again.json()["log"]["error"]

    labels_out = client.get(u(API, project, "/labels")).json()["labels_out"]
    assert {lf["label"]["name"] for lf in labels_out} == {"cat", "another", "dog"}


def test_directories(client: TestClient, project: ProjectKeys):
    made = client.post(u(V1, project, "/directory/new"), json={"nickname": "train"}).json()
    assert made["new_directory"]["nickname"] == "train"
    nicknames = {d["nickname"] for d in made["project"]["directory_list"]}
    assert "train" in nicknames and len(nicknames) == 2
    listed = client.post(u(V1, project, "/directory/list"), json={"limit": 10}).json()
    assert listed["default_directory"]["id"] != made["new_directory"]["id"]
    for d in listed["directory_list"]:
        assert set(d) == {"directory_id", "id", "nickname"}


def test_packet_with_problems_is_a_readable_400(client: TestClient, project: ProjectKeys):
    packet = {
        "media": {"url": "http://127.0.0.1:9/x.jpg", "type": "image"},
        "instance_list": [box(), box("no-such-label"), box(x_max="wide"), None],
    }
    response = client.post(u(WALRUS, project, "/input/packet"), json=packet)
    assert response.status_code == 400
    body = response.json()
    message = body["log"]["error"]
    assert body["problem_count"] >= 3
    assert "no-such-label" in message
    assert "instance_list/2" in message
    assert "instance_list/3" in message
    null_problem = next(p for p in body["problems"] if p["path"].startswith("instance_list/3"))
    assert "name" in null_problem["message"]


def test_non_json_body_is_400(client: TestClient, project: ProjectKeys):
    response = client.post(
        u(WALRUS, project, "/input/packet"),
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["log"]["error"]


def test_from_blob_path_says_it_is_not_supported(client: TestClient, project: ProjectKeys):
    packet = {"media": {"url": None, "type": "image"}, "type": "from_blob_path"}
    response = client.post(u(WALRUS, project, "/input/packet"), json=packet)
    assert response.status_code == 400
    assert "from_url" in response.json()["log"]["error"]


def test_a_packet_asking_for_a_dry_run_is_a_readable_400(client: TestClient, project: ProjectKeys):
    # The Service answers a dry run without an import id: the SDK's input routes have no input
    # to show for it (this was a 500, a KeyError on the answer's id).
    packet = {"media": {"url": None, "type": "text"}, "text_data": "hi", "dry_run": True}
    response = client.post(u(WALRUS, project, "/input/packet"), json=packet)
    assert response.status_code == 400, response.text
    assert "dry_run=true" in response.json()["log"]["error"]
    listed = client.post(u(WALRUS, project, "/input/view/list"), json={}).json()
    assert listed["input_list"] == []


def test_text_packet_in_the_sdk_shape_and_input_views(client: TestClient, project: ProjectKeys):
    # What FileConstructor.from_text_data sends, placeholders and all.
    packet = {
        "media": {"url": None, "type": "text"},
        "frame_packet_map": None,
        "ordinal": 0,
        "text_data": "hello there world",
        "type": "from_text_data",
        "connection_id": None,
        "parent_file_id": None,
        "directory_id": None,
        "original_filename": "hello.txt",
        "bucket_name": None,
        "raw_data_blob_path": None,
        "instance_list": None,
        "job_id": None,
    }
    answer = client.post(u(WALRUS, project, "/input/packet"), json=packet)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["log"]["success"] is True and isinstance(body["input_id"], int)
    done = wait_input(client, project, body["input_id"])
    assert done["status"] == "success", done

    listed = client.post(u(WALRUS, project, "/input/view/list"), json={}).json()["input_list"]
    assert listed[0]["id"] == body["input_id"]
    assert client.post(u(WALRUS, project, "/input/view/999999"), json={}).status_code == 404

    files = client.post(
        u(API, project, "/user/sdk/file/list"),
        json={"metadata": {"file_view_mode": "ids_only", "limit": 10, "page": 1}},
    ).json()
    assert files["file_list"] == [done["file_id"]]
    assert files["metadata"]["next_page"] is None and files["metadata"]["total_pages"] == 1

    exists = client.post(
        u(V1, project, "/file/exists"), json={"file_id_list": [done["file_id"]]}
    ).json()
    assert exists == {"result": {"exists": True, "missing_files": []}}
    view = client.post(
        "/api/v1/file/view",
        json={"file_id": done["file_id"], "project_string_id": project.string_id},
    ).json()
    assert view["file"]["id"] == done["file_id"] and view["file"]["type"] == "text"


def test_from_local_returns_the_file(client: TestClient, project: ProjectKeys, media_dir):
    payload = {"directory_id": None, "instance_list": [box()], "parent_file_id": None}
    with open(media_dir / "cat.jpg", "rb") as fh:
        response = client.post(
            u(WALRUS, project, "/input/from_local"),
            files={
                "file": ("cat.jpg", fh, "application/octet-stream"),
                "json": (None, json.dumps(payload), "application/json"),
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["log"]["success"] is True and isinstance(body["file"]["id"], int)
    annotated = client.post(u(API, project, f"/file/{body['file']['id']}/annotation/list"), json={})
    serialized = annotated.json()["file_serialized"]
    assert serialized["type"] == "image" and serialized["image"]["width"] == 1024
    assert [i["label_file"]["label"]["name"] for i in serialized["instance_list"]] == ["cat"]


def test_attribute_groups_as_the_sdk_makes_them(client: TestClient, project: ProjectKeys):
    schema = client.get(u(V1, project, "/labels-schema")).json()[0]
    group = client.post(u(V1, project, "/attribute/group/new"), json={"schema_id": schema["id"]})
    assert group.status_code == 200, group.text
    group = group.json()["attribute_template_group"]
    labels_out = client.get(u(API, project, "/labels")).json()["labels_out"]
    updated = client.post(
        u(V1, project, "/attribute/group/update"),
        json={
            "group_id": group["id"],
            "mode": "UPDATE",
            "prompt": "Is it fluffy?",
            "name": "fluffy",
            "kind": "radio",
            "is_global": False,
            "label_file_list": labels_out[:1],
            "global_type": "file",
            "is_read_only": False,
        },
    )
    assert updated.status_code == 200, updated.text
    listed = client.post(
        u(V1, project, "/attribute/template/list"),
        json={"schema_id": schema["id"], "mode": "from_project"},
    ).json()["attribute_group_list"]
    assert [(g["name"], g["prompt"], g["kind"]) for g in listed] == [
        ("fluffy", "Is it fluffy?", "radio")
    ]
    assert listed[0]["label_file_list"] == [{"id": labels_out[0]["id"]}]


@pytest.mark.parametrize("role", ["viewer"])
def test_compat_writes_need_an_editor(client: TestClient, project: ProjectKeys, role: str):
    client.auth = project.auth(role)
    response = client.post(u(WALRUS, project, "/input/packet"), json={})
    assert response.status_code == 403
    assert response.json()["log"]["success"] is False


# --- input/packet: spooled, instances decoded once by the Service ------------------------------


class SubmitSpy:
    """Wraps Service.submit_packet: what the route handed over (a file's bytes, or a dict)."""

    def __init__(self, service: Any) -> None:
        self.seen: list[Any] = []
        self._submit = service.submit_packet
        service.submit_packet = self

    def __call__(self, project_id: int, packet: Any, **kwargs: Any) -> Any:
        if hasattr(packet, "read"):
            self.seen.append(packet.read())
            packet.seek(0)
        else:
            self.seen.append(packet)
        return self._submit(project_id, packet, **kwargs)


def sdk_video_packet(url: str, frame_packet_map: dict[str, Any]) -> dict[str, Any]:
    # What FileConstructor.from_url(media_type="video") sends, placeholders and all.
    return {
        "media": {"url": url, "type": "video"},
        "frame_packet_map": frame_packet_map,
        "instance_list": None,
        "type": "from_url",
        "connection_id": None,
        "bucket_name": None,
        "raw_data_blob_path": None,
        "job_id": None,
        "video_split_duration": None,
        "parent_file_id": None,
        "ordinal": 0,
    }


def test_sdk_video_packet_reaches_the_service_as_a_file_with_its_lists_untouched(
    client: TestClient, project: ProjectKeys, service: Any, media_server: Any
):
    made = client.post(u(V1, project, "/directory/new"), json={"nickname": "videos"}).json()
    directory_id = made["new_directory"]["id"]
    frames = {
        "0": [box(number=1), box("another", number=1, x_min=2.5)],
        "7": [box(number=1, y_max=41.25), {"type": "box", "name": "cat", "number": 2,
              "x_min": 3, "y_min": 4, "x_max": 50, "y_max": 60, "id": "ext-1"}],
    }  # fmt: skip
    frames_json = json.dumps(frames, separators=(",", ":")).encode()
    packet = sdk_video_packet(f"{media_server.base_url}/clip.mp4", frames)
    body = json.dumps(packet, separators=(",", ":")).encode()
    spy = SubmitSpy(service)

    answer = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json", "directory_id": str(directory_id)},
    )

    assert answer.status_code == 200, answer.text
    [handed] = spy.seen
    assert isinstance(handed, bytes), "the packet must reach the Service undecoded, as a file"
    # Placeholders and the SDK's ordinal 0 dropped, the header's directory applied, and the
    # frame_packet_map copied byte for byte (not decoded and encoded again).
    assert json.loads(handed) == {
        "media": packet["media"],
        "frame_packet_map": frames,
        "directory_id": directory_id,
    }
    assert frames_json in handed
    done = wait_input(client, project, answer.json()["input_id"])
    assert done["status"] == "success", done
    assert done["counts"]["added"] == 4 and done["directory_id"] == directory_id
    listed = client.post(
        u(API, project, "/user/sdk/file/list"),
        json={"metadata": {"file_view_mode": "ids_only", "directory_id": directory_id}},
    ).json()
    assert listed["file_list"] == [done["file_id"]]
    buffer = client.post(
        u(API, project, f"/video/{done['file_id']}/instance/buffer/start/0/end/10/list"), json={}
    ).json()["instance_buffer_dict"]
    assert sorted(buffer) == ["0", "7"]
    assert {i["external_id"] for i in buffer["7"]} == {None, "ext-1"}
    assert sorted(i["y_max"] for i in buffer["7"]) == [41.25, 60]


def test_packet_without_placeholders_is_the_spooled_body_itself(
    client: TestClient, project: ProjectKeys, service: Any, media_server: Any
):
    body = json.dumps(
        {"media": {"url": f"{media_server.base_url}/cat.jpg", "type": "image"},
         "instance_list": [box(), box("another")], "idempotency_key": "plain-1"}
    ).encode()  # fmt: skip
    spy = SubmitSpy(service)
    answer = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert spy.seen == [body]
    assert wait_input(client, project, answer.json()["input_id"])["status"] == "success"
    again = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert again.json()["input_id"] == answer.json()["input_id"]


def test_number_out_of_range_in_an_instance_is_a_problem_at_its_path(
    client: TestClient, project: ProjectKeys
):
    body = (
        b'{"media": {"url": "http://127.0.0.1:9/x.jpg", "type": "image"}, "type": "from_url",'
        b' "instance_list": [{"type": "box", "name": "cat", "x_min": 1, "y_min": 1,'
        b' "x_max": 1e400, "y_max": 40}]}'
    )
    response = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    paths = [p["path"] for p in response.json()["problems"]]
    assert any(path.startswith("instance_list/0") for path in paths), paths


def test_a_number_beyond_any_float_is_a_400_naming_its_key(
    client: TestClient, project: ProjectKeys
):
    body = b'{"media": {"url": "http://127.0.0.1:9/x.jpg"}, "ordinal": 1e400}'
    response = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert [(p["code"], p["path"]) for p in problems] == [("packet.invalid_value", "ordinal")]
    assert "Infinity" in problems[0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"media": {"url": "http://127.0.0.1:9/x.jpg"}, "instance_list": [{"type": "box",]}',
        b'{"media": {"url": "http://127.0.0.1:9/x.jpg"}} trailing',
    ],
)
def test_malformed_json_anywhere_is_a_400_about_json(
    client: TestClient, project: ProjectKeys, body: bytes
):
    response = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["log"]["error"]


@pytest.mark.parametrize("body", [b"", b"  \n ", b"[1, 2]", b'"a packet"', b"{}"])
def test_empty_or_non_object_bodies_are_a_readable_400(
    client: TestClient, project: ProjectKeys, body: bytes
):
    response = client.post(
        u(WALRUS, project, "/input/packet"),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["log"]["success"] is False
    assert response.json()["log"]["error"]
