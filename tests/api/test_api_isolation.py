"""A key of project A never reaches project B's data, on any route, native or compat.

The routes come from the app's route table. What a native route names of its project is read
off the app's OpenAPI document: path and query parameters by name (`<kind>_id`), and the fields of
its request body that say which of the project's things they name (`"x-id-of"`, set with
`api.models.id_of`). Each is sent with B's id and must be answered exactly as an id that exists
nowhere. A native route whose ids cannot be read fails here by name: a body field that looks
like an id and does not say what it names, a parameter of an unknown name, a body that is
neither JSON nor a form and does not say (`x-isolation`) where its ids are checked. The
`diffgram`-compatible routes take the SDK's bodies, not models: they are classified in COMPAT.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.api import create_app, route_table
from labelport.api.models import MAX_ID, Kind
from labelport.api.native import PACKET_SCHEMA
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

# The compat routes whose ids travel in the body or the query (or whose path has none): the body
# to send with B's ids. A route that takes no id of B at all maps to None: only the path's
# project is checked for it.
BodyFor = Callable[[dict[str, int]], Any]
COMPAT: dict[tuple[str, str], BodyFor | str | None] = {
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

# A path or query parameter `<kind>_id` (a kind of models.Kind) takes B's id of that kind; the
# compat routes' other names, and which of B's ids fills each.
KINDS = typing.get_args(Kind)
PARAM_IDS = {"video_id": "text_id", "input_id": "import_id", "start": None, "end": None}


def _param_id(name: str) -> str | None:
    """The key of B's ids a parameter takes (None: not an id); AssertionError if unknown."""
    if name in PARAM_IDS:
        return PARAM_IDS[name]
    assert name.removesuffix("_id") in KINDS, f"parameter {name!r} is not classified"
    return name


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

# The compat routes that take a packet (native ones are read off their schema).
PACKET_ROUTES = {
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/packet"),
    ("POST", "/api/walrus/v1/project/{project_string_id}/input/from_local"),
}

# A request to send, given the ids to put in it: client.request's keyword arguments.
Case = Callable[[dict[str, int]], dict[str, Any]]
ID_LIKE = re.compile(r"_ids?$")


def _shape(response: Any) -> str:
    return re.sub(r"\d+", "#", response.text)


def _fill(path: str, psid: str, b_ids: dict[str, int]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "project_string_id":
            return psid
        key = _param_id(name)
        return "0" if key is None else str(b_ids[key])

    return re.sub(r"\{(\w+)\}", one, path)


# -- native routes: what they name, read off /openapi.json --------------------------------------


class Schemas:
    """The OpenAPI document's schemas, `$ref` and optional (`anyOf` with null) seen through."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def __call__(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
        if len(options) == 1:
            outer = {k: v for k, v in schema.items() if k != "anyOf"}
            schema = outer | self(options[0])
        return schema


def _slots(
    schema: dict[str, Any], seen: Schemas, where: str, at: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Where a body names one of the project's things (`x-id-of`); an id that does not say
    what it names fails."""
    schema = seen(schema)
    if "x-id-of" in schema:
        return [at]
    if "contentSchema" in schema:  # a form field holding JSON
        return _slots(schema["contentSchema"], seen, where, at)
    if schema.get("type") == "array":
        return _slots(schema.get("items", {}), seen, where, (*at, "[]"))
    found = []
    for name, field in schema.get("properties", {}).items():
        inner = _slots(field, seen, where, (*at, name))
        is_id = ID_LIKE.search(name) or float(seen(field).get("maximum", 0)) == float(MAX_ID)
        assert inner or not is_id, (
            f"{where}: the body's {'.'.join((*at, name))} looks like an id and does not say"
            " what it names: declare it (json_schema_extra=api.models.id_of(kind))"
        )
        found += inner
    return found


def _value(
    schema: dict[str, Any],
    seen: Schemas,
    ids: dict[str, int],
    slot: tuple[str, ...],
    where: str,
    at: tuple[str, ...] = (),
) -> Any:
    """A value for `schema` with the id at `slot` (and any required id) taken from `ids`; other
    required fields get their first example."""
    schema = seen(schema)
    kind = schema.get("x-id-of")
    if kind is not None:
        assert kind in KINDS and f"{kind}_id" in ids, f"{where}: B has no {kind}: make one"
        return str(ids[f"{kind}_id"]) if schema.get("type") == "string" else ids[f"{kind}_id"]
    on_slot = slot[: len(at)] == at
    if schema.get("examples") and not on_slot:
        return schema["examples"][0]
    if "contentSchema" in schema:
        return json.dumps(_value(schema["contentSchema"], seen, ids, slot, where, at))
    if schema.get("type") == "array":
        return [_value(schema.get("items", {}), seen, ids, slot, where, (*at, "[]"))]
    if "properties" in schema:
        required = set(schema.get("required", ()))
        return {
            name: _value(field, seen, ids, slot, where, (*at, name))
            for name, field in schema["properties"].items()
            if name in required or slot[: len(at) + 1] == (*at, name)
        }
    raise AssertionError(
        f"{where}: the body's {'.'.join(at)} is required: give it an example"
        " (Field(examples=[...]))"
    )


def _native_cases(where: str, operation: dict[str, Any], seen: Schemas) -> tuple[list[Case], bool]:
    """The requests that send B's ids where the route names them (none when it names nothing),
    and whether its body is a packet (whose unknown ids are problems of the packet)."""
    query = []
    for param in operation.get("parameters", []):
        name = param["name"]
        if param["in"] == "query" and ID_LIKE.search(name):
            query.append(name)
    has_path_ids = any(
        _param_id(p["name"])
        for p in operation.get("parameters", [])
        if p["in"] == "path" and p["name"] != "project_string_id"
    )
    content = operation.get("requestBody", {}).get("content", {})
    assert len(content) <= 1, f"{where}: more than one kind of body"
    kind, body = next(iter(content.items()), (None, {}))
    schema = seen(body.get("schema", {}))
    packet = schema == PACKET_SCHEMA or any(
        f.get("contentSchema") == PACKET_SCHEMA for f in schema.get("properties", {}).values()
    )
    if kind in ("application/json", "multipart/form-data"):
        slots = _slots(schema, seen, where)
    else:
        assert kind is None or "x-isolation" in schema, (
            f"{where}: its {kind} body is not read here: say in its schema where another"
            " project's ids in it are refused ('x-isolation')"
        )
        slots = []

    def request(slot: tuple[str, ...], params: Callable[[dict[str, int]], dict]) -> Case:
        def make(ids: dict[str, int]) -> dict[str, Any]:
            out: dict[str, Any] = {"params": params(ids)}
            if kind == "application/json":
                out["json"] = _value(schema, seen, ids, slot, where)
            elif kind == "multipart/form-data":
                files, data = {}, {}
                for name, field in schema.get("properties", {}).items():
                    if seen(field).get("contentMediaType") == "application/octet-stream":
                        files[name] = ("x.txt", b"hello", "text/plain")
                    elif name in schema.get("required", ()) or slot[:1] == (name,):
                        data[name] = _value(field, seen, ids, slot, where, (name,))
                out |= {"files": files, "data": data}
            return out

        return make

    def no_query(ids: dict[str, int]) -> dict[str, Any]:
        return {}

    cases = [request(slot, no_query) for slot in slots]
    cases += [request((), lambda ids, name=name: {name: ids[_param_id(name)]}) for name in query]
    if not cases and has_path_ids:
        cases = [request((), no_query)]
    return cases, packet


# -- compat routes: COMPAT ----------------------------------------------------------------------


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
    document = app.openapi()
    seen = Schemas(document)
    routes = [(m, p, native) for m, p, native in route_table(app) if (m, p) not in UNSCOPED]
    assert len(routes) > 40
    checked = {"native": 0, "compat": 0}
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = a.auth("admin")
        for method, path, native in routes:
            where = f"{method} {path}"
            params = set(re.findall(r"\{(\w+)\}", path)) - {"project_string_id"}

            # 1. B's project in the path, with A's key: 404, as for a project that doesn't exist.
            if "{project_string_id}" in path:
                response = _call(client, method, _fill(path, b.string_id, b_ids), None, b_ids, a)
                assert response.status_code == 404, f"{where} with B's project: {response.text}"
                _assert_no_leak(response, where)

            # 2. A's project in the path, B's ids in the path, the query or the body: answered
            # exactly as ids that exist nowhere.
            if native:
                operation = document["paths"][path][method.lower()]
                cases, packet = _native_cases(where, operation, seen)
                for case in cases:
                    target = _fill(path, a.string_id, b_ids)
                    response = client.request(method, target, **case(b_ids))
                    _assert_no_leak(response, where)
                    nowhere = client.request(
                        method, _fill(path, a.string_id, NOWHERE), **case(NOWHERE)
                    )
                    assert (response.status_code, _shape(response)) == (
                        nowhere.status_code,
                        _shape(nowhere),
                    ), f"{where} {case(b_ids)}: B's ids answer differently from missing ids"
                    # A packet naming another project's directory or file is a problem of the
                    # packet; anything else is not found (or not allowed).
                    allowed = (400, 404, 422) if packet else (403, 404)
                    assert response.status_code in allowed, f"{where}: {response.text}"
                checked["native"] += bool(cases)
                continue

            body = COMPAT.get((method, path), "unclassified")
            if not params:
                assert body != "unclassified", f"{where}: add it to COMPAT"
            if not params and body is None:
                continue
            target = _fill(path, a.string_id, b_ids)
            if params:
                body = None
            response = _call(client, method, target, body, b_ids, a)
            _assert_no_leak(response, where)
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
            checked["compat"] += 1
    # As many routes as when every route was classified by hand (22 native, 17 compat).
    assert checked["native"] >= 22 and checked["compat"] >= 17, checked
    assert sum(checked.values()) >= 39

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
