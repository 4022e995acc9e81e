"""Every native route has its SDK method: the routes are read off the app, the SDK's calls off
its source (`labelport.sdk.project`), so a route added without one fails here by name."""

from __future__ import annotations

import ast
import inspect
import re

import labelport
from labelport.api import create_app, route_table
from labelport.sdk import project as sdk

PREFIX = "/api/v1/projects/{project_string_id}"
# The SDK's ways of calling the server, and the HTTP method of each (`request` names its own).
METHODS = {
    "_get": "GET",
    "_post": "POST",
    "get": "GET",
    "post": "POST",
    "patch": "PATCH",
    "stream_bytes": "GET",
}
# Project's plumbing: they pass on a path they are given.
PLUMBING = {"_path", "_get", "_post"}


def _template(node: ast.expr) -> str | None:
    """The path a call sends to, its values as {} ("/files/{}/tokens"); None if not a literal."""
    is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    if is_call and node.func.attr == "_path" and node.args:
        return _template(node.args[0])
    if isinstance(node, ast.Attribute) and node.attr == "_base":
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _sdk_calls() -> set[tuple[str, str]]:
    """(method, path under the project) of every request the SDK's project module sends."""
    calls = set()
    for fn in ast.walk(ast.parse(inspect.getsource(sdk))):
        if not isinstance(fn, ast.FunctionDef) or fn.name in PLUMBING:
            continue
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver, name = node.func.value, node.func.attr
            to_server = (isinstance(receiver, ast.Name) and receiver.id == "self") or (
                isinstance(receiver, ast.Attribute) and receiver.attr in ("_client", "_project")
            )
            if not to_server or not node.args:
                continue
            if name == "request" and isinstance(node.args[0], ast.Constant):
                method, path = str(node.args[0].value), _template(node.args[1])
            elif name in METHODS:
                method, path = METHODS[name], _template(node.args[0])
            else:
                continue
            assert path is not None, f"{fn.name}: sends to a path this test cannot read"
            calls.add((method, path))
    return calls


def test_every_native_route_has_an_sdk_method() -> None:
    routes = {
        (method, re.sub(r"\{\w+\}", "{}", path.removeprefix(PREFIX)))
        for method, path, in_schema in route_table(create_app(None))
        if in_schema and path.startswith(PREFIX)
    }
    assert len(routes) >= 33
    calls = _sdk_calls()
    assert routes - calls == set(), "native routes without an SDK method (sdk/project.py)"
    assert calls - routes == set(), "SDK calls to routes the app does not have"


def test_a_label_and_a_directory_by_id(project: labelport.Project) -> None:
    [label] = project.labels_new(["cat"])
    assert project.get_label_by_id(label["id"]) == label
    made = project.directory.new("train")
    assert project.directory.get_by_id(made.id) == made
