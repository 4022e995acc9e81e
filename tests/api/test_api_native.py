"""The native API over a real Service: auth and roles, errors' one shape, packets to imports."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from labelport.api import create_app
from server_helpers import ProjectKeys, wait_import


def box(name: str = "cat", **over: Any) -> dict[str, Any]:
    return {
        "type": "box",
        "name": name,
        "x_min": 10,
        "y_min": 20,
        "x_max": 110,
        "y_max": 220,
        **over,
    }


def assert_error_shape(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# --- auth --------------------------------------------------------------------------------------


def test_no_credentials_is_401_with_a_basic_challenge(client: TestClient, project: ProjectKeys):
    client.auth = None
    response = client.get(project.url("/labels"))
    assert_error_shape(response, 401)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_secret_is_401(client: TestClient, project: ProjectKeys):
    client_id, _ = project.auth()
    client.auth = (client_id, "not-the-secret")
    assert_error_shape(client.get(project.url("/labels")), 401)


def test_a_viewer_reads_but_cannot_write(client: TestClient, project: ProjectKeys):
    client.auth = project.auth("viewer")
    assert client.get(project.url("/labels")).status_code == 200
    assert_error_shape(client.post(project.url("/labels"), json={"names": ["dog"]}), 403)
    assert_error_shape(client.post(project.url("/packets"), json={}), 403)


def test_an_editor_imports_but_cannot_create_keys(client: TestClient, project: ProjectKeys):
    client.auth = project.auth("editor")
    assert client.post(project.url("/labels"), json={"names": ["dog"]}).status_code == 201
    assert_error_shape(client.post(project.url("/keys"), json={"role": "viewer"}), 403)


def test_an_admin_creates_keys_that_work(client: TestClient, project: ProjectKeys):
    created = client.post(project.url("/keys"), json={"role": "viewer"})
    assert created.status_code == 201
    key = created.json()
    assert key["role"] == "viewer" and key["client_secret"]
    client.auth = (key["client_id"], key["client_secret"])
    assert client.get(project.url()).json()["string_id"] == project.string_id


def test_successful_auth_is_cached(service: Any, project: ProjectKeys):
    calls = []
    real = service.authenticate

    def counting(client_id: str, client_secret: str) -> Any:
        calls.append(client_id)
        return real(client_id, client_secret)

    service.authenticate = counting
    with TestClient(create_app(service)) as c:
        c.auth = project.auth("viewer")
        for _ in range(20):
            assert c.get(project.url("/labels")).status_code == 200
        assert len(calls) == 1
        # A wrong secret for the same id is never served from the cache.
        c.auth = (project.auth("viewer")[0], "wrong")
        assert c.get(project.url("/labels")).status_code == 401
        assert len(calls) == 2


# --- error shape -------------------------------------------------------------------------------


def test_unknown_ids_are_404_in_the_error_shape(client: TestClient, project: ProjectKeys):
    for path in ("/labels/999999", "/files/999999", "/imports/999999", "/directories/999999"):
        assert_error_shape(client.get(project.url(path)), 404)


def test_bad_query_and_body_are_400_with_problems(client: TestClient, project: ProjectKeys):
    error = assert_error_shape(client.get(project.url("/imports?page=zero")), 400)
    assert error["problems"] and error["problems"][0]["path"].endswith("page")
    assert_error_shape(client.post(project.url("/labels"), json={"names": "cat"}), 400)
    assert_error_shape(
        client.post(
            project.url("/labels"),
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
    )
    # Ids beyond 64 bits are bad input, not a database overflow.
    assert client.get(project.url(f"/files/{2**70}")).status_code == 400


def test_duplicate_label_is_409(client: TestClient, project: ProjectKeys):
    assert_error_shape(client.post(project.url("/labels"), json={"names": ["cat"]}), 409)


def test_unexpected_errors_answer_a_generic_500(service: Any, project: ProjectKeys):
    def broken(project_id: int) -> Any:
        raise RuntimeError("secret internals")

    service.list_labels = broken
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        c.auth = project.auth()
        response = c.get(project.url("/labels"))
    error = assert_error_shape(response, 500, "internal")
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert error["message"]


def test_a_body_over_the_limit_is_413(service: Any, project: ProjectKeys):
    with TestClient(create_app(service, max_body_bytes=1000)) as c:
        c.auth = project.auth()
        big = {"instance_list": [box() for _ in range(50)], "text_data": "x"}
        assert_error_shape(c.post(project.url("/packets"), json=big), 413)


def test_unknown_route_is_404_in_the_error_shape(client: TestClient):
    assert_error_shape(client.get("/api/v1/nothing-here"), 404)


# --- labels, schemas, attributes, directories ------------------------------------------------


def test_labels_schemas_attributes_directories(client: TestClient, project: ProjectKeys):
    labels = client.get(project.url("/labels")).json()
    assert {label["name"] for label in labels} == {"cat", "another"}
    cat = next(label for label in labels if label["name"] == "cat")
    assert client.get(project.url(f"/labels/{cat['id']}")).json()["name"] == "cat"

    schemas = client.get(project.url("/label-schemas")).json()
    assert schemas[0]["is_default"] is True
    made = client.post(project.url("/label-schemas"), json={"name": "second"})
    assert made.status_code == 201 and made.json()["is_default"] is False

    group = client.post(
        project.url("/attribute-groups"),
        json={"name": "colour", "kind": "select", "label_ids": [cat["id"]], "options": ["red"]},
    )
    assert group.status_code == 201, group.text
    group = group.json()
    assert [o["name"] for o in group["options"]] == ["red"]
    option = client.post(
        project.url(f"/attribute-groups/{group['id']}/options"), json={"name": "blue"}
    )
    assert option.status_code == 201 and option.json()["name"] == "blue"
    patched = client.patch(
        project.url(f"/attribute-groups/{group['id']}"), json={"prompt": "Which colour?"}
    )
    assert patched.status_code == 200 and patched.json()["prompt"] == "Which colour?"
    listed = client.get(project.url("/attribute-groups")).json()
    assert {o["name"] for o in listed[0]["options"]} == {"red", "blue"}

    directories = client.get(project.url("/directories")).json()
    assert [d["is_default"] for d in directories] == [True]
    new = client.post(project.url("/directories"), json={"nickname": "train"}).json()
    assert client.get(project.url(f"/directories/{new['id']}")).json()["nickname"] == "train"


# --- packets and imports -----------------------------------------------------------------------


def test_a_packet_with_problems_is_422_with_every_problem_and_stores_nothing(
    client: TestClient, project: ProjectKeys
):
    packet = {
        "text_data": "hello world",
        "original_filename": "a.txt",
        "instance_list": [
            {"type": "box", "name": "cat", "x_min": 1, "y_min": 1, "x_max": 5},
            {"type": "box", "name": "dgo", "x_min": 1, "y_min": 1, "x_max": 5, "y_max": 5},
        ],
    }
    packet_img = {"media": {"url": "http://127.0.0.1:9/a.jpg", "type": "image"}, **packet}
    del packet_img["text_data"]
    response = client.post(project.url("/packets"), json=packet_img)
    error = assert_error_shape(response, 422, "packet.rejected")
    paths = {p["path"] for p in error["problems"]}
    assert error["problem_count"] == len(error["problems"]) >= 2
    assert any(p.startswith("instance_list/0") for p in paths), paths
    assert any(p.startswith("instance_list/1") for p in paths), paths
    # nothing stored but the record of the refusal (docs/imports.md)
    listed = client.get(project.url("/imports")).json()
    assert [(i["id"], i["status"]) for i in listed["items"]] == [(error["import_id"], "rejected")]
    assert client.get(project.url("/files")).json()["total"] == 0


def test_dry_run_checks_and_stores_nothing(client: TestClient, project: ProjectKeys):
    packet = {"text_data": "hello world", "original_filename": "a.txt", "instance_list": []}
    response = client.post(project.url("/packets?dry_run=true"), json=packet)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dry_run"
    assert client.get(project.url("/imports")).json()["total"] == 0
    assert client.get(project.url("/files")).json()["total"] == 0


def test_image_packet_by_url_to_instances(
    client: TestClient, project: ProjectKeys, media_server: Any
):
    packet = {
        "media": {"url": media_server.url("cat.jpg"), "type": "image"},
        "instance_list": [box(), box("another", x_min=300, x_max=400)],
    }
    response = client.post(project.url("/packets"), json=packet)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] in ("queued", "fetching", "processing", "writing", "success")
    done = wait_import(client, project, queued["id"])
    assert done["status"] == "success", done

    f = client.get(project.url(f"/files/{done['file_id']}")).json()
    assert (f["media_type"], f["width"], f["height"]) == ("image", 1024, 1024)
    media = client.get(project.url(f"/files/{f['id']}/media"))
    assert media.status_code == 200 and media.headers["content-type"].startswith("image/jpeg")
    assert media.content[:2] == b"\xff\xd8"

    page = client.get(project.url(f"/files/{f['id']}/instances")).json()
    assert page["total"] == 2
    assert {(i["label_name"], i["x_min"], i["machine_made"]) for i in page["items"]} == {
        ("cat", 10, True),
        ("another", 300, True),
    }

    listing = client.get(project.url("/imports?status=success&media_type=image")).json()
    assert [i["id"] for i in listing["items"]] == [queued["id"]]
    assert client.get(project.url("/imports?status=failed")).json()["total"] == 0
    listed = client.get(project.url("/files")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == f["id"]


def test_same_idempotency_key_returns_the_first_import(client: TestClient, project: ProjectKeys):
    packet = {
        "text_data": "one two three",
        "original_filename": "t.txt",
        "idempotency_key": "abc-1",
        "instance_list": [],
    }
    first = client.post(project.url("/packets"), json=packet).json()
    again = client.post(project.url("/packets"), json=packet).json()
    assert again["id"] == first["id"]
    assert client.get(project.url("/imports")).json()["total"] == 1


def test_upload_multipart_and_text_tokens(client: TestClient, project: ProjectKeys, media_dir):
    with open(media_dir / "cat.jpg", "rb") as fh:
        response = client.post(
            project.url("/files/upload"),
            files={"file": ("cat.jpg", fh, "image/jpeg")},
            data={
                "packet": '{"instance_list": [{"type": "box", "name": "cat", '
                '"x_min": 1, "y_min": 1, "x_max": 50, "y_max": 50}]}'
            },
        )
    assert response.status_code == 202, response.text
    done = wait_import(client, project, response.json()["id"])
    assert done["status"] == "success", done
    assert client.get(project.url(f"/files/{done['file_id']}/instances")).json()["total"] == 1

    text = client.post(
        project.url("/packets"),
        json={"text_data": "Hello big world.", "original_filename": "h.txt", "instance_list": []},
    ).json()
    done = wait_import(client, project, text["id"])
    assert done["status"] == "success", done
    tokens = client.get(project.url(f"/files/{done['file_id']}/tokens")).json()
    assert [t["text"] for t in tokens][:3] == ["Hello", "big", "world"]


def test_video_instances_paging_and_sequences(
    client: TestClient, project: ProjectKeys, media_server: Any
):
    frame_packet_map = {
        str(frame): [box("cat", number=1), box("cat", number=2, x_min=300, x_max=400)]
        for frame in range(10)
    }
    packet = {
        "media": {"url": media_server.url("clip.mp4"), "type": "video"},
        "frame_packet_map": frame_packet_map,
    }
    queued = client.post(project.url("/packets"), json=packet).json()
    done = wait_import(client, project, queued["id"])
    assert done["status"] == "success", done
    fid = done["file_id"]

    everything = client.get(project.url(f"/files/{fid}/instances")).json()
    assert everything["total"] == 20
    window = client.get(project.url(f"/files/{fid}/instances?frame_start=2&frame_end=4")).json()
    assert {i["frame"] for i in window["items"]} == {2, 3, 4} and window["total"] == 6
    page2 = client.get(project.url(f"/files/{fid}/instances?per_page=15&page=2")).json()
    assert len(page2["items"]) == 5 and page2["total"] == 20

    sequences = client.get(project.url(f"/files/{fid}/sequences")).json()
    assert sorted(s["number"] for s in sequences) == [1, 2]
    assert all(s["keyframes"] == list(range(10)) for s in sequences)
