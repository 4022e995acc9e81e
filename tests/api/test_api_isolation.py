"""A key of project A never reaches project B's data, on any route, native or compat.

The routes come from the app's route table, and every route must be classified below, so that a
route added later without an isolation story fails this test instead of escaping it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.api import create_app, route_table
from server_helpers import ProjectKeys, make_project

SECRET_LABEL = "b-secret-label-xyzzy"
SECRET_DIR = "b-secret-directory-plugh"
SECRET_TEXT = "b secret text frobozz"

# Routes without a project or id: nothing of any project to leak.
UNSCOPED = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/healthz"),
    ("GET", "/"),  # a redirect to the pages, which have their own isolation test
}

# Routes whose ids travel in the body (or whose path has none): the body to send with B's ids.
# A route that takes no id of B at all maps to None: only the path's project is checked for it.
BodyFor = Callable[[dict[str, int]], Any]
BODY_IDS: dict[tuple[str, str], BodyFor | None] = {
    ("GET", "/api/v1/projects/{project_string_id}"): None,
    ("POST", "/api/v1/projects/{project_string_id}/keys"): None,
    ("GET", "/api/v1/projects/{project_string_id}/labels"): None,
    ("POST", "/api/v1/projects/{project_string_id}/labels"): lambda b: {
        "names": ["new"],
        "schema_id": b["schema_id"],
    },
    ("GET", "/api/v1/projects/{project_string_id}/label-schemas"): None,
    ("POST", "/api/v1/projects/{project_string_id}/label-schemas"): None,
    ("GET", "/api/v1/projects/{project_string_id}/attribute-groups"): None,
    ("POST", "/api/v1/projects/{project_string_id}/attribute-groups"): lambda b: {
        "name": "g",
        "kind": "select",
        "label_ids": [b["label_id"]],
    },
    ("GET", "/api/v1/projects/{project_string_id}/directories"): None,
    ("POST", "/api/v1/projects/{project_string_id}/directories"): None,
    ("GET", "/api/v1/projects/{project_string_id}/files"): "query:directory_id",
    ("POST", "/api/v1/projects/{project_string_id}/files/upload"): "upload",
    ("POST", "/api/v1/projects/{project_string_id}/packets"): lambda b: {
        "file_id": b["file_id"],
        "mode": "update",
        "instance_list": [{"type": "tag", "name": "cat"}],
    },
    ("GET", "/api/v1/projects/{project_string_id}/imports"): None,
    ("GET", "/api/v1/projects/{project_string_id}/imports/find"): None,
    ("POST", "/api/v1/projects/{project_string_id}/imports/find"): None,
    ("GET", "/api/v1/projects/{project_string_id}/batches"): None,
    # A batch's lines are checked in its job: a line naming B's file fails there, exactly as
    # one naming a file that does not exist (tests/ingest/test_batches.py).
    ("POST", "/api/v1/projects/{project_string_id}/batches"): None,
    ("POST", "/api/v1/projects/{project_string_id}/evaluations"): lambda b: {
        "run": str(b["run_id"])
    },
    ("GET", "/api/v1/projects/{project_string_id}/evaluations"): None,
    # diffgram compat
    ("GET", "/api/project/{project_string_id}/user/legacy/working_dir/view"): "query:name",
    ("POST", "/api/v1/project/{project_string_id}/directory/list"): None,
    ("POST", "/api/v1/project/{project_string_id}/directory/new"): None,
    ("POST", "/api/project/{project_string_id}/user/sdk/file/list"): lambda b: {
        "metadata": {"directory_id": b["directory_id"], "file_view_mode": "base"}
    },
    ("POST", "/api/v1/project/{project_string_id}/file/exists"): lambda b: {
        "file_id_list": [b["file_id"]]
    },
    ("POST", "/api/v1/file/view"): lambda b: {"file_id": b["file_id"]},
    ("GET", "/api/v1/project/{project_string_id}/labels/view/name_to_file_id"): "query:schema_id",
    ("GET", "/api/project/{project_string_id}/labels"): "query:schema_id",
    ("GET", "/api/v1/project/{project_string_id}/labels-schema"): None,
    ("POST", "/api/v1/project/{project_string_id}/labels-schema/new"): None,
    ("POST", "/api/v1/project/{project_string_id}/label/new"): lambda b: {
        "name": "n",
        "schema_id": b["schema_id"],
    },
    ("POST", "/api/v1/project/{project_string_id}/attribute/template/list"): lambda b: {
        "schema_id": b["schema_id"]
    },
    ("POST", "/api/v1/project/{project_string_id}/attribute/group/new"): lambda b: {
        "schema_id": b["schema_id"]
    },
    ("POST", "/api/v1/project/{project_string_id}/attribute/group/update"): lambda b: {
        "group_id": b["group_id"],
        "mode": "UPDATE",
        "prompt": "p",
    },
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/packet"): lambda b: {
        "file_id": b["file_id"],
        "mode": "update",
        "instance_list": [{"type": "tag", "name": "cat"}],
    },
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/from_local"): "upload",
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/view/list"): None,
}

# Bodies for routes whose ids are in the path but which also need a valid body.
PATH_ROUTE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/projects/{project_string_id}/attribute-groups/{group_id}"): {"prompt": "p"},
    ("POST", "/api/v1/projects/{project_string_id}/attribute-groups/{group_id}/options"): {
        "name": "o"
    },
    ("PUT", "/api/v1/projects/{project_string_id}/labels/{label_id}/colour"): {"colour": "#ff8800"},
}

# Path parameters and which of B's ids fills each.
PATH_IDS = {
    "label_id": "label_id",
    "group_id": "group_id",
    "directory_id": "directory_id",
    "file_id": "image_id",
    "video_id": "text_id",
    "import_id": "import_id",
    "input_id": "import_id",
    "batch_id": "batch_id",
    "evaluation_id": "evaluation_id",
    "start": None,
    "end": None,
}


def _finish(service: Any, project_id: int, import_id: int) -> dict[str, Any]:
    done = service.wait_import(project_id, import_id, timeout=30)
    assert done["status"] == "success", done
    return done


@pytest.fixture
def two_projects(service: Any, media_server: Any) -> tuple[ProjectKeys, ProjectKeys, dict]:
    a = make_project(service, "Project A")
    b = make_project(service, "Project B")
    service.create_labels(a.id, ["cat"])
    [label] = service.create_labels(b.id, [SECRET_LABEL])
    directory = service.create_directory(b.id, SECRET_DIR)
    group = service.create_attribute_group(
        b.id, name="b-group", kind="select", label_ids=[label["id"]], options=["b-option"]
    )
    image = service.submit_packet(
        b.id,
        {
            "media": {"url": media_server.url("cat.jpg"), "type": "image"},
            "directory_id": directory["id"],
            "instance_list": [
                {
                    "type": "box",
                    "name": SECRET_LABEL,
                    "x_min": 1,
                    "y_min": 1,
                    "x_max": 9,
                    "y_max": 9,
                },
                # a model run's prediction, so that B has a run and an evaluation of it
                {
                    "type": "box",
                    "name": SECRET_LABEL,
                    "x_min": 1,
                    "y_min": 1,
                    "x_max": 8,
                    "y_max": 8,
                    "model_ref": "m",
                    "model_run_ref": "r",
                    "score": 0.5,
                },
            ],
        },
    )
    text = service.submit_packet(
        b.id, {"text_data": SECRET_TEXT, "original_filename": "b-secret.txt", "instance_list": []}
    )
    image = _finish(service, b.id, image["id"])
    text = _finish(service, b.id, text["id"])
    batch = service.submit_batch(
        b.id, [{"text_data": SECRET_TEXT, "original_filename": "b-secret.txt", "instance_list": []}]
    )
    b_ids = {
        "label_id": label["id"],
        "group_id": group["id"],
        "directory_id": directory["id"],
        "schema_id": service.list_label_schemas(b.id)[0]["id"],
        "image_id": image["file_id"],
        "file_id": image["file_id"],
        "text_id": text["file_id"],
        "import_id": image["id"],
        "batch_id": batch["id"],
        "run_id": service.store.list_model_runs(b.id)[0].id,
    }
    b_ids["evaluation_id"] = service.evaluate(b.id, b_ids["run_id"])["id"]
    return a, b, b_ids


# Ids that exist in no project: what B's ids must be indistinguishable from.
NOWHERE = {
    key: 900_000_000 + n
    for n, key in enumerate(
        ("label_id", "group_id", "directory_id", "schema_id", "image_id", "file_id", "text_id")
    )
} | {"import_id": 900_000_100, "batch_id": 900_000_200, "run_id": 900_000_300}
NOWHERE["evaluation_id"] = 900_000_400

PACKET_ROUTES = {
    ("POST", "/api/v1/projects/{project_string_id}/packets"),
    ("POST", "/api/v1/projects/{project_string_id}/files/upload"),
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/packet"),
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/from_local"),
}


def _shape(response: Any) -> str:
    return re.sub(r"\d+", "#", response.text)


def _fill(path: str, psid: str, b_ids: dict[str, int]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "project_string_id":
            return psid
        assert name in PATH_IDS, f"path parameter {name!r} of {path} is not classified"
        key = PATH_IDS[name]
        return "0" if key is None else str(b_ids[key])

    return re.sub(r"\{(\w+)\}", one, path)


def _call(
    client: TestClient, method: str, path: str, body: Any, b_ids: dict, a: ProjectKeys
) -> Any:
    if body == "upload":
        return client.request(
            method,
            path,
            files={"file": ("x.txt", b"hello", "text/plain")},
            data={
                "packet": f'{{"directory_id": {b_ids["directory_id"]}}}',
                "json": f'{{"directory_id": {b_ids["directory_id"]}}}',
            },
        )
    if isinstance(body, str) and body.startswith("query:"):
        name = body.split(":", 1)[1]
        value = SECRET_DIR if name == "name" else b_ids[name]
        return client.request(method, path, params={name: value})
    if callable(body):
        payload = body(b_ids)
        if path == "/api/v1/file/view":
            payload["project_string_id"] = a.string_id
        return client.request(method, path, json=payload)
    return client.request(method, path, json={} if method in ("POST", "PATCH") else None)


def _assert_no_leak(response: Any, where: str) -> None:
    text = response.text
    for secret in (SECRET_LABEL, SECRET_DIR, SECRET_TEXT, "b-secret.txt", "b-group", "b-option"):
        assert secret not in text, f"{where} leaked {secret!r}: {text[:300]}"


def test_a_key_of_a_never_reaches_b(service: Any, two_projects: tuple) -> None:
    a, b, b_ids = two_projects
    app = create_app(service)
    routes = [(m, p) for m, p, _ in route_table(app) if (m, p) not in UNSCOPED]
    assert len(routes) > 40
    checked = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = a.auth("admin")
        for method, path in routes:
            where = f"{method} {path}"
            params = set(re.findall(r"\{(\w+)\}", path)) - {"project_string_id"}
            body = BODY_IDS.get((method, path), "unclassified")
            if not params:
                assert body != "unclassified", f"{where}: add it to BODY_IDS"

            # 1. B's project in the path, with A's key: 404, as for a project that doesn't exist.
            if "{project_string_id}" in path:
                response = _call(client, method, _fill(path, b.string_id, b_ids), None, b_ids, a)
                assert response.status_code == 404, f"{where} with B's project: {response.text}"
                _assert_no_leak(response, where)

            # 2. A's project in the path, B's ids in the path or the body.
            if not params and body is None:
                continue
            target = _fill(path, a.string_id, b_ids)
            if params:
                body = PATH_ROUTE_BODIES.get((method, path))
                body = (lambda payload: lambda _ids: dict(payload))(body) if body else None
            response = _call(client, method, target, body, b_ids, a)
            _assert_no_leak(response, where)
            # B's ids must be answered exactly as ids that exist nowhere.
            nowhere = _call(client, method, _fill(path, a.string_id, NOWHERE), body, NOWHERE, a)
            assert (response.status_code, _shape(response)) == (
                nowhere.status_code,
                _shape(nowhere),
            ), f"{where}: B's ids answer differently from missing ids"
            if (method, path) == ("POST", "/api/v1/project/{project_string_id}/file/exists"):
                # The diffgram SDK reads this answer: "does not exist" is the truthful 200.
                assert response.json()["result"] == {
                    "exists": False,
                    "missing_files": [b_ids["file_id"]],
                }
            elif path.endswith("/user/legacy/working_dir/view"):
                # Looked up by name within A: B's dataset name is simply not found (SDK: 400).
                assert response.status_code == 400, response.text
            elif (method, path) in PACKET_ROUTES:
                # A packet naming another project's directory or file is a problem of the packet.
                assert response.status_code in (400, 404, 422), f"{where}: {response.text}"
            else:
                assert response.status_code in (403, 404), f"{where}: {response.text}"
            checked += 1
    assert checked >= 25

    # The one route with its project in the body.
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = a.auth("admin")
        response = client.post(
            "/api/v1/file/view",
            json={"file_id": b_ids["file_id"], "project_string_id": b.string_id},
        )
        assert response.status_code == 404
        _assert_no_leak(response, "file/view with B's project")

    # Nothing was written into B by all of this.
    assert len(service.list_labels(b.id)) == 1
    assert service.list_imports(b.id)[1] == 3  # two packets and one batch line
