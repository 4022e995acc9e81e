"""A user account's role in a project is enforced on every API route exactly as a key's role.

The table of routes and the role each needs is read off the app: every route of the route table
is called with a viewer, an editor and an admin key, and with accounts that are viewer, editor
and admin members of the project; on every route each account must be allowed or refused (403)
exactly as the key of the same role. An account that is not a member gets 403
`auth.not_a_member` on every route of an existing project, and 404 for a missing project.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.accounts import Accounts
from labelport.api import create_app, route_table
from labelport.service import Service
from server_helpers import ProjectKeys, make_project

PASSWORD = "a long enough password"
ROLES = ("viewer", "editor", "admin")

# Routes with no project to guard.
UNSCOPED = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/healthz"),
    ("GET", "/"),
}


@pytest.fixture
def service(database: Any, tmp_path: Path) -> Iterator[Service]:
    svc = Service.open(data_dir=tmp_path / "data", database_url=database.url, workers=0)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def setup(service: Service) -> tuple[ProjectKeys, ProjectKeys, dict[str, tuple[str, str]]]:
    project = make_project(service, "Guarded")
    other = make_project(service, "Somebody else's")
    service.create_labels(project.id, ["cat"])
    accounts = Accounts(service.store)
    creds = {}
    for role in ROLES:
        email = f"{role}@example.com"
        accounts.create(email, PASSWORD)
        accounts.grant(email, project.string_id, role)
        creds[role] = (email, PASSWORD)
    accounts.create("outsider@example.com", PASSWORD)
    accounts.grant("outsider@example.com", other.string_id, "admin")
    creds["outsider"] = ("outsider@example.com", PASSWORD)
    return project, other, creds


def _path(path: str, psid: str) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: psid if m.group(1) == "project_string_id" else "900000001", path
    )


def _call(client: TestClient, method: str, path: str, psid: str, creds: tuple[str, str]) -> Any:
    body: Any = {} if method in ("POST", "PATCH", "PUT") else None
    if path == "/api/v1/file/view":  # its project travels in the body
        body = {"project_string_id": psid, "file_id": 900000001}
    return client.request(method, _path(path, psid), json=body, auth=creds)


def _decision(response: Any) -> str:
    assert response.status_code not in (401, 429, 500), response.text
    return "refused" if response.status_code == 403 else "allowed"


def test_an_account_role_is_enforced_on_every_route_as_a_key_role(
    service: Service, setup: tuple
) -> None:
    project, _other, accounts = setup
    app = create_app(service)
    routes = [(m, p) for m, p, _ in route_table(app) if (m, p) not in UNSCOPED]
    assert len(routes) > 40
    needs: dict[tuple[str, str], str] = {}
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for method, path in routes:
            by_key = {r: _decision(_call(client, method, path, project.string_id,
                                         project.auth(r))) for r in ROLES}  # fmt: skip
            by_account = {r: _decision(_call(client, method, path, project.string_id,
                                             accounts[r])) for r in ROLES}  # fmt: skip
            assert by_account == by_key, f"{method} {path}: keys {by_key}, accounts {by_account}"
            allowed = [r for r in ROLES if by_key[r] == "allowed"]
            assert allowed, f"{method} {path}: even an admin is refused"
            needs[(method, path)] = allowed[0]
            # Roles nest: whatever a role may do, the roles above it may too.
            assert allowed == list(ROLES[ROLES.index(allowed[0]) :]), (method, path, allowed)
    # The table the comparison above found: each role guards some routes.
    by_role = {r: sorted(p for p, need in needs.items() if need == r) for r in ROLES}
    assert len(by_role["viewer"]) >= 15, by_role
    assert len(by_role["editor"]) >= 10, by_role
    assert ("POST", "/api/v1/projects/{project_string_id}/keys") in by_role["admin"]
    assert ("POST", "/api/v1/projects/{project_string_id}/packets") in by_role["editor"]
    assert ("GET", "/api/v1/projects/{project_string_id}/labels") in by_role["viewer"]


def test_an_account_outside_the_project_is_told_so_on_every_route(
    service: Service, setup: tuple
) -> None:
    project, _other, accounts = setup
    app = create_app(service)
    routes = [(m, p) for m, p, _ in route_table(app) if (m, p) not in UNSCOPED]
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for method, path in routes:
            where = f"{method} {path}"
            refused = _call(client, method, path, project.string_id, accounts["outsider"])
            assert refused.status_code == 403, f"{where}: {refused.text}"
            answer = refused.json()
            # The native routes' error shape, or the diffgram SDK's (code beside its log).
            assert (answer.get("error") or answer)["code"] == "auth.not_a_member", where
            assert "not a member" in refused.text, where
            assert "Guarded" not in refused.text  # the project's name: not shown
            missing = _call(client, method, path, "no-such-project", accounts["outsider"])
            assert missing.status_code == 404, f"{where}: {missing.text}"
            # A key of another project still cannot tell the two apart.
            keyed = _call(client, method, path, project.string_id, _other.auth("admin"))
            assert keyed.status_code == 404, f"{where}: {keyed.text}"


def test_grants_revokes_and_disabling_take_effect_at_once(service: Service, setup: tuple) -> None:
    project, _other, accounts = setup
    app = create_app(service)
    manage = Accounts(service.store)
    labels = project.url("/labels")
    with TestClient(app, raise_server_exceptions=False) as client:
        viewer = accounts["viewer"]
        assert client.get(labels, auth=viewer).status_code == 200
        assert client.post(labels, json={"names": ["dog"]}, auth=viewer).status_code == 403
        manage.grant("viewer@example.com", project.string_id, "editor")
        assert client.post(labels, json={"names": ["dog"]}, auth=viewer).status_code == 201
        assert manage.revoke("viewer@example.com", project.string_id)
        gone = client.get(labels, auth=viewer)
        assert gone.status_code == 403 and gone.json()["error"]["code"] == "auth.not_a_member"
        # Disabled: refused at once, even with its password proven a moment ago (cached).
        assert client.get(labels, auth=accounts["editor"]).status_code == 200
        manage.set_disabled("editor@example.com", True)
        disabled = client.get(labels, auth=accounts["editor"])
        assert disabled.status_code == 401 and "disabled" in disabled.text
        # A new password: the old one, proven and cached a moment ago, stops working at once.
        owner = accounts["admin"]
        assert client.get(labels, auth=owner).status_code == 200
        manage.set_password("admin@example.com", "a brand new password")
        stale = client.get(labels, auth=owner)
        assert stale.status_code == 401 and "password has changed" in stale.text
        owner = ("admin@example.com", "a brand new password")
        assert client.get(labels, auth=owner).status_code == 200
        wrong = client.get(labels, auth=("admin@example.com", "not the password"))
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "auth.unauthorized"
        manage.set_disabled("admin@example.com", True)
        assert client.get(labels, auth=owner).status_code == 401
